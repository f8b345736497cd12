"""Wire contract v1: strict, bounded, self-consistent; the section registry is complete."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel, ValidationError

import wire
from wire import SECTION_MODELS, AgentConfig, EnrollRequest, Event, EventBatch, Report, Sections
from wire.limits import MAX_EVENTS_PER_BATCH

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "tests/fixtures/reports/debian12-vm-full.json").read_text())


def test_every_section_model_is_a_field_of_sections() -> None:
    assert set(Sections.model_fields) == set(SECTION_MODELS)


def _models(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = {model}
    for info in model.model_fields.values():
        for arg in (info.annotation, *get_args(info.annotation)):
            for inner in (arg, *get_args(arg)):
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in found:
                    found |= _models(inner)
    return found


def test_every_section_field_has_a_description() -> None:
    """Like osquery's table columns: each field says in one line what it holds."""
    for model in SECTION_MODELS.values():
        for sub in _models(model):
            missing = [f for f, info in sub.model_fields.items() if not info.description]
            assert not missing, f"{sub.__name__}: describe {missing}"


def test_real_report_validates_and_round_trips() -> None:
    report = Report.model_validate(SAMPLE)
    again = Report.model_validate_json(report.model_dump_json())
    assert again == report
    assert report.sections.present().keys() == {"os", "hardware", "network"}


def test_unknown_fields_are_rejected_everywhere() -> None:
    bad = copy.deepcopy(SAMPLE)
    bad["sections"]["hardware"]["data"]["cpu"]["turbo"] = True
    with pytest.raises(ValidationError, match="turbo"):
        Report.model_validate(bad)
    bad = copy.deepcopy(SAMPLE)
    bad["sections"]["bogus"] = None
    with pytest.raises(ValidationError, match="bogus"):
        Report.model_validate(bad)


def test_content_hash_must_match_data() -> None:
    bad = copy.deepcopy(SAMPLE)
    bad["sections"]["os"]["data"]["hostname"] = "other"
    with pytest.raises(ValidationError, match="content_hash does not match"):
        Report.model_validate(bad)


def test_delta_needs_base_and_full_has_none() -> None:
    delta = {**SAMPLE, "kind": "delta"}
    with pytest.raises(ValidationError, match="base_state_hash"):
        Report.model_validate(delta)
    with pytest.raises(ValidationError, match="full report carries no base"):
        Report.model_validate({**SAMPLE, "base_state_hash": "0" * 64})


def test_timestamps_need_an_offset() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        Report.model_validate({**SAMPLE, "collected_at": "2026-11-27T08:00:00"})
    shanghai = Report.model_validate({**SAMPLE, "collected_at": "2026-11-27T16:00:00+08:00"})
    assert shanghai.collected_at.isoformat() == "2026-11-27T08:00:00+00:00"


def test_sizes_are_bounded() -> None:
    event = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-27T08:00:00Z",
        "kind": "log.x",
        "source": "s",
        "summary": "s",
    }
    with pytest.raises(ValidationError):
        EventBatch.model_validate(
            {"agent_id": str(uuid.uuid4()), "events": [event] * (MAX_EVENTS_PER_BATCH + 1)}
        )
    with pytest.raises(ValidationError):
        Event.model_validate({**event, "summary": "x" * 5000})
    with pytest.raises(ValidationError):
        EnrollRequest.model_validate(
            {
                "enroll_secret": "short",
                "agent_id": str(uuid.uuid4()),
                "agent_version": "1",
                "hostname": "h",
                "os_family": "linux",
            }
        )
    with pytest.raises(ValidationError):
        AgentConfig(report_interval_seconds=1)


def test_wire_exports_are_importable() -> None:
    for name in wire.__all__:
        assert hasattr(wire, name)


def test_docs_example_payload_is_valid() -> None:
    """docs/wire.md embeds a real report; it must stay valid as the contract changes."""
    text = (ROOT / "docs/wire.md").read_text(encoding="utf-8")
    start = text.index("```json report-example")
    body = text[text.index("\n", start) + 1 : text.index("```", start + 10)]
    Report.model_validate_json(body)
