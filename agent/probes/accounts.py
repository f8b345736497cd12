"""Probe ``accounts``: local users, administrators, password age, guest (A9-T3.5, A9-T2.3).

The readers live in accounts_linux.py (/etc/passwd, /etc/group, `passwd -S -a`, lastlog,
sudoers) and accounts_windows.py (one PowerShell call: Get-LocalUser, Get-LocalGroupMember
-SID S-1-5-32-544, with Win32_UserAccount and ADSI fallbacks). This module holds what both
share: the final assembly (admin flags, counts) and the scan time passwords are aged against.
No password or hash is read into anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from agent.host import HostContext
from agent.probes.base import Collected, Probe
from wire.sections.accounts import AccountCounts, AccountFacts, AdminMember, LocalUser

__all__ = ["PROBE", "age_days", "assemble", "clip", "scan_time"]


def clip(value: object, limit: int = 255) -> str:
    """Text for a bounded wire field: no NUL, trimmed, cut to ``limit``."""
    text = "" if value is None else str(value)
    return text.replace("\x00", "").strip()[:limit]


def age_days(then: datetime | None, now: datetime) -> int | None:
    """Whole days from ``then`` to ``now`` (0 for a date in the future: clocks differ)."""
    if then is None:
        return None
    return max(0, (now - then).days)


def scan_time(ctx: HostContext) -> datetime:
    """Now, or for a replayed bundle the time it was captured (ages are facts of that moment)."""
    manifest = getattr(ctx, "manifest", None)
    if isinstance(manifest, dict):
        try:
            captured = datetime.fromisoformat(str(manifest.get("captured_at", "")))
        except ValueError:
            captured = None
        if captured is not None and captured.tzinfo is not None:
            return captured.astimezone(UTC)
    return datetime.now(UTC)


def assemble(
    users: Iterable[LocalUser],
    admins: Iterable[AdminMember],
    *,
    admin_keys: set[str],
    administrators_group: str = "",
    guest_enabled: bool | None = None,
    sources: Iterable[str] = (),
    notes: Iterable[str] = (),
) -> AccountFacts:
    """AccountFacts with each user's is_admin set (by SID or name in ``admin_keys``) and the counts."""
    marked = [
        user.model_copy(update={"is_admin": bool({user.sid, user.name.lower()} & admin_keys)})
        for user in list(users)[:5000]
    ]
    members = list(admins)[:1000]
    enabled = [u for u in marked if u.enabled]
    counts = AccountCounts(
        users=len(marked),
        enabled=len(enabled),
        human=sum(u.kind == "human" for u in marked),
        human_enabled=sum(u.kind == "human" for u in enabled),
        administrators=len(members),
        password_never_expires=sum(bool(u.password_never_expires) for u in enabled),
        no_password=sum(u.password_status == "none" for u in marked),  # noqa: S105 - a status, not a password
        never_logged_on=sum(bool(u.never_logged_on) for u in enabled),
    )
    return AccountFacts(
        users=marked,
        administrators_group=clip(administrators_group),
        administrators=members,
        guest_enabled=guest_enabled,
        counts=counts,
        sources=[clip(s) for s in sources][:16],
        note=clip("; ".join(n for n in notes if n), 8192),
    )


def _collect_linux(ctx: HostContext) -> Collected:
    from agent.probes.accounts_linux import collect_linux

    return collect_linux(ctx)


def _collect_windows(ctx: HostContext) -> Collected:
    from agent.probes.accounts_windows import collect_windows

    return collect_windows(ctx)


PROBE = Probe(
    section="accounts",
    description="local users, administrators, password age, guest",
    collectors={"linux": _collect_linux, "windows": _collect_windows},
)
