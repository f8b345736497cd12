"""Reading compliance within a principal's scope (issue 5; A9-M3.5, A9-G): overview by unit
and by check, a host's results, a check's failing hosts, a result's history.

Everything counts active hosts of the units the principal sees; a host or check outside
that view answers NotFound exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Host, Unit
from collector.db.models_policy import CheckResult, CheckResultHistory, Finding
from collector.services.auth import Principal
from collector.services.compliance import Catalog, active_catalog
from collector.services.errors import NotFound

__all__ = [
    "CheckRow",
    "HostResult",
    "UnitRow",
    "by_check",
    "by_unit",
    "check_detail",
    "failing_hosts",
    "host_results",
    "result_history",
]

LIVE = ("open", "assigned", "rectified")
STATUSES = ("pass", "fail", "error", "not_applicable")


def _counts() -> dict[str, int]:
    return dict.fromkeys(STATUSES, 0)


def _rate(counts: dict[str, int]) -> float | None:
    judged = counts["pass"] + counts["fail"]
    return round(100.0 * counts["pass"] / judged, 1) if judged else None


def _scope(query: Any, principal: Principal) -> Any:
    if principal.visible_units is not None:
        query = query.where(Host.unit_id.in_(principal.visible_units))
    return query


@dataclass
class UnitRow:
    unit: Unit
    hosts: int = 0
    hosts_failing: int = 0
    counts: dict[str, int] = field(default_factory=_counts)
    live_findings: int = 0
    overdue: int = 0

    @property
    def rate(self) -> float | None:
        return _rate(self.counts)


def by_unit(session: Session, principal: Principal) -> list[UnitRow]:
    """Per visible unit (its own hosts): results by status, hosts with a failure, live/overdue findings."""
    units = session.scalars(select(Unit).order_by(Unit.sort_order, Unit.code)).all()
    rows = {u.id: UnitRow(u) for u in units if principal.can_see_unit(u.id)}
    active = Host.status == "active"
    for unit_id, n in session.execute(
        _scope(select(Host.unit_id, func.count()).where(active).group_by(Host.unit_id), principal)
    ):
        if unit_id in rows:
            rows[unit_id].hosts = n
    checks = set(active_catalog(session).checks)
    results = (
        select(Host.unit_id, CheckResult.status, func.count())
        .join(Host, Host.id == CheckResult.host_id)
        .where(active, CheckResult.check_id.in_(checks))
        .group_by(Host.unit_id, CheckResult.status)
    )
    for unit_id, status, n in session.execute(_scope(results, principal)):
        if unit_id in rows and status in STATUSES:
            rows[unit_id].counts[status] += n
    failing = (
        select(Host.unit_id, func.count(func.distinct(CheckResult.host_id)))
        .join(Host, Host.id == CheckResult.host_id)
        .where(active, CheckResult.status == "fail", CheckResult.check_id.in_(checks))
        .group_by(Host.unit_id)
    )
    for unit_id, n in session.execute(_scope(failing, principal)):
        if unit_id in rows:
            rows[unit_id].hosts_failing = n
    now = utcnow()
    live = select(Finding.unit_id, func.count()).where(Finding.status.in_(LIVE)).group_by(Finding.unit_id)
    overdue = (
        select(Finding.unit_id, func.count())
        .where(Finding.status.in_(("open", "assigned")), Finding.due_at < now)
        .group_by(Finding.unit_id)
    )
    for unit_id, n in session.execute(live):
        if unit_id in rows:
            rows[unit_id].live_findings = n
    for unit_id, n in session.execute(overdue):
        if unit_id in rows:
            rows[unit_id].overdue = n
    return list(rows.values())


@dataclass
class CheckRow:
    id: str
    pack: str
    title_zh: str
    title_en: str
    severity: str
    category: str
    section: str
    requirements: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=_counts)

    @property
    def rate(self) -> float | None:
        return _rate(self.counts)


def _row(catalog: Catalog, check_id: str) -> CheckRow:
    c = catalog.checks[check_id]
    return CheckRow(
        c.id,
        c.pack,
        c.meta.title_zh,
        c.meta.title_en,
        c.meta.severity,
        c.meta.category,
        c.section,
        c.meta.requirements,
    )


def by_check(session: Session, principal: Principal, unit_ids: set[int] | None = None) -> list[CheckRow]:
    """Per active check: results by status on the visible hosts (of ``unit_ids`` when given)."""
    catalog = active_catalog(session)
    rows = {cid: _row(catalog, cid) for cid in catalog.checks}
    query = (
        select(CheckResult.check_id, CheckResult.status, func.count())
        .join(Host, Host.id == CheckResult.host_id)
        .where(Host.status == "active", CheckResult.check_id.in_(list(rows)))
        .group_by(CheckResult.check_id, CheckResult.status)
    )
    if unit_ids is not None:
        query = query.where(Host.unit_id.in_(unit_ids))
    for check_id, status, n in session.execute(_scope(query, principal)):
        if status in STATUSES:
            rows[check_id].counts[status] += n
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    return sorted(rows.values(), key=lambda r: (-r.counts["fail"], order.get(r.severity, 9), r.id))


@dataclass
class HostResult:
    check: CheckRow
    status: str
    since: datetime
    evaluated_at: datetime
    evidence: Any
    finding_id: int | None
    finding_status: str | None


def _visible_host(session: Session, principal: Principal, host_id: int) -> Host:
    host = session.get(Host, host_id)
    if host is None or not principal.can_see_unit(host.unit_id):
        raise NotFound(f"no host {host_id}", "host_not_found")
    return host


def host_results(session: Session, principal: Principal, host_id: int) -> tuple[Host, list[HostResult]]:
    """A host's current results (failures first), each with its live or latest finding."""
    host = _visible_host(session, principal, host_id)
    catalog = active_catalog(session)
    findings: dict[str, Finding] = {}
    for found in session.scalars(select(Finding).where(Finding.host_id == host.id).order_by(Finding.id)):
        findings[found.check_id] = found  # the latest per check
    out = []
    for r in session.scalars(select(CheckResult).where(CheckResult.host_id == host.id)):
        if r.check_id not in catalog.checks:
            continue
        f = findings.get(r.check_id)
        out.append(
            HostResult(
                _row(catalog, r.check_id),
                r.status,
                r.since,
                r.evaluated_at,
                r.evidence,
                f.id if f else None,
                f.status if f else None,
            )
        )
    rank = {"fail": 0, "error": 1, "pass": 2, "not_applicable": 3}
    out.sort(key=lambda x: (rank.get(x.status, 9), x.check.id))
    return host, out


def check_detail(session: Session, check_id: str) -> dict[str, Any]:
    """A check as written (titles, texts, rule in YAML, parameters with defaults) and its pack."""
    catalog = active_catalog(session)
    compiled = catalog.checks.get(check_id)
    if compiled is None:
        raise NotFound(f"no active check {check_id}", "check_not_found")
    check = compiled.check
    pack = catalog.packs[compiled.pack].pack
    used = compiled.rule.params | (compiled.applies.params if compiled.applies else set())

    def dump(value: Any) -> str:
        return str(yaml.safe_dump(value, allow_unicode=True, sort_keys=False, width=100))

    return {
        "id": check.id,
        "pack": pack.pack,
        "pack_version": pack.version,
        "title": check.title.model_dump(),
        "description": check.description.model_dump(),
        "rationale": check.rationale.model_dump(),
        "remediation": check.remediation.model_dump(),
        "severity": check.severity,
        "category": check.category,
        "requirements": list(check.requirements),
        "section": check.section,
        "deadline_days": check.deadline_days,
        "enabled": check.enabled,
        "applies": dump(check.applies.model_dump(mode="json", by_alias=True, exclude_unset=True))
        if check.applies
        else "",
        "rule": dump(check.rule.model_dump(mode="json", by_alias=True, exclude_unset=True)),
        "parameters": {
            name: {"default": p.default, "type": p.type, "description": p.description.model_dump()}
            for name, p in pack.parameters.items()
            if name in used
        },
        "examples": [e.model_dump(mode="json", exclude_defaults=True) for e in check.examples],
    }


def failing_hosts(
    session: Session,
    principal: Principal,
    check_id: str,
    *,
    status: str = "fail",
    limit: int = 200,
    offset: int = 0,
) -> tuple[int, list[tuple[Host, CheckResult]]]:
    """Visible active hosts with the given result of a check, longest-standing first."""
    if check_id not in active_catalog(session).checks:
        raise NotFound(f"no active check {check_id}", "check_not_found")
    query = _scope(
        select(Host, CheckResult)
        .join(CheckResult, CheckResult.host_id == Host.id)
        .where(CheckResult.check_id == check_id, CheckResult.status == status, Host.status == "active"),
        principal,
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(CheckResult.since, Host.hostname).limit(limit).offset(offset)).all()
    return total, [(h, r) for h, r in rows]


def result_history(
    session: Session, principal: Principal, host_id: int, check_id: str, limit: int = 200
) -> list[CheckResultHistory]:
    """Every change of one host × check, newest first."""
    _visible_host(session, principal, host_id)
    return list(
        session.scalars(
            select(CheckResultHistory)
            .where(CheckResultHistory.host_id == host_id, CheckResultHistory.check_id == check_id)
            .order_by(CheckResultHistory.at.desc(), CheckResultHistory.id.desc())
            .limit(limit)
        )
    )
