"""Linux reader of the ``accounts`` section.

Sources, all through HostContext: /etc/passwd, /etc/group, /etc/login.defs (UID_MIN/UID_MAX),
``passwd -S -a`` for the password status (root only; /etc/shadow itself is never read, so no
hash enters the agent or a capture bundle), ``lastlog2`` or ``lastlog`` for the last logon,
/etc/sudoers and its include folders for sudo rights.

Why lastlog and not wtmp: lastlog keeps one record per user for good (it is not rotated),
while wtmp (`last`) is rotated monthly on Debian, so a user missing from it only means "not
this month". Newer systems (Debian 13, util-linux 2.40) replace lastlog with lastlog2
(/var/lib/lastlog/lastlog2.db): it is used when present; it lists only users that logged on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from agent.host import HostContext, ReadError
from agent.probes.accounts import age_days, assemble, clip, scan_time
from agent.probes.base import Collected
from wire import SectionError
from wire.sections.accounts import AdminMember, LocalUser, PasswordStatus

__all__ = [
    "ADMIN_GROUPS",
    "LASTLOG2_DB",
    "PASSWD_STATUS_ARGV",
    "collect_linux",
    "linux_accounts",
    "parse_group",
    "parse_lastlog",
    "parse_login_defs",
    "parse_passwd",
    "parse_passwd_status",
    "parse_sudoers",
    "sudoers_includes",
]

PASSWD_STATUS_ARGV = ["passwd", "-S", "-a"]
LASTLOG2_DB = "/var/lib/lastlog/lastlog2.db"
#: Groups whose members administer the machine on Debian (sudo), RHEL/SUSE (wheel), old Ubuntu (admin).
ADMIN_GROUPS = ("sudo", "wheel", "admin")
_NO_LOGIN_SHELLS = {"nologin", "false", "true", "sync", "shutdown", "halt"}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_LASTLOG_TIME = re.compile(
    r"(?:\*\*Never logged in\*\*|[A-Za-z]{3} ([A-Za-z]{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d) (\d{4}))\s*$"
)
_STATUS = {"P": "set", "PS": "set", "NP": "none", "L": "locked", "LK": "locked"}


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str


@dataclass(frozen=True)
class PasswordState:
    status: PasswordStatus
    last_change: date | None = None
    must_change: bool | None = None
    max_days: int | None = None


@dataclass(frozen=True)
class LastLogon:
    when: datetime | None  # None: never logged in
    where: str = ""


@dataclass
class Grant:
    """A sudoers rule giving ALL commands as root to a principal."""

    principal: str  # user, %group, %#gid, #uid, +netgroup or ALL
    origin: str  # file:line


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Entries of /etc/passwd. Sample line: ``root:x:0:0:root:/root:/bin/bash``."""
    entries = []
    for line in text.splitlines():
        cols = line.split(":")
        if len(cols) != 7 or not cols[0] or cols[0].startswith(("#", "+", "-")):
            continue
        uid, gid = _int(cols[2]), _int(cols[3])
        if uid is None or gid is None or uid < 0 or gid < 0:
            continue
        entries.append(PasswdEntry(cols[0], uid, gid, cols[4], cols[5], cols[6]))
    return entries


def parse_group(text: str) -> dict[str, tuple[int | None, list[str]]]:
    """Groups of /etc/group: name -> (gid, listed members). Sample: ``sudo:x:27:alice,bob``."""
    groups: dict[str, tuple[int | None, list[str]]] = {}
    for line in text.splitlines():
        cols = line.split(":")
        if len(cols) != 4 or not cols[0] or cols[0].startswith(("#", "+", "-")):
            continue
        groups[cols[0]] = (_int(cols[2]), [m.strip() for m in cols[3].split(",") if m.strip()])
    return groups


def parse_login_defs(text: str) -> tuple[int, int]:
    """(UID_MIN, UID_MAX) from /etc/login.defs (defaults 1000, 60000). Sample: ``UID_MIN\\t\\t\\t 1000``."""
    values = {"UID_MIN": 1000, "UID_MAX": 60000}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in values and (number := _int(parts[1])) is not None:
            values[parts[0]] = number
    return values["UID_MIN"], values["UID_MAX"]


def _status_date(text: str) -> date | None:
    try:
        if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
            return date.fromisoformat(text)
        if re.fullmatch(r"\d\d/\d\d/\d{4}", text):  # shadow < 4.13 printed %m/%d/%Y
            return datetime.strptime(text, "%m/%d/%Y").date()
    except ValueError:
        return None
    return None  # "never", "future"


def parse_passwd_status(text: str) -> dict[str, PasswordState]:
    """``passwd -S -a`` lines: name, status (P, NP, L; PS/LK on RHEL), last change, min, max, warn, inactive.

    Sample (Debian 12)::

        root L 2025-05-20 0 99999 7 -1
        alice P 2026-03-02 0 99999 7 -1
    """
    states = {}
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 2 or cols[1] not in _STATUS:
            continue
        last = _status_date(cols[2]) if len(cols) > 2 else None
        max_days = _int(cols[4]) if len(cols) > 4 else None
        must_change = None
        if last == date(1970, 1, 1):  # day 0 in /etc/shadow: change forced at next logon
            last, must_change = None, True
        elif last is not None:
            must_change = False
        states[cols[0]] = PasswordState(_STATUS[cols[1]], last, must_change, max_days)  # type: ignore[arg-type]
    return states


def parse_lastlog(text: str) -> dict[str, LastLogon]:
    """``lastlog`` (shadow) or ``lastlog2`` (util-linux) output: user -> last logon.

    Sample (the date is strftime "%a %b %e %H:%M:%S %z %Y" in the host's time zone)::

        Username         Port     From             Latest
        root             tty1                      Tue Sep  3 08:18:45 +0000 2024
        michael          pts/0    10.10.14.46      Fri Jan 10 21:16:00 +0000 2025
        www-data                                   **Never logged in**
    """
    found = {}
    for line in text.splitlines():
        match = _LASTLOG_TIME.search(line)
        user = line.split(maxsplit=1)[0] if line.strip() else ""
        if not match or not user or user == "Username" or match.start() <= len(user):
            continue
        base = max(16, len(user)) + 1
        port = line[base : base + 8].strip()
        host = line[base + 9 : match.start()].strip()
        if match.group(1) is None:
            found[user] = LastLogon(None)
            continue
        month, day, hh, mm, ss, sign, oh, om, year = match.groups()
        try:
            offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
            when = datetime(
                int(year),
                _MONTHS[month.lower()],
                int(day),
                int(hh),
                int(mm),
                int(ss),
                tzinfo=timezone(offset),
            )
        except (KeyError, ValueError, OverflowError):
            continue
        found[user] = LastLogon(when.astimezone(UTC), clip(host or port))
    return found


def sudoers_includes(text: str) -> tuple[list[str], list[str]]:
    """(files, folders) named by ``@include``/``#include`` and ``@includedir``/``#includedir`` lines."""
    files: list[str] = []
    folders: list[str] = []
    for line in text.splitlines():
        match = re.match(r"\s*[@#](include|includedir)\s+(\S+)", line)
        if match:
            (folders if match.group(1) == "includedir" else files).append(match.group(2))
    return files, folders


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    number, pending = 0, ""
    for index, raw in enumerate(text.splitlines(), 1):
        number = number or index
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        yield number, pending + raw
        number, pending = 0, ""
    if pending:
        yield number, pending


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_sudoers(files: Mapping[str, str]) -> list[Grant]:
    """Rules granting ALL commands as root, from sudoers files (path -> text), in order.

    Sample lines::

        %sudo   ALL=(ALL:ALL) ALL
        User_Alias ADMINS = alice, bob
        ADMINS  ALL=(root) NOPASSWD: ALL
        deploy  ALL=(www-data) ALL          # not root: no grant
    """
    user_alias: dict[str, list[str]] = {}
    cmnd_all: set[str] = set()
    grants: list[Grant] = []
    for path, text in files.items():
        for number, raw in _logical_lines(text):
            line = re.sub(r"(^|\s)#(?!\d).*$", "", raw).strip()  # '#123' is a uid, not a comment
            if not line or line.startswith(("Defaults", "@include", "Host_Alias", "Runas_Alias")):
                continue
            alias = re.match(r"(User_Alias|Cmnd_Alias|Cmd_Alias)\s+(.*)$", line)
            if alias:
                for part in alias.group(2).split(":"):
                    name, _, members = part.partition("=")
                    if alias.group(1) == "User_Alias":
                        user_alias[name.strip()] = _split_list(members)
                    elif "ALL" in _split_list(members):
                        cmnd_all.add(name.strip())
                continue
            left, sep, right = line.partition("=")
            if not sep:
                continue
            # '\ ' escapes a space inside a name (%domain\ admins)
            who = re.sub(r"\s*,\s*", ",", left.strip().replace("\\ ", "\x00")).split()
            who = [w.replace("\x00", " ") for w in who]
            if len(who) < 2:
                continue
            if not _grants_root_all(right, cmnd_all):
                continue
            for principal in _split_list(who[0]):
                for name in user_alias.get(principal, [principal]):
                    if not name.startswith("!"):
                        grants.append(Grant(name, f"{path}:{number}"))
    return grants


def _grants_root_all(spec: str, cmnd_all: set[str]) -> bool:
    for part in re.split(r":\s*[^:=()]*=", spec):  # further "Host = cmnds" parts
        runas = re.search(r"\(([^)]*)\)", part)
        if runas:
            users = runas.group(1).partition(":")[0]
            if users.strip() and not {"ALL", "root", "#0"} & set(_split_list(users)):
                continue
        commands = re.sub(r"\([^)]*\)", "", part)
        commands = re.sub(r"\b[A-Z_]+\s*:", "", commands)  # NOPASSWD:, SETENV: ...
        commands = re.sub(r"\b[A-Z_]+=\S+", "", commands)  # ROLE=, TIMEOUT= ...
        if any(c == "ALL" or c in cmnd_all for c in _split_list(commands)):
            return True
    return False


@dataclass
class _Admins:
    members: dict[str, AdminMember] = field(default_factory=dict)

    def add(
        self, name: str, via: str, uid: int | None = None, kind: str = "user", source: str = "local"
    ) -> None:
        old = self.members.get(name)
        vias = [*(old.via if old else []), clip(via)]
        self.members[name] = AdminMember.model_validate(
            {
                "name": clip(name),
                "uid": uid,
                "kind": kind,
                "source": source,
                "via": list(dict.fromkeys(vias))[:16],
            }
        )


def linux_accounts(
    passwd: list[PasswdEntry],
    groups: Mapping[str, tuple[int | None, list[str]]],
    uid_range: tuple[int, int],
    status: Mapping[str, PasswordState] | None,
    lastlog: Mapping[str, LastLogon] | None,
    grants: Iterable[Grant],
    now: datetime,
    *,
    lastlog_lists_all: bool = True,
) -> tuple[list[LocalUser], list[AdminMember]]:
    """Users and administrators from the parsed sources (None: that source could not be read)."""
    by_name = {p.name: p for p in passwd}
    by_uid = {p.uid: p for p in reversed(passwd)}
    gid_of = {name: gid for name, (gid, _) in groups.items()}

    def members_of(group: str) -> list[str]:
        gid, listed = groups.get(group, (None, []))
        primary = [p.name for p in passwd if gid is not None and p.gid == gid]
        return list(dict.fromkeys([*listed, *primary]))

    admins = _Admins()
    for entry in passwd:
        if entry.uid == 0:
            admins.add(entry.name, "uid 0", 0)
    for group in ADMIN_GROUPS:
        for name in members_of(group):
            admins.add(name, f"group {group}", by_name[name].uid if name in by_name else None)
    for grant in grants:
        target, via = grant.principal, f"sudoers {grant.origin}"
        if target.startswith("%"):
            gid = _int(target[2:]) if target.startswith("%#") else gid_of.get(target[1:])
            local = next((g for g, v in groups.items() if v[0] == gid), None) if gid is not None else None
            if local is None:  # not a local group (LDAP, AD): name the grant itself
                admins.add(target, via, kind="group", source="unknown")
            for name in members_of(local) if local else []:
                admins.add(name, f"{via} ({target})", by_name[name].uid if name in by_name else None)
        elif target.startswith("#") and (uid := _int(target[1:])) is not None:
            entry_or_none = by_uid.get(uid)
            admins.add(entry_or_none.name if entry_or_none else target, via, uid)
        elif target == "ALL":
            admins.add("ALL", via, kind="group")
        else:
            admins.add(target, via, by_name[target].uid if target in by_name else None)

    low, high = uid_range
    users = []
    for entry in passwd:
        if not clip(entry.name, 128):
            continue
        shell = entry.shell.rsplit("/", 1)[-1]
        login_shell = shell not in _NO_LOGIN_SHELLS
        state = status.get(entry.name) if status is not None else None
        seen = lastlog.get(entry.name) if lastlog is not None else None
        if lastlog is not None and seen is None and not lastlog_lists_all:
            seen = LastLogon(None)  # lastlog2 lists only users that ever logged on
        last_set = (
            datetime(*state.last_change.timetuple()[:3], tzinfo=UTC) if state and state.last_change else None
        )
        never_expires = None if state is None else state.max_days is None or not 0 <= state.max_days < 10000
        expires = (
            last_set + timedelta(days=state.max_days)
            if state and last_set and state.max_days is not None and not never_expires
            else None
        )
        users.append(
            LocalUser(
                name=clip(entry.name, 128),
                uid=entry.uid,
                full_name=clip(entry.gecos.split(",")[0]),
                description=clip(entry.gecos, 1024),
                kind="human" if low <= entry.uid <= high and login_shell else "system",
                well_known="root" if entry.uid == 0 else "",
                enabled=None if state is None else state.status != "locked",
                password_status=state.status if state else "unknown",
                password_last_set=last_set,
                password_age_days=age_days(last_set, now),
                password_never_expires=never_expires,
                password_expires=expires,
                must_change_password=state.must_change if state else None,
                last_logon=seen.when if seen else None,
                never_logged_on=None if seen is None else seen.when is None,
                last_logon_from=seen.where if seen else "",
                shell=clip(entry.shell),
                home=clip(entry.home),
            )
        )
    users.sort(key=lambda u: (u.uid if u.uid is not None else -1, u.name))
    return users, list(admins.members.values())


def _read_sudoers(ctx: HostContext, errors: list[SectionError]) -> dict[str, str]:
    files: dict[str, str] = {}
    queue, folders_done = ["/etc/sudoers"], set()
    while queue and len(files) < 200:
        path = queue.pop(0)
        if path in files:
            continue
        try:
            files[path] = ctx.read_text(path)
        except ReadError as exc:
            if path == "/etc/sudoers" and ctx.exists(path):
                errors.append(SectionError(source=path, message=clip(exc.message, 1024)))
            continue
        includes, folders = sudoers_includes(files[path])
        queue += [i if i.startswith("/") else f"/etc/{i}" for i in includes]
        for folder in folders:
            folder = folder if folder.startswith("/") else f"/etc/{folder}"
            if folder not in folders_done:
                folders_done.add(folder)
                # sudo skips names ending in '~' or containing '.'
                queue += [
                    f"{folder}/{n}" for n in ctx.listdir(folder) if "." not in n and not n.endswith("~")
                ]
    return files


def _read_lastlog(
    ctx: HostContext, errors: list[SectionError]
) -> tuple[dict[str, LastLogon] | None, bool, str]:
    use2 = ctx.which("lastlog2") and ctx.exists(LASTLOG2_DB)
    program = "lastlog2" if use2 else "lastlog"
    if not use2 and not ctx.which("lastlog"):
        errors.append(SectionError(source="lastlog", message="neither lastlog nor lastlog2 is installed"))
        return None, True, ""
    try:
        result = ctx.run([program], timeout=30)
    except ReadError as exc:
        errors.append(SectionError(source=program, message=clip(exc.message, 1024)))
        return None, True, ""
    if result.returncode != 0:
        errors.append(SectionError(source=program, message=clip(result.stderr or "failed", 1024)))
        return None, True, ""
    return parse_lastlog(result.stdout), not use2, program


def collect_linux(ctx: HostContext) -> Collected:
    errors: list[SectionError] = []
    notes: list[str] = []
    passwd = parse_passwd(ctx.read_text("/etc/passwd"))
    try:
        groups = parse_group(ctx.read_text("/etc/group"))
    except ReadError as exc:
        groups = {}
        errors.append(SectionError(source="/etc/group", message=clip(exc.message, 1024)))
    uid_range = parse_login_defs(ctx.read_text("/etc/login.defs", default=""))
    sources = ["/etc/passwd", "/etc/group"]
    status: dict[str, PasswordState] | None = None
    try:
        result = ctx.run(PASSWD_STATUS_ARGV, timeout=30)
        if result.returncode == 0:
            status, sources = parse_passwd_status(result.stdout), [*sources, "passwd -S -a"]
        else:
            message = (result.stderr or result.stdout or "failed").strip()
            errors.append(SectionError(source="passwd -S -a", message=clip(message, 1024)))
            notes.append("password status unknown: `passwd -S -a` needs root")
    except ReadError as exc:
        errors.append(SectionError(source="passwd -S -a", message=clip(exc.message, 1024)))
    lastlog, lists_all, program = _read_lastlog(ctx, errors)
    if program:
        sources.append(program)
    sudoers = _read_sudoers(ctx, errors)
    if sudoers:
        sources.append("sudoers")
    elif not ctx.exists("/etc/sudoers"):
        notes.append("no /etc/sudoers (sudo not installed)")
    users, admins = linux_accounts(
        passwd,
        groups,
        uid_range,
        status,
        lastlog,
        parse_sudoers(sudoers),
        scan_time(ctx),
        lastlog_lists_all=lists_all,
    )
    facts = assemble(
        users,
        admins,
        admin_keys={a.name.lower() for a in admins},
        sources=sources,
        notes=[*notes, "Linux has no guest account"],
    )
    return Collected(facts, errors)
