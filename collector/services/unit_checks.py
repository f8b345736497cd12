"""Unit-level checks: problems of a unit, not of one host (issue 5 and issue 7).

- ``licensing.seats_within_licence`` (A9-T3.1, A9-M3.1): a unit has more hosts with a
  licensed title installed than the seats the catalogue (policies/catalogue/
  licensed-software.yaml) gives it; one finding per unit × title, the subject being the
  title; verified when the count drops back within the seats.
- ``drills.yearly_drill`` (A9-M4.2): a bureau with no emergency drill completed this year;
- ``trainings.yearly_technical_training`` (A9-M2.3): a bureau with no technical training
  this year.
  The two yearly checks raise their finding only from ``YEARLY_FROM_MONTH`` (October, local
  time Asia/Shanghai) so a unit is not flagged in January for a year that has just begun;
  the deadline is the last day of the year. The yearly overview page flags such units all
  year round. They are verified as soon as the drill or training is recorded.

``evaluate_unit_checks`` runs them all; the collector's periodic task calls it, and so can
``watchpost-collector policies evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Unit
from collector.db.models_policy import Finding
from collector.policy.meta import CheckMeta
from collector.services import findings

__all__ = ["SEATS", "TRAINING", "UNIT_CHECKS", "YEARLY_DRILL", "UnitCheckStats", "evaluate_unit_checks"]

LOCAL = ZoneInfo("Asia/Shanghai")
YEARLY_FROM_MONTH = 10

SEATS = CheckMeta(
    id="licensing.seats_within_licence",
    pack="licensing",
    title_zh="正版软件安装数量超出授权数",
    title_en="Licensed software installed on more PCs than the unit has seats for",
    severity="medium",
    category="licensing",
    deadline_days=30,
    requirements=("A9-T3.1", "A9-M3.1"),
)
YEARLY_DRILL = CheckMeta(
    id="drills.yearly_drill",
    pack="drills",
    title_zh="本年度未完成网络安全应急演练",
    title_en="No network-security emergency drill completed this year",
    severity="high",
    category="availability",
    deadline_days=60,
    requirements=("A9-M4.2",),
)
TRAINING = CheckMeta(
    id="trainings.yearly_technical_training",
    pack="trainings",
    title_zh="本年度未开展网络安全技术培训",
    title_en="No technical network-security training this year",
    severity="medium",
    category="availability",
    deadline_days=60,
    requirements=("A9-M2.3",),
)
UNIT_CHECKS = (SEATS, YEARLY_DRILL, TRAINING)


@dataclass
class UnitCheckStats:
    raised: int = 0
    resolved: int = 0


def _live_subjects(session: Session, check_id: str) -> dict[tuple[int, str], Finding]:
    rows = session.scalars(
        select(Finding).where(
            Finding.check_id == check_id, Finding.host_id.is_(None), Finding.status.in_(findings.UNRESOLVED)
        )
    )
    return {(f.unit_id, f.subject): f for f in rows}


def _seats(session: Session, now: datetime, stats: UnitCheckStats) -> None:
    from collector.policy.catalogue import load_catalogue, seat_usage

    units = {u.code: u.id for u in session.scalars(select(Unit))}
    live = _live_subjects(session, SEATS.id)
    over: set[tuple[int, str]] = set()
    for usage in seat_usage(session, load_catalogue()):
        unit_id = units.get(usage.unit_code)
        if unit_id is None or not usage.over_use:
            continue
        subject = usage.title_id
        over.add((unit_id, subject))
        evidence = [
            {
                "title": usage.title_zh,
                "title_en": usage.title_en,
                "seats": usage.seats,
                "installed": usage.installed,
                "excess": usage.excess,
                "host_ids": list(usage.host_ids[:50]),
            }
        ]
        findings.raise_unit_finding(
            session, unit_id=unit_id, check=SEATS, subject=subject, evidence=evidence, at=now
        )
        stats.raised += 1
    for unit_id, subject in set(live) - over:
        findings.resolve_unit_finding(session, unit_id=unit_id, check_id=SEATS.id, subject=subject, at=now)
        stats.resolved += 1


def _yearly(
    session: Session, now: datetime, stats: UnitCheckStats, check: CheckMeta, missing: list[Unit]
) -> None:
    local = now.astimezone(LOCAL)
    year = str(local.year)
    live = _live_subjects(session, check.id)
    if local.month >= YEARLY_FROM_MONTH:
        year_end = datetime(local.year, 12, 31, 23, 59, tzinfo=LOCAL).astimezone(UTC)
        for unit in missing:
            finding = findings.raise_unit_finding(
                session,
                unit_id=unit.id,
                check=check,
                subject=year,
                evidence=[{"year": local.year, "unit": unit.code, "completed": 0}],
                at=now,
            )
            if finding.opened_at == now and finding.due_at > year_end:  # just opened: due by the year's end
                finding.due_at = year_end
            stats.raised += 1
    done = {u.id for u in session.scalars(select(Unit))} - {u.id for u in missing}
    for unit_id, subject in live:
        if subject == year and unit_id in done:
            findings.resolve_unit_finding(
                session, unit_id=unit_id, check_id=check.id, subject=subject, at=now
            )
            stats.resolved += 1


def evaluate_unit_checks(session: Session, now: datetime | None = None) -> UnitCheckStats:
    """Raise and verify every unit-level finding; the caller commits."""
    from collector.services.annual import units_without_training
    from collector.services.drills import units_without_drill

    now = now or utcnow()
    stats = UnitCheckStats()
    _seats(session, now, stats)
    year = now.astimezone(LOCAL).year
    _yearly(session, now, stats, YEARLY_DRILL, units_without_drill(session, year))
    _yearly(session, now, stats, TRAINING, units_without_training(session, year))
    return stats
