"""Report assembly: full and delta reports, state hashes, a failing probe (STYLE rule 3)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agent.host import HostContext
from agent.probes import PROBES, Probe
from agent.probes.base import Collected
from agent.scan import build_report, scan_sections, section_hashes
from wire import state_hash
from wire.sections import SECTION_MODELS


def test_registry_covers_every_section_model_and_probe_module() -> None:
    import pkgutil

    import agent.probes as package

    assert set(PROBES) == set(SECTION_MODELS)
    modules = {m.name for m in pkgutil.iter_modules(package.__path__)} - {"base"}
    modules = {m for m in modules if not m.endswith(("_windows", "_linux"))}  # platform variants
    registered = {
        reader.__module__.rsplit(".", 1)[1].removesuffix("_windows").removesuffix("_linux")
        for p in PROBES.values()
        for reader in p.collectors.values()
    }
    assert modules == registered, "a probe module is not in agent.probes.PROBES"


def test_scan_reads_every_section_on_linux() -> None:
    sections = scan_sections(HostContext())
    expected = {n: "ok" if "linux" in PROBES[n].collectors else "skipped" for n in SECTION_MODELS}
    assert {n: s["status"] for n, s in sections.items()} == expected
    assert all(sections[n]["reason"] for n, status in expected.items() if status == "skipped")


def test_failing_probe_becomes_an_error_entry_and_the_scan_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(_ctx: HostContext) -> Collected:
        raise RuntimeError("sysfs vanished")

    monkeypatch.setitem(PROBES, "hardware", Probe("hardware", "broken", {"linux": boom}))
    sections = scan_sections(HostContext())
    assert sections["hardware"]["status"] == "error"
    assert "sysfs vanished" in sections["hardware"]["reason"]
    assert sections["os"]["status"] == "ok"
    report = build_report(uuid.uuid4(), sections)
    assert report.sections.hardware is not None and report.sections.hardware.status == "error"


def test_probe_without_a_reader_for_the_platform_says_why() -> None:
    sections = scan_sections(HostContext(), ["os"], platform="plan9")
    assert sections["os"]["status"] == "skipped"
    assert "plan9" in sections["os"]["reason"]


def _sections() -> dict[str, dict[str, Any]]:
    return scan_sections(HostContext())


def test_first_report_is_full_then_unchanged_delta_is_empty() -> None:
    agent_id = uuid.uuid4()
    sections = _sections()
    full = build_report(agent_id, sections)
    assert full.kind == "full" and full.base_state_hash is None
    acked = section_hashes(sections)
    delta = build_report(agent_id, sections, acked=acked)
    assert delta.kind == "delta" and delta.sections.present() == {}
    assert delta.base_state_hash == delta.state_hash == full.state_hash


def test_delta_carries_only_changed_sections() -> None:
    sections = _sections()
    acked = section_hashes(sections)
    acked["network"] = "0" * 64
    delta = build_report(uuid.uuid4(), sections, acked=acked)
    assert set(delta.sections.present()) == {"network"}
    assert delta.base_state_hash == state_hash(acked)
    assert delta.state_hash == state_hash(section_hashes(sections))


def test_a_section_that_stays_skipped_is_not_resent_but_a_new_skip_is() -> None:
    sections = _sections()
    assert sections["licensing"]["status"] == "skipped"  # no OS activation on Linux
    acked = section_hashes(sections)
    assert "licensing" not in acked
    assert build_report(uuid.uuid4(), sections, acked=acked).sections.present() == {}
    sections["antivirus"] = {"status": "skipped", "reason": "disabled here"}
    delta = build_report(uuid.uuid4(), sections, acked=acked)
    assert set(delta.sections.present()) == {"antivirus"}  # the collector must drop what it holds
    assert delta.state_hash == state_hash({n: h for n, h in acked.items() if n != "antivirus"})


def test_state_hash_keeps_last_good_hash_of_a_failed_section() -> None:
    sections = _sections()
    acked = section_hashes(sections)
    sections["hardware"] = {"status": "error", "reason": "x", "errors": []}
    for report in (
        build_report(uuid.uuid4(), sections, acked=acked),
        build_report(uuid.uuid4(), sections, acked=acked, force_full=True),
    ):
        assert report.state_hash == state_hash(acked)
