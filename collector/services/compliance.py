"""Evaluation of the active policy packs on hosts (issue 5; A9-T3.4, A9-M3.5, P-16).

When: a report arrives (only the checks of the sections whose content or status changed,
plus the checks of section ``host``; every check when ``os`` changed, since rules may look
at ``@host.os_family``), a pack is applied or a unit's overrides change (those checks on
every host they reach), and periodically for the ``host`` checks (a silent host gets no
report that would trigger them).

Result per host × check: pass / fail / error / not_applicable with the evidence. A
CheckResult row holds the current one and the time its status began ("failing since");
CheckResultHistory gets a row whenever the status or the evidence changes. Every
evaluation is handed to the findings service, which opens, verifies and reopens findings.

Packs: the ones shipped in policies/packs/ are loaded by ``sync_builtin_packs`` (at
``init``, ``policies sync`` and collector start); a city admin may upload a new version
(validated, its examples run, its difference shown) which applies only when confirmed.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from collector.db.base import utcnow
from collector.db.models import Host, HostSection, HostTag, Unit
from collector.db.models_policy import CheckResult, CheckResultHistory, PolicyOverride, PolicyPack
from collector.policy.derived import DERIVED_SECTIONS
from collector.policy.expr import Context
from collector.policy.facts import host_facts
from collector.policy.loader import (
    CompiledCheck,
    CompiledPack,
    PackError,
    default_policies_dir,
    load_dir,
    load_pack_text,
)
from collector.services import audit
from collector.services.auth import Principal, ensure_writer
from collector.services.errors import Forbidden, Invalid, NotFound
from collector.services.org import path_to_root

__all__ = [
    "Catalog",
    "EvalStats",
    "active_catalog",
    "apply_pack",
    "evaluate_all",
    "evaluate_host",
    "evaluate_report",
    "pack_diff",
    "set_overrides",
    "stage_pack",
    "sync_builtin_packs",
    "unit_policy",
]


# -- the active packs, compiled once per process ------------------------------------------------


@dataclass
class Catalog:
    """The active packs, compiled: checks by id and by section."""

    key: tuple[tuple[str, str], ...]
    packs: dict[str, CompiledPack] = field(default_factory=dict)
    checks: dict[str, CompiledCheck] = field(default_factory=dict)
    by_section: dict[str, list[CompiledCheck]] = field(default_factory=dict)


_CACHE: dict[tuple[tuple[str, str], ...], Catalog] = {}
_CACHE_LOCK = threading.Lock()


def active_catalog(session: Session) -> Catalog:
    """The active version of every pack (one small query; compiled packs are cached by hash)."""
    rows = session.execute(
        select(PolicyPack.name, PolicyPack.sha256, PolicyPack.id).where(PolicyPack.status == "active")
    ).all()
    key = tuple(sorted((name, sha) for name, sha, _ in rows))
    with _CACHE_LOCK:
        found = _CACHE.get(key)
    if found is not None:
        return found
    catalog = Catalog(key)
    for _name, _sha, pack_id in rows:
        row = session.get_one(PolicyPack, pack_id)
        try:
            compiled = load_pack_text(row.source, row.name, run_checks_examples=False)
        except PackError:  # validated when it was stored; a newer engine may refuse it: skip, loudly
            continue
        catalog.packs[compiled.name] = compiled
        for check in compiled.checks:
            catalog.checks[check.id] = check
            catalog.by_section.setdefault(check.section, []).append(check)
    with _CACHE_LOCK:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = catalog
    return catalog


# -- unit overrides (enabled, parameters), merged from the root down -----------------------------


class _Policies:
    """Effective policy per unit within one evaluation batch."""

    def __init__(self, session: Session, catalog: Catalog) -> None:
        self.catalog = catalog
        self.parents: dict[int, int | None] = {}
        for uid, pid in session.execute(select(Unit.id, Unit.parent_id)):
            self.parents[uid] = pid
        self.units = {u.id: (u.code, u.kind) for u in session.scalars(select(Unit))}
        self.overrides: dict[int, list[PolicyOverride]] = {}
        for row in session.scalars(select(PolicyOverride)):
            self.overrides.setdefault(row.unit_id, []).append(row)
        self.cache: dict[int, tuple[dict[str, bool], dict[str, dict[str, Any]]]] = {}

    def for_unit(self, unit_id: int) -> tuple[dict[str, bool], dict[str, dict[str, Any]]]:
        found = self.cache.get(unit_id)
        if found is not None:
            return found
        enabled = {cid: c.check.enabled for cid, c in self.catalog.checks.items()}
        params = {name: pack.defaults() for name, pack in self.catalog.packs.items()}
        for step in reversed(path_to_root(self.parents, unit_id)):  # root first
            for row in self.overrides.get(step, []):
                pack = self.catalog.packs.get(row.pack)
                if pack is None:
                    continue
                if row.check_id:
                    if row.check_id in enabled and row.enabled is not None:
                        enabled[row.check_id] = row.enabled
                    continue
                try:
                    params[row.pack].update(pack.checked_params(row.params or {}))
                except ValueError:  # an override the new pack version no longer accepts: defaults
                    continue
        self.cache[unit_id] = (enabled, params)
        return enabled, params


# -- evaluation ---------------------------------------------------------------------------------


@dataclass
class EvalStats:
    hosts: int = 0
    evaluations: int = 0
    changed: int = 0

    def add(self, other: EvalStats) -> None:
        self.hosts += other.hosts
        self.evaluations += other.evaluations
        self.changed += other.changed


def _on_result(
    session: Session, host: Host, check: CompiledCheck, status: str, evidence: list[Any], at: datetime
) -> None:
    from collector.services import findings

    findings.on_result(session, host=host, check=check.meta, status=status, evidence=evidence, at=at)


def _store(
    session: Session,
    host: Host,
    check: CompiledCheck,
    status: str,
    evidence: list[Any],
    now: datetime,
    current: CheckResult | None,
) -> bool:
    changed = current is None or current.status != status or current.evidence != evidence
    if current is None:
        session.add(
            CheckResult(
                host_id=host.id,
                check_id=check.id,
                status=status,
                evidence=evidence,
                since=now,
                evaluated_at=now,
                pack_version=check.pack_version,
            )
        )
    else:
        if current.status != status:
            current.since = now
        current.status = status
        if current.evidence != evidence:
            current.evidence = evidence
        current.evaluated_at = now
        current.pack_version = check.pack_version
    if changed:
        session.add(
            CheckResultHistory(
                host_id=host.id,
                check_id=check.id,
                status=status,
                evidence=evidence,
                at=now,
                pack_version=check.pack_version,
            )
        )
    _on_result(session, host, check, status, evidence, now)
    return changed


def _evaluate_one(
    check: CompiledCheck,
    host: Host,
    sections: Mapping[str, HostSection],
    facts: dict[str, Any],
    ctx: Context,
    derived: Mapping[str, Any] | None = None,
) -> tuple[str, list[Any]]:
    if check.section == "host":
        doc: Any = facts
    elif check.section in DERIVED_SECTIONS:
        doc = (derived or {}).get(check.section)
        if doc is None:
            return "not_applicable", []
    else:
        row = sections.get(check.section)
        if row is None:
            if host.source != "agent":
                return "not_applicable", []
            return "error", [
                {"section": check.section, "problem": "missing", "detail": "the host never reported it"}
            ]
        if row.status == "skipped":
            return "not_applicable", [{"section": check.section, "reason": row.reason}] if row.reason else []
        if row.status != "ok" or row.data is None:
            return "error", [{"section": check.section, "problem": "read_error", "errors": row.errors or []}]
        doc = row.data
    try:
        return check.evaluate(doc, ctx)
    except Exception as exc:  # noqa: BLE001 - a rule must never break ingest; the result says what happened
        return "error", [{"problem": "evaluation_failed", "detail": f"{type(exc).__name__}: {exc}"[:300]}]


def _derived_document(session: Session, name: str, host: Host, now: datetime) -> Any:
    """A section the collector builds itself (collector/policy/derived.py), validated, or None."""
    if name == "vpn_register":
        from collector.services.vpn_register import register_document

        doc = register_document(session, host, now)
        if doc is None:
            return None
        return DERIVED_SECTIONS[name].model_validate(doc).model_dump(mode="json")
    return None


def evaluate_host(
    session: Session,
    host: Host,
    *,
    sections: Iterable[str] | None = None,
    only: set[str] | None = None,
    now: datetime | None = None,
    catalog: Catalog | None = None,
    policies: _Policies | None = None,
) -> EvalStats:
    """Evaluate the checks of ``sections`` (all when None; ``only``: these check ids) on one host."""
    now = now or utcnow()
    catalog = catalog or active_catalog(session)
    policies = policies or _Policies(session, catalog)
    stats = EvalStats(hosts=1)
    if host.status != "active":
        return stats
    if sections is None:
        checks = list(catalog.checks.values())
    else:
        wanted = set(sections) | {"host"}
        checks = [c for name in wanted for c in catalog.by_section.get(name, [])]
    if only is not None:
        checks = [c for c in checks if c.id in only]
    if not checks:
        return stats
    code, kind = policies.units.get(host.unit_id, ("", "office"))
    tags = (
        [t.tag for t in host.tags]
        if "tags" in host.__dict__
        else list(session.scalars(select(HostTag.tag).where(HostTag.host_id == host.id)))
    )
    facts = host_facts(host, code, kind, tags, now)
    needed = {c.section for c in checks} - {"host"}
    rows = (
        {
            row.name: row
            for row in session.scalars(
                select(HostSection).where(HostSection.host_id == host.id, HostSection.name.in_(needed))
            )
        }
        if needed
        else {}
    )
    derived = {name: _derived_document(session, name, host, now) for name in needed & set(DERIVED_SECTIONS)}
    current = {
        r.check_id: r
        for r in session.scalars(
            select(CheckResult).where(
                CheckResult.host_id == host.id, CheckResult.check_id.in_([c.id for c in checks])
            )
        )
    }
    enabled, params = policies.for_unit(host.unit_id)
    for check in checks:
        if not enabled.get(check.id, check.check.enabled):
            existing = current.get(check.id)
            if existing is not None:
                _store(session, host, check, "not_applicable", [{"disabled": True}], now, existing)
            continue
        ctx = Context(host=facts, params=params.get(check.pack, {}), now=now)
        status, evidence = _evaluate_one(check, host, rows, facts, ctx, derived)
        stats.evaluations += 1
        if _store(session, host, check, status, evidence, now, current.get(check.id)):
            stats.changed += 1
    return stats


def evaluate_report(session: Session, host: Host, changed_sections: set[str]) -> EvalStats:
    """After a report: the checks of the changed sections (all when ``os`` changed) and ``host``."""
    sections = None if "os" in changed_sections else set(changed_sections)
    if sections is not None and "vpn" in sections:  # the register follows the vpn section
        sections.add("vpn_register")
    return evaluate_host(session, host, sections=sections)


def evaluate_all(
    session: Session,
    *,
    only: set[str] | None = None,
    sections: Iterable[str] | None = None,
    unit_ids: set[int] | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 200,
) -> EvalStats:
    """Every active host (of ``unit_ids``), flushing every ``batch`` hosts; the caller commits."""
    catalog = active_catalog(session)
    policies = _Policies(session, catalog)
    query = select(Host.id).where(Host.status == "active").order_by(Host.id)
    if unit_ids is not None:
        query = query.where(Host.unit_id.in_(unit_ids))
    ids = list(session.scalars(query))
    stats = EvalStats()
    section_list = list(sections) if sections is not None else None
    for start in range(0, len(ids), batch):
        hosts = session.scalars(
            select(Host).options(selectinload(Host.tags)).where(Host.id.in_(ids[start : start + batch]))
        ).all()
        with session.no_autoflush:  # one flush per batch (multi-row inserts), not one per query
            for host in hosts:
                stats.add(
                    evaluate_host(
                        session,
                        host,
                        sections=section_list,
                        only=only,
                        now=now,
                        catalog=catalog,
                        policies=policies,
                    )
                )
        session.flush()
        if progress:
            progress(min(start + batch, len(ids)), len(ids))
    return stats


def evaluate_silent_hosts(session: Session, now: datetime | None = None) -> EvalStats:
    """The ``host`` checks (silent host) on every host: run periodically."""
    return evaluate_all(session, sections=["host"], now=now)


# -- packs: shipped, uploaded, applied -----------------------------------------------------------


def _supersede(session: Session, name: str, keep_id: int) -> None:
    for row in session.scalars(
        select(PolicyPack).where(PolicyPack.name == name, PolicyPack.status == "active")
    ):
        if row.id != keep_id:
            row.status = "superseded"


def sync_builtin_packs(
    session: Session, directory: Path | None = None, *, evaluate: bool = True
) -> list[str]:
    """Load the packs shipped in policies/: a new version becomes active unless an uploaded
    version of the same pack is newer. Returns one line per pack; re-evaluates what changed."""
    packs, errors = load_dir(directory or default_policies_dir())
    lines = [f"error: {e}" for e in errors]
    changed: set[str] = set()
    for pack in packs:
        row = session.scalar(
            select(PolicyPack).where(PolicyPack.name == pack.name, PolicyPack.version == pack.pack.version)
        )
        active = session.scalar(
            select(PolicyPack).where(PolicyPack.name == pack.name, PolicyPack.status == "active")
        )
        if row is not None:
            if row.sha256 != pack.sha256 and row.origin == "builtin":
                row.source, row.content, row.sha256 = (
                    pack.source,
                    pack.pack.model_dump(mode="json", by_alias=True),
                    pack.sha256,
                )
                lines.append(
                    f"{pack.name} v{pack.pack.version}: updated in place (same version, new content)"
                )
                if row.status == "active":
                    changed.add(pack.name)
            else:
                lines.append(f"{pack.name} v{pack.pack.version}: already loaded")
            continue
        newer_upload = active is not None and active.version > pack.pack.version
        row = PolicyPack(
            name=pack.name,
            version=pack.pack.version,
            sha256=pack.sha256,
            source=pack.source,
            content=pack.pack.model_dump(mode="json", by_alias=True),
            status="superseded" if newer_upload else "active",
            origin="builtin",
            applied_at=None if newer_upload else utcnow(),
        )
        session.add(row)
        session.flush()
        if not newer_upload:
            _supersede(session, pack.name, row.id)
            changed.add(pack.name)
        lines.append(
            f"{pack.name} v{pack.pack.version}: "
            + ("kept the newer uploaded version active" if newer_upload else "loaded and active")
        )
    session.flush()
    if evaluate and changed:
        catalog = active_catalog(session)
        ids = {c.id for name in changed for c in catalog.packs[name].checks} if changed else set()
        stats = evaluate_all(session, only=ids)
        lines.append(f"evaluated {stats.evaluations} host × check results on {stats.hosts} hosts")
    return lines


def _check_dump(check: Any) -> str:
    data = check.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"examples"})
    return str(yaml.safe_dump(data, allow_unicode=True, sort_keys=True, width=100))


def pack_diff(old: CompiledPack | None, new: CompiledPack) -> dict[str, Any]:
    """What changes if ``new`` replaces ``old``: checks added, removed and changed (with a
    unified diff of each changed check), parameters whose default changed, and the source diff."""
    old_checks = {c.id: c.check for c in old.checks} if old else {}
    new_checks = {c.id: c.check for c in new.checks}
    changed = []
    for cid in sorted(set(old_checks) & set(new_checks)):
        before, after = _check_dump(old_checks[cid]), _check_dump(new_checks[cid])
        if before != after:
            changed.append(
                {
                    "id": cid,
                    "diff": "".join(
                        difflib.unified_diff(
                            before.splitlines(keepends=True),
                            after.splitlines(keepends=True),
                            cid + " (active)",
                            cid + " (new)",
                        )
                    ),
                }
            )
    old_params = {k: p.default for k, p in old.pack.parameters.items()} if old else {}
    new_params = {k: p.default for k, p in new.pack.parameters.items()}
    return {
        "pack": new.name,
        "from_version": old.pack.version if old else None,
        "to_version": new.pack.version,
        "added": sorted(set(new_checks) - set(old_checks)),
        "removed": sorted(set(old_checks) - set(new_checks)),
        "changed": changed,
        "parameters": [
            {"name": k, "from": old_params.get(k), "to": new_params.get(k)}
            for k in sorted(set(old_params) | set(new_params))
            if old_params.get(k) != new_params.get(k)
        ],
        "source_diff": "".join(
            difflib.unified_diff(
                (old.source if old else "").splitlines(keepends=True),
                new.source.splitlines(keepends=True),
                "active",
                "new",
            )
        ),
    }


def _ensure_city_admin(principal: Principal) -> None:
    ensure_writer(principal)
    if not principal.city_wide or principal.managed_units is not None:
        raise Forbidden(
            "policy packs apply to the whole city: only a city admin may change them", "city_admin_only"
        )


def stage_pack(
    session: Session, principal: Principal, text: str, ip: str = ""
) -> tuple[PolicyPack, dict[str, Any]]:
    """Validate an uploaded pack (schema, rules, examples) and keep it pending, with its difference."""
    _ensure_city_admin(principal)
    try:
        new = load_pack_text(text)
    except PackError as exc:
        raise Invalid("; ".join(exc.problems[:20]), "invalid_pack") from None
    active = session.scalar(
        select(PolicyPack).where(PolicyPack.name == new.name, PolicyPack.status == "active")
    )
    if active is not None and new.pack.version <= active.version:
        raise Invalid(
            f"pack {new.name} is at version {active.version}; a new version must have a higher number",
            "version_not_newer",
        )
    existing = session.scalar(
        select(PolicyPack).where(PolicyPack.name == new.name, PolicyPack.version == new.pack.version)
    )
    if existing is not None and existing.status != "pending":
        raise Invalid(f"pack {new.name} version {new.pack.version} exists already", "version_exists")
    old = load_pack_text(active.source, active.name, run_checks_examples=False) if active else None
    catalog = active_catalog(session)
    clash = [c.id for c in new.checks if c.id in catalog.checks and catalog.checks[c.id].pack != new.name]
    if clash:
        raise Invalid(f"check ids used by another pack: {', '.join(clash)}", "check_id_clash")
    if existing is None:
        existing = PolicyPack(name=new.name, version=new.pack.version, origin="upload")
        session.add(existing)
    existing.sha256 = new.sha256
    existing.source = new.source
    existing.content = new.pack.model_dump(mode="json", by_alias=True)
    existing.status = "pending"
    existing.uploaded_by_id = principal.user_id
    session.flush()
    audit.record(
        session,
        principal.username,
        "policy.upload",
        f"pack:{new.name}",
        {"version": new.pack.version, "sha256": new.sha256},
        ip,
        principal.user_id,
    )
    return existing, pack_diff(old, new)


def pending_diff(session: Session, row: PolicyPack) -> dict[str, Any]:
    new = load_pack_text(row.source, row.name, run_checks_examples=False)
    active = session.scalar(
        select(PolicyPack).where(PolicyPack.name == row.name, PolicyPack.status == "active")
    )
    old = load_pack_text(active.source, active.name, run_checks_examples=False) if active else None
    return pack_diff(old, new)


def apply_pack(session: Session, principal: Principal, name: str, version: int, ip: str = "") -> EvalStats:
    """Make a pending version active and re-evaluate its checks (and removed ones) everywhere."""
    _ensure_city_admin(principal)
    row = session.scalar(select(PolicyPack).where(PolicyPack.name == name, PolicyPack.version == version))
    if row is None:
        raise NotFound(f"no pack {name} version {version}", "pack_not_found")
    if row.status != "pending":
        raise Invalid(f"pack {name} version {version} is {row.status}, not pending", "not_pending")
    before = active_catalog(session)
    old_ids = {c.id for c in before.packs[name].checks} if name in before.packs else set()
    row.status = "active"
    row.applied_at = utcnow()
    _supersede(session, name, row.id)
    session.flush()
    after = active_catalog(session)
    new_ids = {c.id for c in after.packs[name].checks}
    removed = old_ids - new_ids
    if (
        removed
    ):  # results of checks that no longer exist: gone; their findings: closed by the findings service
        from collector.services import findings

        withdraw = getattr(findings, "withdraw_check", None)
        if withdraw is not None:
            withdraw(session, removed, utcnow())
        session.execute(delete(CheckResult).where(CheckResult.check_id.in_(removed)))
    audit.record(
        session,
        principal.username,
        "policy.apply",
        f"pack:{name}",
        {"version": version},
        ip,
        principal.user_id,
    )
    return evaluate_all(session, only=new_ids)


# -- unit overrides ----------------------------------------------------------------------------


def unit_policy(session: Session, unit_id: int) -> dict[str, Any]:
    """Effective enabled flags and parameters in a unit, and which of them the unit sets itself."""
    catalog = active_catalog(session)
    enabled, params = _Policies(session, catalog).for_unit(unit_id)
    own = list(session.scalars(select(PolicyOverride).where(PolicyOverride.unit_id == unit_id)))
    return {
        "enabled": enabled,
        "params": params,
        "own_checks": {r.check_id: r.enabled for r in own if r.check_id},
        "own_params": {r.pack: r.params for r in own if not r.check_id},
    }


def set_overrides(
    session: Session,
    principal: Principal,
    unit: Unit,
    *,
    checks: Mapping[str, bool | None],
    params: Mapping[str, Mapping[str, Any] | None],
    ip: str = "",
) -> EvalStats:
    """Change a unit's overrides (None removes one); re-evaluates the hosts of its subtree."""
    ensure_writer(principal)
    if not principal.can_manage_unit(unit.id):
        raise NotFound(f"no unit {unit.code}", "unit_not_found")
    catalog = active_catalog(session)
    for check_id in checks:
        if check_id not in catalog.checks:
            raise Invalid(f"no active check {check_id}", "unknown_check")
    for pack_name, values in params.items():
        pack = catalog.packs.get(pack_name)
        if pack is None:
            raise Invalid(f"no active pack {pack_name}", "unknown_pack")
        if values is not None:
            try:
                pack.checked_params(values)
            except ValueError as exc:
                raise Invalid(str(exc), "invalid_parameter") from None

    def row_for(pack: str, check_id: str) -> PolicyOverride:
        row = session.scalar(
            select(PolicyOverride).where(
                PolicyOverride.unit_id == unit.id,
                PolicyOverride.pack == pack,
                PolicyOverride.check_id == check_id,
            )
        )
        if row is None:
            row = PolicyOverride(unit_id=unit.id, pack=pack, check_id=check_id, params={})
            session.add(row)
        row.updated_by_id = principal.user_id
        row.updated_at = utcnow()
        return row

    touched: set[str] = set()
    for check_id, value in checks.items():
        owner = catalog.checks[check_id].pack
        if value is None:
            session.execute(
                delete(PolicyOverride).where(
                    PolicyOverride.unit_id == unit.id,
                    PolicyOverride.pack == owner,
                    PolicyOverride.check_id == check_id,
                )
            )
        else:
            row_for(owner, check_id).enabled = value
        touched.add(check_id)
    for pack_name, values in params.items():
        if values is None:
            session.execute(
                delete(PolicyOverride).where(
                    PolicyOverride.unit_id == unit.id,
                    PolicyOverride.pack == pack_name,
                    PolicyOverride.check_id == "",
                )
            )
        else:
            row_for(pack_name, "").params = dict(values)
        touched |= {c.id for c in catalog.packs[pack_name].checks}
    session.flush()
    audit.record(
        session,
        principal.username,
        "policy.overrides",
        f"unit:{unit.code}",
        {"checks": dict(checks), "params": dict(params)},
        ip,
        principal.user_id,
    )
    from collector.services.org import subtree_ids

    return evaluate_all(session, only=touched, unit_ids=subtree_ids(session, [unit.id]))
