"""The year's overview (A9-M2.3: a technical training a year; A9-M4.2: a drill a year) per unit
of the caller's scope (A9-G), with flags for units and for the city as a whole, and its XLSX
export. SQLite and PostgreSQL.

Drill counts come from the drills area (collector.services.drills.completed_drills_by_unit):
the tests run real drills through its API."""

from __future__ import annotations

import inspect
import io
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from collector.db.models import Unit
from collector.db.models_drills import Drill
from collector.services import annual
from tests.collector.test_drills import plan_drill, run_whole_drill
from tests.collector.test_plans import approved_plan
from tests.support.collector import CollectorUnderTest

Headers = dict[str, str]
BUREAUS = ["341000", "341002", "341003", "341004", "341021", "341022", "341023", "341024"]


def _training(collector: CollectorUnderTest, headers: Headers, **fields: Any) -> int:
    body = {
        "held_on": "2026-04-15",
        "topic": "网络安全技术培训",
        "unit": "341000",
        "kind": "technical",
        **fields,
    }
    answer = collector.client.post("/api/v1/trainings", headers=headers, json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _unit_ids(collector: CollectorUnderTest) -> dict[str, int]:
    with collector.sessions() as session:
        return {u.code: u.id for u in session.scalars(select(Unit))}


class _Drills:
    """Completed drills made for real (approved plan, drill run through the runner API), dated
    in the year under test: ``update({unit_id: n})``."""

    def __init__(self, collector: CollectorUnderTest) -> None:
        self.c = collector
        self.admin = collector.admin_headers()
        self.planned: set[str] = set()

    def update(self, counts: dict[int, int]) -> None:
        codes = {unit_id: code for code, unit_id in _unit_ids(self.c).items()}
        for unit_id, n in counts.items():
            code = codes[unit_id]
            if code not in self.planned:
                approved_plan(self.c, self.admin, code)
                self.planned.add(code)
            for _ in range(n):
                drill = plan_drill(self.c, self.admin, unit=code)
                run_whole_drill(self.c, self.admin, drill)
                with self.c.sessions() as session:
                    session.get_one(Drill, drill["id"]).held_on = date(2026, 6, 1)
                    session.commit()


@pytest.fixture
def drills(collector: CollectorUnderTest) -> _Drills:
    return _Drills(collector)


def _overview(collector: CollectorUnderTest, headers: Headers, year: int = 2026) -> dict[str, Any]:
    answer = collector.client.get(f"/api/v1/annual/{year}", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["unit"]["code"]: r for r in body["units"]}


def test_units_without_a_technical_training_or_a_drill_are_flagged(
    collector: CollectorUnderTest, drills: _Drills
) -> None:
    city = collector.admin_headers()
    ids = _unit_ids(collector)
    _training(collector, city, attendees=[{"name": "张三", "unit": "341021"},
                                          {"name": "李四", "unit": "341022", "attended": False}])  # fmt: skip
    _training(collector, city, unit="341000-JSZ", topic="计算站内训")  # counts for the city bureau
    _training(collector, city, unit="341003", kind="awareness", topic="保密教育")  # not technical
    _training(collector, city, unit="341004", units=["341023"], topic="徽州区技术培训")
    _training(collector, city, unit="341024", held_on="2025-12-30")  # another year
    drills.update({ids["341021"]: 1, ids["341000-JSZ"]: 2, ids["341000"]: 1})

    body = _overview(collector, city)
    rows = _rows(body)
    assert list(rows) == BUREAUS  # the accountable units, the station rolled into the city
    assert (rows["341000"]["technical_held"], rows["341000"]["drills_completed"]) == (2, 1)
    assert (rows["341021"]["technical_attended"], rows["341021"]["no_training"]) == (1, False)
    assert rows["341022"]["no_training"] is True  # on the list, but did not come
    assert (rows["341003"]["other_trainings"], rows["341003"]["no_training"]) == (1, True)
    assert rows["341023"]["technical_attended"] == 1 and rows["341004"]["technical_held"] == 1
    assert rows["341024"]["no_training"] is True
    flagged = sorted(code for code, r in rows.items() if r["no_training"])
    assert flagged == ["341002", "341003", "341022", "341024"]
    assert sorted(code for code, r in rows.items() if not r["no_drill"]) == ["341000", "341021"]
    assert body["city_wide"] is True
    assert body["totals"] == {
        "technical_trainings": 3,
        "drills_completed": 4,
        "units_without_training": 4,
        "units_without_drill": 6,
        "no_training": False,
        "no_drill": False,
    }
    with collector.sessions() as session:
        assert [u.code for u in annual.units_without_training(session, 2026)] == flagged
        assert [u.code for u in annual.units_without_training(session, 2025)] == [
            c for c in BUREAUS if c != "341024"
        ]


def test_the_city_as_a_whole_is_flagged_in_an_empty_year(
    collector: CollectorUnderTest, drills: _Drills
) -> None:
    body = _overview(collector, collector.admin_headers(), 2024)
    assert body["totals"]["no_training"] is True and body["totals"]["no_drill"] is True
    assert all(r["no_training"] and r["no_drill"] for r in body["units"])


def test_a_district_sees_its_own_row_and_nothing_of_the_others(
    collector: CollectorUnderTest, drills: _Drills
) -> None:
    city = collector.admin_headers()
    ids = _unit_ids(collector)
    _training(collector, city, unit="341022", topic="休宁县技术培训")
    drills.update({ids["341022"]: 1})
    she = collector.admin_headers("341021", "district_admin")
    answer = collector.client.get("/api/v1/annual/2026", headers=she)
    assert [r["unit"]["code"] for r in answer.json()["units"]] == ["341021"]
    assert "休宁" not in answer.text and "Xiuning" not in answer.text
    totals = answer.json()["totals"]
    assert answer.json()["city_wide"] is False
    assert (totals["technical_trainings"], totals["drills_completed"], totals["no_training"]) == (0, 0, True)

    _training(collector, she, unit="341021", kind="technical")
    assert _rows(_overview(collector, she))["341021"]["no_training"] is False


def test_an_auditor_of_an_office_gets_the_office_as_its_row(
    collector: CollectorUnderTest, drills: _Drills
) -> None:
    with collector.sessions() as session:
        parent = session.scalars(select(Unit.id).where(Unit.code == "341021")).one()
        session.add(
            Unit(
                code="341021-01",
                name_zh="歙县统计局办公室",
                name_en="She office",
                kind="office",
                parent_id=parent,
            )
        )
        session.commit()
    auditor = collector.admin_headers("341021-01", "auditor")
    body = _overview(collector, auditor)
    assert [r["unit"]["code"] for r in body["units"]] == ["341021-01"]
    city = collector.admin_headers()
    _training(collector, city, unit="341021-01", topic="科室培训")
    rows = _rows(_overview(collector, city))
    assert "341021-01" not in rows and rows["341021"]["technical_held"] == 1  # rolled up


def test_the_overview_exports_as_xlsx(collector: CollectorUnderTest, drills: _Drills) -> None:
    city = collector.admin_headers()
    _training(collector, city, attendees=[{"name": "张三", "unit": "341021"}])
    answer = collector.client.get("/api/v1/annual/2026/export.xlsx", headers=city)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(answer.content)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("单位代码", "单位", "组织技术培训")
    by_code = {r[0]: r for r in rows[1:-1]}
    assert by_code["341021"][3] == 1 and by_code["341021"][6] in (None, "")
    assert by_code["341022"][6] == "是" and by_code["341022"][7] == "是"
    assert rows[-1][1] == "全市" and rows[-1][2] == 1
    english = collector.client.get("/api/v1/annual/2026/export.xlsx", headers=city, params={"lang": "en"})
    header = next(load_workbook(io.BytesIO(english.content)).worksheets[0].iter_rows(values_only=True))
    assert header[0] == "Unit code" and header[-1] == "No drill"


def test_years_outside_the_range_are_refused(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    assert collector.client.get("/api/v1/annual/1999", headers=city).status_code == 422
    assert collector.client.get("/api/v1/annual/abcd", headers=city).status_code == 422
    collector.client.cookies.clear()  # the login left its session cookie
    assert collector.client.get("/api/v1/annual/2026").status_code == 401


def test_the_drills_area_provides_the_counts_the_overview_uses(collector: CollectorUnderTest) -> None:
    """The real drills function (no replacement): its signature, and no drill is no drill."""
    from collector.services import drills

    assert list(inspect.signature(drills.completed_drills_by_unit).parameters) == ["session", "year"]
    body = _overview(collector, collector.admin_headers(), 2026)
    assert all(r["drills_completed"] == 0 and r["no_drill"] for r in body["units"])
    assert body["totals"]["no_drill"] is True
