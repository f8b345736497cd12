"""Bulletins (通报; issue 5, A9-M3.5, P-16): figures of a period from the findings and the asset
register, the ranking of the district/county bureaus, draft → issued (frozen, numbered, kept
byte for byte), the DOCX (GB/T 9704 layout) and the XLSX matching the database, scope (A9-G)
and audit. SQLite and PostgreSQL.

Findings are inserted as rows (Finding, FindingEvent), so these tests do not depend on the
policy engine; hosts come through enrollment and the assets API like everywhere else.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.oxml.ns import qn
from docx.shared import Pt
from openpyxl import load_workbook
from sqlalchemy import select, update

from collector.db.base import utcnow
from collector.db.models import AuditLog, Host, Unit
from collector.db.models_policy import Finding, FindingEvent
from collector.policy.meta import CheckMeta
from collector.services import bulletin_issue
from collector.services.bulletin_config import BulletinConfigError, load_config, parse_config
from collector.services.bulletin_data import CATEGORY_LABELS, SEVERITY_LABELS
from collector.services.bulletin_periods import (
    ZONE,
    Period,
    chinese_date,
    local_today,
    parse_period,
    period_containing,
)
from collector.services.errors import Invalid
from collector.services.findings import on_result
from tests.support.collector import CollectorUnderTest

Headers = dict[str, str]
ROOT = Path(__file__).resolve().parents[2]


# -- the town: hosts and findings of one past month ---------------------------------------------
def last_month() -> Period:
    return period_containing("month", local_today()).previous()


def at(period: Period, days: float, hour: int = 10) -> datetime:
    """An instant ``days`` after the period's first day at ``hour`` o'clock in Shanghai (negative: before)."""
    day = period.start + timedelta(days=int(days // 1))
    return datetime.combine(day, time(hour), ZONE).astimezone(UTC)


@dataclass
class Town:
    c: CollectorUnderTest
    city: Headers
    period: Period
    hosts: dict[str, int]
    units: dict[str, int]

    def finding(
        self,
        host: str | None,
        unit: str,
        category: str,
        severity: str,
        status: str,
        opened: datetime,
        due: datetime,
        *,
        rectified: datetime | None = None,
        verified: datetime | None = None,
        closed: datetime | None = None,
        updated: datetime | None = None,
        events: tuple[tuple[datetime, str, str], ...] = (),
    ) -> int:
        with self.c.sessions() as session:
            row = Finding(
                host_id=self.hosts[host] if host else None,
                unit_id=self.units[unit],
                check_id=f"{category}.test",
                subject="" if host else f"unit:{unit}",
                title_zh=f"{category}问题",
                title_en=f"{category} problem",
                severity=severity,
                category=category,
                status=status,
                opened_at=opened,
                due_at=due,
                rectified_at=rectified,
                verified_at=verified,
                closed_at=closed,
                updated_at=updated or max(t for t in (opened, rectified, verified, closed) if t),
            )
            session.add(row)
            session.flush()
            for when, old, new in events:
                session.add(
                    FindingEvent(
                        finding_id=row.id, at=when, action="transition", from_status=old, to_status=new
                    )
                )
            session.commit()
            return row.id


def _host(c: CollectorUnderTest, unit: str, hostname: str, city: Headers, agent: bool = True) -> int:
    if agent:
        c.enroll(unit, hostname=hostname)
    else:
        answer = c.client.post("/api/v1/assets", json={"hostname": hostname, "unit": unit}, headers=city)
        assert answer.status_code == 201, answer.text
    with c.sessions() as session:
        return session.scalars(select(Host.id).where(Host.hostname == hostname)).one()


def build_town(c: CollectorUnderTest) -> Town:
    """Hosts in 歙县 (341021), 休宁县 (341022) and the computing station, and ten findings whose
    figures for last month are worked out by hand in EXPECTED."""
    city = c.admin_headers()
    period = last_month()
    names = [("she1", "341021", True), ("she2", "341021", True), ("she-printer", "341021", False),
             ("xn1", "341022", True), ("xn-switch", "341022", False), ("jsz1", "341000-JSZ", True),
             ("she-late", "341021", True), ("she-old", "341021", False)]  # fmt: skip
    hosts = {name: _host(c, unit, name, city, agent) for name, unit, agent in names}
    before = at(period, -60)
    with c.sessions() as session:
        units = {u.code: u.id for u in session.scalars(select(Unit))}
        session.execute(update(Host).where(Host.hostname != "she-late").values(enrolled_at=before))
        # retired before the end of the period: not in its register; retired now: still in it
        session.execute(
            update(Host).where(Host.hostname == "she-old").values(status="retired", retired_at=at(period, 3))
        )
        session.commit()
    assert c.client.post(f"/api/v1/hosts/{hosts['xn-switch']}/retire", headers=city).status_code == 200
    town = Town(c, city, period, hosts, units)
    e = period.ends_at
    p = lambda days: at(period, days)  # noqa: E731
    # fmt: off
    rows: list[tuple[str | None, str, str, str, str, datetime, datetime, dict[str, Any]]] = [
        # A: new, still open, deadline after the period
        ("she1", "341021", "antivirus", "high", "open", p(2), e + timedelta(days=10), {}),
        # B: opened before, assigned, deadline in the period: open and overdue
        ("she2", "341021", "patches", "medium", "assigned", p(-10), p(5),
         {"updated": p(-9), "events": ((p(-10), "", "open"), (p(-9), "open", "assigned"))}),
        # C: new and verified in the period: rectified
        ("xn1", "341022", "antivirus", "critical", "verified", p(1), p(8), {"rectified": p(3), "verified": p(4)}),
        # D: verified before the period, closed in it: not rectified again
        ("xn1", "341022", "licensing", "low", "closed", p(-30), p(-23), {"verified": p(-20), "closed": p(2)}),
        # E: new, exempted in the period
        ("she1", "341021", "security_config", "high", "exempted", p(3), p(10),
         {"updated": p(4), "events": ((p(3), "", "open"), (p(4), "open", "exempted"))}),
        # F: opened after the period: not in it
        ("she2", "341021", "antivirus", "medium", "open", e + timedelta(hours=1), e + timedelta(days=7), {}),
        # G: claimed rectified after its deadline, not verified: open, not overdue (awaits verification)
        ("jsz1", "341000-JSZ", "logs", "medium", "rectified", p(-5), p(2), {"rectified": p(6)}),
        # H: first opened 40 days before, verified, reopened in the period with a new deadline
        # (a reopening resets opened_at and due_at, as collector/services/findings.py does)
        ("xn1", "341022", "patches", "high", "open", p(10), p(17),
         {"events": ((p(-40), "", "open"), (p(-30), "open", "verified"), (p(10), "verified", "open"))}),
        # I: overdue at the end of the period, verified and closed since: open and overdue then
        ("she1", "341021", "antivirus", "low", "closed", p(-3), p(4),
         {"verified": e + timedelta(days=2), "closed": e + timedelta(days=3)}),
        # J: a unit-level finding (no host), new and open
        (None, "341021", "licensing", "medium", "open", p(5), e + timedelta(days=20), {}),
    ]
    # fmt: on
    for host, unit, category, severity, status, opened, due, extra in rows:
        town.finding(host, unit, category, severity, status, opened, due, **extra)
    return town


#: (new, rectified, open, overdue) of last month, worked out from the findings A-J above.
EXPECTED_TOTALS = {"new": 4, "rectified": 1, "open": 6, "overdue": 3, "exempted": 1, "reopened": 1,
                   "hosts": 6, "agent_hosts": 4}  # fmt: skip
EXPECTED_CATEGORIES = {"antivirus": (2, 1, 2, 1), "patches": (0, 0, 2, 2), "licensing": (1, 0, 1, 0),
                       "security_config": (1, 0, 0, 0), "logs": (0, 0, 1, 0), "hardware": (0, 0, 0, 0),
                       "availability": (0, 0, 0, 0), "vpn": (0, 0, 0, 0)}  # fmt: skip
EXPECTED_SEVERITIES = {"critical": (1, 1, 0, 0), "high": (2, 0, 2, 1), "medium": (1, 0, 3, 1),
                       "low": (0, 0, 1, 1), "info": (0, 0, 0, 0)}  # fmt: skip
# unit: (hosts, with agent, new, rectified, open, overdue)
EXPECTED_UNITS = {"341000": (0, 0, 0, 0, 0, 0), "341000-JSZ": (1, 1, 0, 0, 1, 0),
                  "341021": (3, 2, 3, 0, 4, 2), "341022": (2, 1, 1, 1, 1, 1), "341023": (0, 0, 0, 0, 0, 0)}  # fmt: skip


@pytest.fixture
def town(collector: CollectorUnderTest) -> Town:
    return build_town(collector)


def _quad(row: dict[str, Any]) -> tuple[int, int, int, int]:
    return row["new"], row["rectified"], row["open"], row["overdue"]


def _preview(
    town: Town, unit: str | None = None, headers: Headers | None = None, period: str | None = None
) -> Any:
    params = {"period": period or town.period.key, **({"unit": unit} if unit else {})}
    return town.c.client.get("/api/v1/bulletins/preview", params=params, headers=headers or town.city)


def _draft(town: Town, unit: str = "341000", headers: Headers | None = None, **body: Any) -> dict[str, Any]:
    answer = town.c.client.post(
        "/api/v1/bulletins",
        json={"period": town.period.key, "unit": unit, **body},
        headers=headers or town.city,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _issue(town: Town, bulletin_id: int, headers: Headers | None = None) -> dict[str, Any]:
    answer = town.c.client.post(f"/api/v1/bulletins/{bulletin_id}/issue", headers=headers or town.city)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# -- periods --------------------------------------------------------------------------------------
def test_periods_are_weeks_months_and_quarters_of_the_shanghai_calendar() -> None:
    november = parse_period("2026-11")
    assert (november.start, november.end, november.label_zh) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
        "2026年11月",
    )
    assert november.starts_at == datetime(2026, 10, 31, 16, tzinfo=UTC)  # 00:00 in Shanghai
    assert november.ends_at == datetime(2026, 11, 30, 16, tzinfo=UTC)
    week = parse_period("2026-w48")
    assert (week.key, week.start, week.end, week.label_zh) == (
        "2026-W48",
        date(2026, 11, 23),
        date(2026, 11, 29),
        "2026年第48周",
    )
    assert parse_period("2026-W53").end == date(2027, 1, 3)  # an ISO week across the new year
    q4 = parse_period("2026-Q4")
    assert (q4.start, q4.end, q4.label_zh, q4.label_en) == (
        date(2026, 10, 1),
        date(2026, 12, 31),
        "2026年第四季度",
        "Q4 2026",
    )
    assert parse_period("2026-1").key == "2026-01" and parse_period("2026-01").previous().key == "2025-12"
    assert period_containing("week", date(2027, 1, 1)).key == "2026-W53"
    assert chinese_date(date(2026, 1, 5)) == "2026年1月5日"
    for bad in ("2026-13", "2026-W54", "2025-W53", "2026-Q5", "1999-01", "2026/11", "", "2026-11-01"):
        with pytest.raises(Invalid):
            parse_period(bad)


# -- figures -------------------------------------------------------------------------------------
def test_the_preview_counts_findings_by_category_severity_and_unit(town: Town) -> None:
    answer = _preview(town)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert {k: data["totals"][k] for k in EXPECTED_TOTALS} == EXPECTED_TOTALS
    assert data["totals"]["coverage"] == pytest.approx(4 / 6) and data["totals"]["rate"] == pytest.approx(
        1 / 7
    )
    assert [r["key"] for r in data["by_category"]] == list(CATEGORY_LABELS)
    assert {r["key"]: _quad(r) for r in data["by_category"]} == EXPECTED_CATEGORIES
    assert [r["key"] for r in data["by_severity"]] == list(SEVERITY_LABELS)
    assert {r["key"]: _quad(r) for r in data["by_severity"]} == EXPECTED_SEVERITIES
    units = {u["code"]: u for u in data["units"]}
    assert list(units)[:2] == ["341000", "341000-JSZ"] and units["341000"]["own_only"] is True
    assert len(units) == 9
    for code, (hosts, agents, *counts) in EXPECTED_UNITS.items():
        assert (units[code]["hosts"], units[code]["agent_hosts"], *_quad(units[code])) == (
            hosts,
            agents,
            *counts,
        ), code
    assert (
        units["341021"]["rate"] == 0
        and units["341023"]["rate"] is None
        and units["341023"]["coverage"] is None
    )
    assert data["overdue_total"] == 3  # G, claimed rectified, awaits verification: not overdue
    overdue = data["overdue"]
    assert [o["due_on"] for o in overdue] == sorted(o["due_on"] for o in overdue)
    assert {o["host"] for o in overdue} == {"she2", "xn1", "she1"}


def test_a_period_is_read_from_the_history_the_findings_service_keeps(town: Town) -> None:
    """A finding overdue at the end of last month, verified and reopened this month (which resets
    its opening and deadline, collector/services/findings.py) still counts as overdue last month."""
    check = CheckMeta("vpn.history", "vpn", "VPN历史", "History", "high", "vpn", 7)
    now = utcnow()
    # both this month, the reopening recent enough for its new deadline not to have passed
    reopened_at = now - min((now - town.period.ends_at) / 3, timedelta(days=1))
    verified_at = town.period.ends_at + (reopened_at - town.period.ends_at) / 2
    with town.c.sessions() as session:
        host = session.get_one(Host, town.hosts["she2"])
        for status, when in (("fail", at(town.period, 1)), ("pass", verified_at), ("fail", reopened_at)):
            on_result(session, host=host, check=check, status=status, evidence=[], at=when)
            session.commit()
        finding = session.scalars(select(Finding).where(Finding.check_id == check.id)).one()
        assert (finding.status, finding.reopen_count, finding.opened_at) == ("open", 1, reopened_at)
    before = _preview(town, "341021").json()["by_severity"][1]  # high: A, E and this one
    assert (before["key"], _quad(before), before["reopened"]) == ("high", (3, 0, 2, 1), 0)
    current = period_containing("month", local_today()).key
    vpn = _preview(town, "341021", period=current).json()["by_category"][-1]
    assert vpn["key"] == "vpn" and _quad(vpn) == (0, 1, 1, 0) and vpn["reopened"] == 1


def test_a_unit_bulletin_covers_its_subtree_only_and_ranks_nobody(town: Town) -> None:
    data = _preview(town, "341021").json()
    assert data["unit"]["code"] == "341021" and [u["code"] for u in data["units"]] == ["341021"]
    assert (data["totals"]["new"], data["totals"]["open"], data["totals"]["hosts"]) == (3, 4, 3)
    assert data["ranking"] == []
    assert "xn1" not in str(data) and "休宁" not in str(data)


def test_findings_of_the_current_period_count_to_date_and_future_periods_are_refused(town: Town) -> None:
    current = period_containing("month", local_today())
    town.finding(
        "she1", "341021", "vpn", "info", "open", utcnow() - timedelta(minutes=5), utcnow() + timedelta(days=3)
    )
    data = _preview(town, period=current.key).json()
    assert data["totals"]["new"] >= 1 and data["by_category"][-1]["new"] == 1
    future = period_containing("month", current.end + timedelta(days=1))
    refused = _preview(town, period=future.key)
    assert refused.status_code == 422 and refused.json()["error"] == "period_in_future"
    bad = _preview(town, period="2026-13")
    assert bad.status_code == 422 and bad.json()["error"] == "bad_period"


def test_bureaus_are_ranked_by_the_configured_score(
    town: Town, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "bulletin-score.yaml"
    config.write_text(
        "version: 1\nscore:\n  base: 50\n"
        "  open_weights: {critical: 8, high: 4, medium: 2, low: 1, info: 0}\n"
        "  overdue_weights: {critical: 8, high: 4, medium: 2, low: 1, info: 0}\n"
        "  rectification_weight: 10\n  coverage_weight: 30\n  per_hosts: null\n  decimals: 2\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("WATCHPOST_BULLETIN_CONFIG", str(config))
    ranked = _preview(town).json()["ranking"]
    # ties keep the order of the organisation tree
    assert [r["code"] for r in ranked] == [
        "341022",
        "341002",
        "341003",
        "341004",
        "341023",
        "341024",
        "341021",
    ]
    ranking = {r["code"]: r for r in ranked}
    assert set(ranking) == {"341002", "341003", "341004", "341021", "341022", "341023", "341024"}
    # 歙县: open high+medium+low+medium = 4+2+1+2, overdue medium+low = 2+1, rate 0/4, coverage 2/3
    she = 50 - 9 - 3 + 10 * 0 + 30 * 2 / 3
    # 休宁县: open high 4, overdue high 4, rate 1/2, coverage 1/2
    xiuning = 50 - 4 - 4 + 10 * 0.5 + 30 * 0.5
    # the others: nothing open, nothing due (rate counts as 1.0), no hosts (coverage 0)
    empty = 50 + 10 * 1.0
    assert ranking["341021"]["score"] == round(she, 2) and ranking["341022"]["score"] == round(xiuning, 2)
    assert (ranking["341021"]["open_points"], ranking["341021"]["overdue_points"]) == (9, 3)
    assert ranking["341022"]["rank"] == 1 and ranking["341002"]["score"] == empty
    assert {r["rank"] for code, r in ranking.items() if code not in ("341021", "341022")} == {2}
    assert ranking["341021"]["rank"] == 7  # ties share a rank: 1, 2, 2, 2, 2, 2, 7


def test_the_score_configuration_is_validated_on_load() -> None:
    shipped = load_config(ROOT / "policies" / "bulletin-score.yaml")
    assert shipped.score.open_weights.critical > shipped.score.open_weights.low
    assert shipped.document.issuers["341000"].number_prefix == "黄统网安通"
    good = (ROOT / "policies" / "bulletin-score.yaml").read_text(encoding="utf-8")
    for broken, words in (
        (good.replace("rectification_weight:", "rectification_weigth:"), "rectification_weigth"),
        (good.replace("medium: 0.5,", "medium: -1,"), "open_weights.medium"),
        (good.replace("ceiling: 100", "ceiling: -5"), "floor must not be above ceiling"),
        (good.replace("{critical: 2, ", "{"), "open_weights.critical"),
        (good.replace("title_city: 关于", "title_city: 关于{year}"), "only {period} and {unit}"),
        ("version: [", "not valid YAML"),
    ):
        with pytest.raises(BulletinConfigError, match=re.escape(words)):
            parse_config(broken)


# -- draft → issued ------------------------------------------------------------------------------
def test_issuing_freezes_the_figures_numbers_the_document_and_keeps_its_files(town: Town) -> None:
    draft = _draft(town)
    assert draft["status"] == "draft" and draft["doc_number"] is None and draft["files"] == []
    assert draft["title"] == f"关于{town.period.label_zh}全市统计系统网络安全监测情况的通报"
    assert draft["addressees"] == "各县、区统计局，市局计算站：" and draft["data"]["totals"]["new"] == 4
    issued = _issue(town, draft["id"])
    year = local_today().year
    assert issued["status"] == "issued" and issued["doc_number"] == f"黄统网安通〔{year}〕1号"
    assert issued["issuer"]["code"] == "341000" and issued["issued_by"].startswith("admin")
    assert {f["kind"] for f in issued["files"]} == {"docx", "xlsx"}
    docx_bytes = town.c.client.get(f"/api/v1/bulletins/{draft['id']}/docx", headers=town.city).content
    assert hashlib.sha256(docx_bytes).hexdigest() == next(
        f["sha256"] for f in issued["files"] if f["kind"] == "docx"
    )

    # new findings of the period change a preview and a draft, never the issued bulletin
    town.finding("she2", "341021", "hardware", "critical", "open", at(town.period, 7), at(town.period, 9))
    later = _draft(town)
    assert later["data"]["totals"]["new"] == 5 and _preview(town).json()["totals"]["new"] == 5
    again = town.c.client.get(f"/api/v1/bulletins/{draft['id']}", headers=town.city).json()
    assert again["data"] == issued["data"] and again["data"]["totals"]["new"] == 4
    assert town.c.client.get(f"/api/v1/bulletins/{draft['id']}/docx", headers=town.city).content == docx_bytes
    xlsx = town.c.client.get(f"/api/v1/bulletins/{draft['id']}/xlsx", headers=town.city)
    assert (
        xlsx.content == town.c.client.get(f"/api/v1/bulletins/{draft['id']}/xlsx", headers=town.city).content
    )
    assert xlsx.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    assert "filename*=UTF-8''" in xlsx.headers["content-disposition"]

    # the sequence runs per issuing unit and year; an issued bulletin does not change again
    assert _issue(town, later["id"])["doc_number"] == f"黄统网安通〔{year}〕2号"
    post, patch = town.c.client.post, town.c.client.patch
    for answer in (
        post(f"/api/v1/bulletins/{draft['id']}/issue", headers=town.city),
        patch(f"/api/v1/bulletins/{draft['id']}", json={"title": "x"}, headers=town.city),
        town.c.client.delete(f"/api/v1/bulletins/{draft['id']}", headers=town.city),
    ):
        assert answer.status_code == 409 and answer.json()["error"] == "already_issued"
    listed = town.c.client.get("/api/v1/bulletins", params={"status": "issued"}, headers=town.city).json()
    assert [b["doc_number"] for b in listed["items"]] == [
        f"黄统网安通〔{year}〕2号",
        f"黄统网安通〔{year}〕1号",
    ]


def test_a_number_taken_meanwhile_is_counted_again(town: Town, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two admins issuing at once: the unique (issuer, year, number) refuses the second, which
    counts again and takes the next number."""
    first = _issue(town, _draft(town)["id"])
    counted: list[int] = []
    real = bulletin_issue._next_seq

    def stale_then_real(session: Any, issuer_id: int, year: int) -> int:
        counted.append(issuer_id)
        return 1 if len(counted) == 1 else real(session, issuer_id, year)

    monkeypatch.setattr(bulletin_issue, "_next_seq", stale_then_real)
    second = _issue(town, _draft(town)["id"])
    year = local_today().year
    assert (first["doc_number"], second["doc_number"]) == (
        f"黄统网安通〔{year}〕1号",
        f"黄统网安通〔{year}〕2号",
    )
    assert len(counted) == 2 and len(_audit(town, "bulletin.issue")) == 2


def test_a_draft_is_edited_or_deleted_and_a_period_is_issued_only_once_it_is_over(town: Town) -> None:
    draft = _draft(
        town, "341021", title="关于歙县网络安全情况的通报", remarks="请于月底前完成整改。\n逾期将约谈。"
    )
    # the city reporting on a county addresses that county
    assert (draft["title"], draft["addressees"]) == ("关于歙县网络安全情况的通报", "歙县统计局：")
    changed = town.c.client.patch(
        f"/api/v1/bulletins/{draft['id']}", json={"addressees": "歙县统计局各股室："}, headers=town.city
    )
    assert changed.status_code == 200 and changed.json()["addressees"] == "歙县统计局各股室："
    assert changed.json()["remarks"] == "请于月底前完成整改。\n逾期将约谈。"
    assert town.c.client.delete(f"/api/v1/bulletins/{draft['id']}", headers=town.city).status_code == 204
    assert town.c.client.get(f"/api/v1/bulletins/{draft['id']}", headers=town.city).status_code == 404
    current = period_containing("month", local_today()).key
    running = town.c.client.post("/api/v1/bulletins", json={"period": current}, headers=town.city).json()
    assert running["unit"]["code"] == "341000"  # the city admin's default: city-wide
    refused = town.c.client.post(f"/api/v1/bulletins/{running['id']}/issue", headers=town.city)
    assert refused.status_code == 409 and refused.json()["error"] == "period_not_over"
    actions = [a.action for a in _audit(town, "bulletin.")]
    assert actions == ["bulletin.draft", "bulletin.update", "bulletin.delete", "bulletin.draft"]


def _audit(town: Town, prefix: str) -> list[AuditLog]:
    with town.c.sessions() as session:
        return list(
            session.scalars(select(AuditLog).where(AuditLog.action.startswith(prefix)).order_by(AuditLog.id))
        )


# -- scope and roles -----------------------------------------------------------------------------
def test_district_admins_issue_for_their_subtree_and_read_only_roles_only_read(town: Town) -> None:
    c = town.c
    she = c.admin_headers("341021", "district_admin")
    auditor = c.admin_headers("341021", "auditor")
    inspector = c.admin_headers("341021", "inspector")
    assert _preview(town, headers=she).json()["unit"]["code"] == "341021"  # default: their own unit
    for unit in ("341000", "341022", "349999"):
        answer = _preview(town, unit, headers=she)
        assert answer.status_code == 404 and answer.json()["error"] == "unknown_unit"
    city_wide = _issue(town, _draft(town)["id"])
    own = _draft(town, "341021", headers=she)
    assert (own["issuer"]["code"], own["addressees"]) == ("341021", "局属各单位：")
    issued = _issue(town, own["id"], headers=she)
    assert issued["doc_number"] == f"统网安通〔{local_today().year}〕1号"  # its own prefix and sequence
    assert "黄山市统计局" not in issued["data"]["units"][0]["name_zh"]
    for read_only in (auditor, inspector):
        assert c.client.get(f"/api/v1/bulletins/{own['id']}", headers=read_only).status_code == 200
        assert c.client.get(f"/api/v1/bulletins/{own['id']}/docx", headers=read_only).status_code == 200
        refused = c.client.post(
            "/api/v1/bulletins", json={"period": town.period.key, "unit": "341021"}, headers=read_only
        )
        assert refused.status_code == 403 and refused.json()["error"] == "read_only"
    for who in (she, auditor):
        hidden = c.client.get(f"/api/v1/bulletins/{city_wide['id']}", headers=who)
        missing = c.client.get("/api/v1/bulletins/2000000000", headers=who)
        assert (
            (hidden.status_code, hidden.json()["error"])
            == (missing.status_code, missing.json()["error"])
            == (404, "unknown_bulletin")
        )
        listed = c.client.get("/api/v1/bulletins", headers=who).json()
        assert [b["id"] for b in listed["items"]] == [own["id"]]
    issues = _audit(town, "bulletin.issue")
    assert [(a.target, a.detail["doc_number"]) for a in issues] == [
        ("unit:341000", city_wide["doc_number"]), ("unit:341021", issued["doc_number"])]  # fmt: skip
    assert all(len(a.detail["sha256"]["docx"]) == 64 for a in issues)
    seen = c.client.get("/api/v1/audit", params={"action": "bulletin.issue"}, headers=auditor).json()
    assert [e["target"] for e in seen["items"]] == ["unit:341021"]


# -- the documents -------------------------------------------------------------------------------
def _fonts(run: Any) -> str:
    return str(run._r.rPr.rFonts.get(qn("w:eastAsia")))


def _table(document: Any, *header: str) -> list[list[str]]:
    for table in document.tables:
        rows = [[cell.text for cell in row.cells] for row in table.rows]
        if tuple(rows[0][: len(header)]) == header:
            return rows
    raise AssertionError(f"no table headed {header!r}")


def test_the_docx_is_an_official_document_whose_tables_match_the_database(town: Town) -> None:
    issued = _issue(town, _draft(town)["id"])
    document = docx.Document(
        io.BytesIO(town.c.client.get(f"/api/v1/bulletins/{issued['id']}/docx", headers=town.city).content)
    )
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert [
        round(m.mm)
        for m in (section.top_margin, section.bottom_margin, section.left_margin, section.right_margin)
    ] == [37, 35, 28, 26]
    texts = [p.text for p in document.paragraphs]
    title = document.paragraphs[texts.index(issued["title"])]
    assert _fonts(title.runs[0]) == "方正小标宋简体" and title.runs[0].font.size == Pt(22)
    assert (
        texts.index(issued["doc_number"])
        < texts.index(issued["title"])
        < texts.index("各县、区统计局，市局计算站：")
    )
    header = document.paragraphs[0]
    assert header.text == "黄山市统计局" and str(header.runs[0].font.color.rgb) == "FF0000"
    assert (
        document.paragraphs[texts.index(issued["doc_number"])]._p.pPr.find(qn("w:pBdr")) is not None
    )  # red rule
    body = next(p for p in document.paragraphs if p.text.startswith("为及时通报"))
    assert _fonts(body.runs[0]) == "仿宋_GB2312" and body.runs[0].font.size == Pt(16)
    assert body.paragraph_format.first_line_indent == Pt(32)
    assert body._p.pPr.ind.get(qn("w:firstLineChars")) == "200"  # 首行缩进 2 字符
    assert next(p for p in document.paragraphs if p.text == "一、总体情况").runs[0].font.name == "黑体"
    signed = chinese_date(local_today())
    assert texts[-2:] == ["黄山市统计局", signed] and re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", signed)
    footer = section.footer._element.xml
    assert (
        "— " in footer and " PAGE " in footer and section.even_page_footer._element.xml.count(" PAGE ") == 1
    )
    assert all(t.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None for t in document.tables)

    categories = {row[0]: tuple(int(v) for v in row[1:]) for row in _table(document, "问题类别")[1:]}
    assert categories == {
        **{CATEGORY_LABELS[k][0]: v for k, v in EXPECTED_CATEGORIES.items()},
        "合计": (4, 1, 6, 3),
    }
    severities = {row[0]: tuple(int(v) for v in row[1:]) for row in _table(document, "问题级别")[1:]}
    assert severities == {
        **{SEVERITY_LABELS[k][0]: v for k, v in EXPECTED_SEVERITIES.items()},
        "合计": (4, 1, 6, 3),
    }
    rectification = {row[0]: row[1:] for row in _table(document, "单位", "新发现")}
    assert rectification["歙县统计局"] == ["3", "0", "4", "2", "0.0%"]
    assert rectification["休宁县统计局"] == ["1", "1", "1", "1", "50.0%"]
    assert rectification["合计"] == ["4", "1", "6", "3", "14.3%"]
    coverage = {row[0]: row[1:] for row in _table(document, "单位", "资产登记终端（台）")}
    assert coverage["歙县统计局"] == ["3", "2", "66.7%"] and coverage["合计"] == ["6", "4", "66.7%"]
    assert coverage["黄山市统计局（本级）"] == ["0", "0", "—"]
    ranking = _table(document, "排名")
    assert len(ranking) == 8 and {row[1] for row in ranking[1:]} >= {"歙县统计局", "休宁县统计局"}
    overdue = _table(document, "序号")
    assert len(overdue) == 4 and [row[6] for row in overdue[1:]] == [
        str(o["days_overdue"]) for o in issued["data"]["overdue"]
    ]


def test_the_xlsx_has_one_sheet_per_table_with_the_same_numbers(town: Town) -> None:
    issued = _issue(town, _draft(town)["id"])
    book = load_workbook(
        io.BytesIO(town.c.client.get(f"/api/v1/bulletins/{issued['id']}/xlsx", headers=town.city).content)
    )
    assert book.sheetnames == ["概况", "按类别", "按级别", "各单位覆盖", "各单位整改", "排名", "逾期问题"]
    summary = {row[0]: row[1] for row in book["概况"].iter_rows(min_row=2, values_only=True)}
    assert summary["文号"] == issued["doc_number"] and summary["新发现问题"] == 4 and summary["其中逾期"] == 3
    assert summary["资产登记终端（台）"] == 6 and summary["覆盖率"] == pytest.approx(4 / 6)
    categories = {row[0]: tuple(row[1:]) for row in book["按类别"].iter_rows(min_row=2, values_only=True)}
    assert categories == {
        **{CATEGORY_LABELS[k][0]: v for k, v in EXPECTED_CATEGORIES.items()},
        "合计": (4, 1, 6, 3),
    }
    units = {row[0]: tuple(row[1:]) for row in book["各单位整改"].iter_rows(min_row=2, values_only=True)}
    assert units["歙县统计局"] == (3, 0, 4, 2, 0) and units["休宁县统计局"] == (1, 1, 1, 1, 0.5)
    she_row = next(row for row in book["各单位整改"].iter_rows(min_row=2) if row[0].value == "歙县统计局")
    assert she_row[5].number_format == "0.0%" and book["各单位整改"]["F2"].value == "—"  # 本级: nothing due
    ranked = [row[1] for row in book["排名"].iter_rows(min_row=2, values_only=True)]
    assert [r["name_zh"] for r in issued["data"]["ranking"]] == ranked


def test_a_draft_downloads_with_its_number_left_blank(town: Town) -> None:
    draft = _draft(town, "341021")
    document = docx.Document(
        io.BytesIO(town.c.client.get(f"/api/v1/bulletins/{draft['id']}/docx", headers=town.city).content)
    )
    texts = [p.text for p in document.paragraphs]
    assert any(re.fullmatch(r"黄统网安通〔\d{4}〕\s+号（草稿）", t) for t in texts), texts[:4]
    assert _audit(town, "bulletin.download")[0].detail == {
        "bulletin": draft["id"],
        "kind": "docx",
        "status": "draft",
    }
