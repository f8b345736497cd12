"""Unit-level findings (issue 5 with issue 7): licence seats over-used (A9-T3.1, A9-M3.1), no
drill this year (A9-M4.2), no technical training this year (A9-M2.3); and the periodic round
that raises them. On SQLite and PostgreSQL, with real reports, drills run through the API.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from collector.db.models import Host, Unit
from collector.db.models_policy import Finding
from collector.services import periodic, unit_checks
from collector.settings import Settings
from tests.collector.test_drills import plan_drill, run_whole_drill
from tests.collector.test_plans import approved_plan
from tests.collector.test_policy_catalogue import SPSS, _post
from tests.support.collector import CollectorUnderTest


def _unit_findings(c: CollectorUnderTest, check_id: str) -> dict[tuple[str, str], Finding]:
    with c.sessions() as session:
        rows = session.execute(
            select(Finding, Unit.code)
            .join(Unit, Unit.id == Finding.unit_id)
            .where(Finding.check_id == check_id, Finding.host_id.is_(None))
        ).all()
        return {(code, f.subject): f for f, code in rows}


def _run(c: CollectorUnderTest, now: datetime) -> unit_checks.UnitCheckStats:
    with c.sessions() as session:
        stats = unit_checks.evaluate_unit_checks(session, now)
        session.commit()
    return stats


def test_seats_over_used_open_a_unit_finding_that_a_retirement_verifies(
    collector: CollectorUnderTest,
) -> None:
    now = datetime.now(UTC)
    _post(collector, "341021", "she-tj-pc01", [SPSS])
    second = _post(collector, "341021", "she-tj-pc02", [SPSS])
    _run(collector, now)
    found = _unit_findings(collector, unit_checks.SEATS.id)
    finding = found[("341021", "ibm_spss_statistics")]
    assert finding.status == "open" and finding.severity == unit_checks.SEATS.severity
    assert finding.evidence[0]["installed"] == 2 and finding.evidence[0]["seats"] == 1
    _run(collector, now)  # again: still the one finding
    assert len(_unit_findings(collector, unit_checks.SEATS.id)) == len(found)
    with collector.sessions() as session:
        host_id = session.scalar(select(Host.id).where(Host.agent_id == second))
    answer = collector.client.post(f"/api/v1/hosts/{host_id}/retire", headers=collector.admin_headers())
    assert answer.status_code == 200, answer.text
    _run(collector, now)
    assert (
        _unit_findings(collector, unit_checks.SEATS.id)[("341021", "ibm_spss_statistics")].status
        == "verified"
    )


def test_a_bureau_without_a_drill_or_training_is_a_finding_from_october(
    collector: CollectorUnderTest,
) -> None:
    year = date.today().year
    spring = datetime(year, 3, 2, 4, tzinfo=UTC)
    assert _run(collector, spring).raised == 0
    assert not _unit_findings(collector, unit_checks.YEARLY_DRILL.id)
    autumn = datetime(year, 11, 2, 4, tzinfo=UTC)
    _run(collector, autumn)
    drills = _unit_findings(collector, unit_checks.YEARLY_DRILL.id)
    trainings = _unit_findings(collector, unit_checks.TRAINING.id)
    bureaus = {"341000", "341002", "341003", "341004", "341021", "341022", "341023", "341024"}
    assert {code for code, _ in drills} == bureaus and {s for _, s in drills} == {str(year)}
    assert {code for code, _ in trainings} == bureaus
    she = drills[("341021", str(year))]
    assert she.due_at.astimezone(unit_checks.LOCAL).date() == date(year, 12, 31)

    admin = collector.admin_headers()
    approved_plan(collector, admin)
    run_whole_drill(collector, admin, plan_drill(collector, admin))
    _run(collector, autumn)
    drills = _unit_findings(collector, unit_checks.YEARLY_DRILL.id)
    assert drills[("341021", str(year))].status == "verified"
    assert drills[("341022", str(year))].status == "open"


def test_the_periodic_round_runs_the_policy_work_once_per_period(collector: CollectorUnderTest) -> None:
    settings = Settings(database_url=collector.settings.database_url, policy_sweep_seconds=3600)
    now = datetime(date.today().year, 11, 2, 4, tzinfo=UTC)
    first = periodic.run_round(collector.sessions, settings, now)
    assert first["unit_findings_raised"] > 0
    again = periodic.run_round(collector.sessions, settings, now)
    assert "unit_findings_raised" not in again  # within the period: only the findings sweep
