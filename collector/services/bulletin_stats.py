"""The figures of a bulletin (通报; issue 5, A9-M3.5, P-16), computed from the findings tables
(Finding, FindingEvent) and the asset register (Host) for one unit's subtree and one period.

Definitions (period [S, E), instants of the Asia/Shanghai calendar, E = now while the period
runs; docs/bulletins.md):
- *new*: opened in [S, E);
- *rectified*: became verified or closed in [S, E) (a finding already verified before S and
  closed in the period is not counted again);
- *open* (still open): at E its status is open, assigned or rectified (claimed, not verified);
- *overdue*: open or assigned at E with the deadline then in force before E (a claimed
  rectification awaiting verification is not overdue, as in the findings area);
- *exempted*: exempted at E; *reopened*: back to open in [S, E) after being done or exempted.

The status of a finding at an instant comes from its history: its FindingEvents (each carries
the status it left the finding in), the time stamps of the row (opened, rectified, verified,
closed) and its current status as of its last update; at one instant an event wins over a time
stamp. A reopened finding keeps its first opening (its "opened" event); the deadline in force
at E is the one set when the cycle containing E began (first opening, reopening or end of an
exemption), as long as the current one. Findings count for their current unit.
Hosts: the register at E (enrolled before E, not merged, not retired by E); covered by the
agent when their source is ``agent``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from collector.db.models import Host, Unit
from collector.db.models_policy import Finding, FindingEvent
from collector.services.bulletin_config import ScoreConfig
from collector.services.bulletin_data import (
    CATEGORY_LABELS,
    SEVERITY_LABELS,
    BulletinData,
    CategoryRow,
    OverdueRow,
    PeriodOut,
    RankRow,
    SeverityRow,
    Totals,
    UnitRef,
    UnitRow,
)
from collector.services.bulletin_periods import ZONE, Period, local_today
from collector.services.bulletin_score import rank_bureaus

__all__ = ["BUREAU_KINDS", "OVERDUE_LIMIT", "compute", "status_timeline"]

BUREAU_KINDS = ("district", "county")
OPEN_STATUSES = frozenset({"open", "assigned", "rectified"})
#: Statuses in which a passed deadline makes a finding overdue (as in collector/services/findings.py:
#: a claimed rectification awaiting verification is not overdue).
WORKING_STATUSES = frozenset({"open", "assigned"})
DONE_STATUSES = frozenset({"verified", "closed"})
OVERDUE_LIMIT = 30
_METRICS = ("new", "rectified", "open", "overdue", "exempted", "reopened")
_R = TypeVar("_R", CategoryRow, SeverityRow)


@dataclass
class _Finding:
    id: int
    unit_id: int
    host_id: int | None
    severity: str
    category: str
    status: str
    opened_at: datetime
    due_at: datetime
    rectified_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    title_zh: str
    title_en: str
    events: list[tuple[datetime, int, str]] = field(default_factory=list)

    @property
    def first_opened(self) -> datetime:
        """When it was first opened (a reopened finding's ``opened_at`` is its reopening)."""
        return min([self.opened_at, *(at for at, _rank, _status in self.events)])


def status_timeline(f: _Finding) -> list[tuple[datetime, int, str]]:
    """Every known (time, rank, status) point of the finding, in order: its events, the time
    stamps of the row and its current status as of its last update. At one instant the current
    status (rank 0) yields to a time stamp (1), which yields to an event (2)."""
    first = f.first_opened
    points = [(first, 1, "open"), (f.opened_at, 1, "open"), (f.updated_at, 0, f.status)]
    for stamp, status in (
        (f.rectified_at, "rectified"),
        (f.verified_at, "verified"),
        (f.closed_at, "closed"),
    ):
        if stamp is not None:
            points.append((stamp, 1, status))
    points.extend(f.events)
    return sorted(p for p in points if p[0] >= first)


def _cycle_starts(points: list[tuple[datetime, int, str]]) -> list[datetime]:
    """When the finding (re)entered the open statuses: its first opening, each reopening and each
    expired exemption. Each start sets a new deadline."""
    starts: list[datetime] = []
    status = ""
    for at, _rank, new_status in points:
        if new_status in OPEN_STATUSES and status not in OPEN_STATUSES:
            starts.append(at)
        status = new_status
    return starts


def _classify(f: _Finding, start: datetime, end: datetime) -> set[str]:
    """Which of the metrics this finding counts in for the period [start, end)."""
    found: set[str] = set()
    points = status_timeline(f)
    starts = _cycle_starts(points)
    first = points[0][0]
    if start <= first < end:
        found.add("new")
    if any(start <= at < end for at in starts[1:]):
        found.add("reopened")
    status = ""
    for at, _rank, new_status in points:
        if at >= end:
            break
        if at >= start and new_status in DONE_STATUSES and status not in DONE_STATUSES:
            found.add("rectified")
        status = new_status
    if status in OPEN_STATUSES:
        found.add("open")
        # the deadline in force at ``end``: the one set when its cycle began (a reopening or an
        # expired exemption later sets a new one, as long as the first: the check's deadline)
        cycle = max((at for at in starts if at < end), default=first)
        due = cycle + (f.due_at - starts[-1]) if starts else f.due_at
        if status in WORKING_STATUSES and due < end:
            found.add("overdue")
    elif status == "exempted":
        found.add("exempted")
    return found


def _load_findings(
    session: Session, unit_ids: Sequence[int], start: datetime, end: datetime
) -> list[_Finding]:
    """The findings of the units first opened before ``end``, with every status event; not those
    closed or verified before ``start`` and unchanged since (they count in nothing: a reopening
    or a closing changes the status and clears or moves the time stamp)."""
    opened_before = select(FindingEvent.finding_id).where(FindingEvent.at < end)
    scope = (
        Finding.unit_id.in_(unit_ids),
        or_(Finding.opened_at < end, Finding.id.in_(opened_before)),
        or_(Finding.status != "closed", Finding.closed_at.is_(None), Finding.closed_at >= start),
        or_(Finding.status != "verified", Finding.verified_at.is_(None), Finding.verified_at >= start),
    )
    rows = session.execute(
        select(
            Finding.id, Finding.unit_id, Finding.host_id, Finding.severity, Finding.category,
            Finding.status, Finding.opened_at, Finding.due_at, Finding.rectified_at, Finding.verified_at,
            Finding.closed_at, Finding.updated_at, Finding.title_zh, Finding.title_en,
        ).where(*scope)
    ).all()  # fmt: skip
    findings = {row.id: _Finding(**row._mapping) for row in rows}
    events = session.execute(
        select(FindingEvent.finding_id, FindingEvent.at, FindingEvent.to_status)
        .where(FindingEvent.finding_id.in_(select(Finding.id).where(*scope)), FindingEvent.to_status != "")
        .order_by(FindingEvent.finding_id, FindingEvent.at, FindingEvent.id)
    )
    for finding_id, at, to_status in events:
        if finding_id in findings:
            findings[finding_id].events.append((at, 2, to_status))
    return list(findings.values())


def _hosts(session: Session, unit_ids: Sequence[int], end: datetime) -> dict[int, tuple[int, int]]:
    """Per unit: (hosts in the register at ``end``, of which with the agent)."""
    agent = func.sum(case((Host.source == "agent", 1), else_=0))
    rows = session.execute(
        select(Host.unit_id, func.count(), agent)
        .where(
            Host.unit_id.in_(unit_ids),
            Host.status != "merged",
            Host.enrolled_at < end,
            or_(Host.status != "retired", Host.retired_at >= end),
        )
        .group_by(Host.unit_id)
    )
    return {unit_id: (int(total), int(with_agent or 0)) for unit_id, total, with_agent in rows}


def _rate(done: int, still_open: int) -> float | None:
    return done / (done + still_open) if done + still_open else None


def _coverage(hosts: int, agents: int) -> float | None:
    return agents / hosts if hosts else None


@dataclass
class _Tree:
    units: dict[int, Unit]
    children: dict[int, list[int]]

    def below(self, unit_id: int) -> list[int]:
        found, stack = [], [unit_id]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(self.children.get(current, []))
        return found


def _tree(session: Session) -> _Tree:
    units = {u.id: u for u in session.scalars(select(Unit).order_by(Unit.sort_order, Unit.code))}
    children: dict[int, list[int]] = defaultdict(list)
    for unit in units.values():
        if unit.parent_id is not None:
            children[unit.parent_id].append(unit.id)
    return _Tree(units, children)


def _ref(unit: Unit) -> UnitRef:
    return UnitRef(code=unit.code, name_zh=unit.name_zh, name_en=unit.name_en, kind=unit.kind)


def _counts(counter: Counter[str]) -> dict[str, int]:
    return {name: counter[name] for name in _METRICS}


def _sum(counters: Iterable[Counter[str]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return total


def compute(session: Session, unit: Unit, period: Period, score: ScoreConfig, now: datetime) -> BulletinData:
    """Every figure of the bulletin of ``unit``'s subtree for ``period``."""
    tree = _tree(session)
    scope = tree.below(unit.id)
    # a period still running is counted up to now ("to date"); an ended one up to its end
    start, end = period.starts_at, min(period.ends_at, now)
    per_unit: dict[int, Counter[str]] = defaultdict(Counter)
    per_category: dict[str, Counter[str]] = defaultdict(Counter)
    per_severity: dict[str, Counter[str]] = defaultdict(Counter)
    per_unit_severity: dict[tuple[int, str, str], int] = Counter()
    overdue: list[_Finding] = []
    for f in _load_findings(session, scope, start, end):
        metrics = _classify(f, start, end)
        for metric in metrics:
            per_unit[f.unit_id][metric] += 1
            per_category[f.category][metric] += 1
            per_severity[f.severity][metric] += 1
            if metric in ("open", "overdue"):
                per_unit_severity[(f.unit_id, f.severity, metric)] += 1
        if "overdue" in metrics:
            overdue.append(f)
    hosts = _hosts(session, scope, end)

    def row(unit_id: int, own_only: bool) -> UnitRow:
        ids = [unit_id] if own_only else tree.below(unit_id)
        counter = _sum(per_unit[i] for i in ids)
        total_hosts = sum(hosts.get(i, (0, 0))[0] for i in ids)
        agents = sum(hosts.get(i, (0, 0))[1] for i in ids)
        return UnitRow(
            **_ref(tree.units[unit_id]).model_dump(),
            own_only=own_only and bool(tree.children.get(unit_id)),
            hosts=total_hosts,
            agent_hosts=agents,
            coverage=_coverage(total_hosts, agents),
            rate=_rate(counter["rectified"], counter["open"]),
            **_counts(counter),
        )

    units = [row(unit.id, True), *(row(child, False) for child in tree.children.get(unit.id, []))]
    total = _sum(per_unit.values())
    all_hosts = sum(h for h, _a in hosts.values())
    all_agents = sum(a for _h, a in hosts.values())
    in_scope = set(scope)
    bureaus = [i for i, u in tree.units.items() if i in in_scope and u.kind in BUREAU_KINDS]  # tree order
    ranking: list[RankRow] = []
    if len(bureaus) >= 2:
        ranking = rank_bureaus(
            [(row(i, False), _severity_counts(per_unit_severity, tree.below(i))) for i in bureaus], score
        )
    return BulletinData(
        unit=_ref(unit),
        period=PeriodOut(
            kind=period.kind,
            key=period.key,
            start=period.start,
            end=period.end,
            label_zh=period.label_zh,
            label_en=period.label_en,
        ),
        computed_at=now,
        as_of=period.end if end == period.ends_at else local_today(now),
        totals=Totals(
            hosts=all_hosts,
            agent_hosts=all_agents,
            coverage=_coverage(all_hosts, all_agents),
            rate=_rate(total["rectified"], total["open"]),
            **_counts(total),
        ),
        by_category=_keyed_rows(CategoryRow, CATEGORY_LABELS, per_category),
        by_severity=_keyed_rows(SeverityRow, SEVERITY_LABELS, per_severity),
        units=units,
        ranking=ranking,
        overdue=_overdue_rows(session, tree, overdue, end),
        overdue_total=len(overdue),
        score=score,
    )


def _severity_counts(
    per_unit_severity: dict[tuple[int, str, str], int], unit_ids: list[int]
) -> dict[str, dict[str, int]]:
    """{"open": {severity: n}, "overdue": {severity: n}} over the given units."""
    found: dict[str, dict[str, int]] = {"open": Counter(), "overdue": Counter()}
    for (unit_id, severity, metric), count in per_unit_severity.items():
        if unit_id in unit_ids:
            found[metric][severity] += count
    return found


def _keyed_rows(
    model: type[_R], labels: dict[str, tuple[str, str]], counters: dict[str, Counter[str]]
) -> list[_R]:
    """One row per known key (in their order, zeros included), then any other key found."""
    keys = [*labels, *sorted(k for k in counters if k not in labels)]
    return [
        model(key=key, label_zh=labels.get(key, (key, key))[0], label_en=labels.get(key, (key, key))[1],
              **_counts(counters.get(key, Counter())))
        for key in keys
    ]  # fmt: skip


def _overdue_rows(session: Session, tree: _Tree, found: list[_Finding], end: datetime) -> list[OverdueRow]:
    """The longest overdue first, at most OVERDUE_LIMIT."""
    chosen = sorted(found, key=lambda f: (f.due_at, f.id))[:OVERDUE_LIMIT]
    host_ids = {f.host_id for f in chosen if f.host_id is not None}
    rows = session.execute(select(Host.id, Host.hostname).where(Host.id.in_(host_ids)))
    names = {row.id: row.hostname for row in rows}
    return [
        OverdueRow(
            unit=_ref(tree.units[f.unit_id]),
            host=names.get(f.host_id, "") if f.host_id is not None else "",
            title_zh=f.title_zh,
            title_en=f.title_en,
            severity=f.severity,
            category=f.category,
            opened_on=f.opened_at.astimezone(ZONE).date(),
            due_on=f.due_at.astimezone(ZONE).date(),
            days_overdue=max(0, (end - f.due_at).days),
        )
        for f in chosen
    ]
