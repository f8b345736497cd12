"""The licensed-software catalogue and seat usage (issue 5; A9-T3.1, A9-M3.1).

The shipped catalogue (policies/catalogue/licensed-software.yaml) loads and recognises real
program names; seat_usage() counts, per unit and title, the distinct active hosts of the unit
itself from reports posted through the agent API, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from agent.probes.software import parse_dpkg_status
from collector.db.models import Host
from collector.policy.catalogue import (
    Catalogue,
    SeatUsage,
    load_catalogue,
    parse_catalogue,
    seat_usage,
)
from collector.services.org import SEED_UNITS
from tests.support.collector import SAMPLE_REPORT, CollectorUnderTest, make_report, node_auth
from wire import content_hash
from wire.sections import OsFacts, SoftwareFacts

FIX = Path(__file__).resolve().parents[1] / "fixtures"
DPKG = (FIX / "linux/debian12-dpkg/var_lib_dpkg_status.excerpt").read_text()
UNIT_CODES = {u.code for u in SEED_UNITS}


def _title(catalogue: Catalogue, title_id: str) -> Any:
    return next(t for t in catalogue.titles if t.id == title_id)


# -- the catalogue file ---------------------------------------------------------------------------


def test_the_shipped_catalogue_loads_with_seats_for_known_units_only() -> None:
    catalogue = load_catalogue()
    assert catalogue.catalogue == "licensed-software" and catalogue.version >= 1
    ids = [t.id for t in catalogue.titles]
    assert {"windows_desktop", "microsoft_office", "wps_office_pro", "ibm_spss_statistics"} <= set(ids)
    for title in catalogue.titles:
        assert set(title.seats) <= UNIT_CODES, title.id
        assert title.name.zh and title.name.en


@pytest.mark.parametrize(
    ("title_id", "name", "publisher", "counted"),
    [
        ("microsoft_office", "Microsoft Office Professional Plus 2016", "Microsoft Corporation", True),
        ("microsoft_office", "Microsoft Office 专业增强版 2019 - zh-cn", "Microsoft Corporation", True),
        (
            "microsoft_office",
            "Microsoft Office Proofing (Chinese (Simplified)) 2016",
            "Microsoft Corporation",
            False,
        ),
        ("microsoft_office", "Microsoft Office Professional Plus 2016", "", False),  # publisher required
        ("wps_office_pro", "WPS Office 2019 专业版", "Kingsoft Corp.", True),
        ("wps_office_pro", "WPS Office (11.1.0.14309)", "Kingsoft Corp.", False),  # free personal edition
        ("ibm_spss_statistics", "IBM SPSS Statistics 26", "IBM Corp.", True),
        ("qianxin_tianqing", "奇安信天擎终端安全管理系统", "奇安信网神信息技术(北京)股份有限公司", True),
        (
            "adobe_acrobat",
            "Adobe Acrobat Reader DC - Chinese Simplified",
            "Adobe Systems Incorporated",
            False,
        ),
        ("adobe_acrobat", "Adobe Acrobat DC", "Adobe Systems Incorporated", True),
    ],
)
def test_titles_recognise_real_program_names(title_id: str, name: str, publisher: str, counted: bool) -> None:
    title = _title(load_catalogue(), title_id)
    assert title.matches_program(name, publisher, "application") is counted


def test_windows_is_recognised_by_the_os_name_and_server_apart() -> None:
    catalogue = load_catalogue()
    desktop, server = _title(catalogue, "windows_desktop"), _title(catalogue, "windows_server")
    assert desktop.matches_os("Windows 10 专业版 22H2 (build 19045)")
    assert desktop.matches_os("Microsoft Windows 11 Pro")
    assert not desktop.matches_os("Windows Server 2016 Datacenter (build 14393)")
    assert server.matches_os("Windows Server 2016 Datacenter (build 14393)")
    assert server.matches_os(
        "Microsoft(R) Windows(R) Server 2003 Datacenter x64 Edition Service Pack 2 (build 3790)"
    )
    assert not server.matches_os("Debian GNU/Linux 12 (bookworm)")


_MINIMAL = "catalogue: licensed-software\nversion: 1\ntitles:\n"


@pytest.mark.parametrize(
    ("title", "error"),
    [
        (
            "  - {id: x, name: {zh: X, en: X}, software: [{name: X}], seats: {'341021': 1}, colour: red}\n",
            "colour",
        ),
        (
            "  - {id: x, name: {zh: X, en: X}, software: [{name: '(unclosed'}]}\n",
            "invalid regular expression",
        ),
        ("  - {id: x, name: {zh: X, en: X}}\n", "needs at least one"),
        ("  - {id: x, name: {zh: X, en: X}, os: [Windows], seats: {'34-21': 1}}\n", "seats"),
        ("  - {id: x, name: {zh: X, en: X}, os: [Windows], seats: {'341021': -1}}\n", "seats"),
        (
            "  - {id: x, name: {zh: X, en: X}, os: [A]}\n  - {id: x, name: {zh: Y, en: Y}, os: [B]}\n",
            "used twice",
        ),
    ],
)
def test_a_bad_catalogue_is_refused_with_the_reason(title: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        parse_catalogue(_MINIMAL + title)


# -- seat usage from posted reports ---------------------------------------------------------------


def _program(name: str, publisher: str, version: str = "1.0") -> dict[str, Any]:
    return {"name": name, "version": version, "publisher": publisher, "source": "registry"}


def _sections(programs: list[dict[str, Any]], os_data: dict[str, Any] | None = None) -> dict[str, Any]:
    items = [item.model_dump(mode="json") for item in parse_dpkg_status(DPKG)] + programs
    raw = {"items": items, "unnamed_entries": 0, "sources": ["dpkg", "HKLM 64-bit"], "note": ""}
    data = SoftwareFacts.model_validate(raw).model_dump(mode="json")
    sections: dict[str, Any] = copy.deepcopy(SAMPLE_REPORT["sections"])
    sections["software"] = {
        "status": "ok",
        "data": data,
        "content_hash": content_hash(data),
        "errors": [],
        "reason": "",
    }
    if os_data is not None:
        os_doc = OsFacts.model_validate(os_data).model_dump(mode="json")
        sections["os"] = {
            "status": "ok",
            "data": os_doc,
            "content_hash": content_hash(os_doc),
            "errors": [],
            "reason": "",
        }
    return sections


def _windows_os(hostname: str, caption: str) -> dict[str, Any]:
    """The os section of a Windows host (shape of the replayed PowerShell reader)."""
    return {
        "family": "windows",
        "name": caption,
        "version": "22H2",
        "pretty_name": f"{caption} 22H2 (build 19045)",
        "build": "19045",
        "architecture": "x86_64",
        "kernel": "10.0.19045",
        "hostname": hostname,
        "domain": "WORKGROUP",
        "domain_kind": "workgroup",
        "edition": "Professional",
    }


def _post(
    collector: CollectorUnderTest,
    unit: str,
    hostname: str,
    programs: list[dict[str, Any]],
    os_data: dict[str, Any] | None = None,
) -> uuid.UUID:
    agent_id, key = collector.enroll(unit=unit, hostname=hostname)
    report = make_report(agent_id, hostname=hostname, sections=_sections(programs, os_data))
    answer = collector.client.post("/api/v1/reports", json=report, headers=node_auth(key))
    assert answer.status_code == 200, answer.text
    return agent_id


SPSS = _program("IBM SPSS Statistics 26", "IBM Corp.", "26.0.0.0")
OFFICE = _program("Microsoft Office Professional Plus 2016", "Microsoft Corporation", "16.0.4266.1001")
PROOFING = _program("Microsoft Office Proofing (Chinese (Simplified)) 2016", "Microsoft Corporation")


def _usage(collector: CollectorUnderTest) -> dict[tuple[str, str], SeatUsage]:
    with collector.sessions() as session:
        return {(u.title_id, u.unit_code): u for u in seat_usage(session, load_catalogue())}


def test_seat_usage_counts_distinct_active_hosts_of_the_unit_itself(collector: CollectorUnderTest) -> None:
    she_1 = _post(
        collector,
        "341021",
        "she-tj-pc01",
        [SPSS, OFFICE, {**OFFICE, "scope": "user", "user": "S-1-5-21-1-2-3-1001"}],
    )
    _post(collector, "341021", "she-tj-pc02", [SPSS, PROOFING])
    retired = _post(collector, "341021", "she-tj-pc03", [SPSS, OFFICE])
    _post(collector, "341022", "xn-tj-pc01", [SPSS])
    _post(
        collector, "341022", "xn-tj-pc02", [_program("IBM SPSS Statistics 26", "某破解小组")]
    )  # wrong publisher
    _post(
        collector, "341000-JSZ", "jsz-srv01", [], _windows_os("jsz-srv01", "Windows Server 2016 Datacenter")
    )
    _post(collector, "341000-JSZ", "jsz-pc01", [], _windows_os("jsz-pc01", "Windows 10 专业版"))
    with collector.sessions() as session:
        host_id = session.scalar(select(Host.id).where(Host.agent_id == retired))
    answer = collector.client.post(f"/api/v1/hosts/{host_id}/retire", headers=collector.admin_headers())
    assert answer.status_code == 200, answer.text

    usage = _usage(collector)
    she = usage[("ibm_spss_statistics", "341021")]
    assert (she.seats, she.installed, she.over_use, she.excess) == (
        1,
        2,
        True,
        1,
    )  # the retired PC not counted
    xiuning = usage[("ibm_spss_statistics", "341022")]
    assert (xiuning.seats, xiuning.installed, xiuning.over_use) == (0, 1, True)  # no licence there at all
    city = usage[("ibm_spss_statistics", "341000")]
    assert (city.seats, city.installed, city.over_use) == (
        6,
        0,
        False,
    )  # the county's hosts are not the city's
    office = usage[("microsoft_office", "341021")]
    assert (office.installed, office.over_use) == (
        1,
        False,
    )  # two entries, one host; proofing tools alone not Office
    with collector.sessions() as session:
        she_1_id = session.scalar(select(Host.id).where(Host.agent_id == she_1))
    assert office.host_ids == (she_1_id,)
    assert usage[("windows_server", "341000-JSZ")].installed == 1
    assert usage[("windows_desktop", "341000-JSZ")].installed == 1
    assert usage[("windows_desktop", "341021")].installed == 0  # Debian PCs (the sample os section)


def test_every_unit_with_seats_is_listed_even_without_hosts(collector: CollectorUnderTest) -> None:
    usage = _usage(collector)
    catalogue = load_catalogue()
    expected = {(t.id, code) for t in catalogue.titles for code in t.seats}
    assert set(usage) == expected
    assert not any(u.over_use for u in usage.values())
    order = [(u.title_id, u.unit_code) for u in usage.values()]
    assert order == sorted(order, key=lambda k: ([t.id for t in catalogue.titles].index(k[0]), k[1]))


def test_the_catalogue_file_is_plain_data() -> None:
    """YAML with only mappings, lists, strings and numbers: nothing a loader could execute."""
    text = (Path(__file__).resolve().parents[2] / "policies/catalogue/licensed-software.yaml").read_text()
    assert "!!" not in text
    assert json.loads(json.dumps(parse_catalogue(text).model_dump(mode="json")))
