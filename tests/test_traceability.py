"""docs/traceability.md names every requirement ID, and every path it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "traceability.md").read_text(encoding="utf-8")

# The IDs of the mission's REQUIREMENTS.md (kept here so the check needs nothing outside the repo).
REQUIREMENT_IDS = (
    "A9-G",
    "A9-T1",
    "A9-T2.1",
    "A9-T2.2",
    "A9-T2.3",
    "A9-T3.1",
    "A9-T3.2",
    "A9-T3.3",
    "A9-T3.4",
    "A9-T3.5",
    "A9-T3.6",
    "A9-M1",
    "A9-M2.1",
    "A9-M2.2",
    "A9-M2.3",
    "A9-M3",
    "A9-M3.1",
    "A9-M3.2",
    "A9-M3.3",
    "A9-M3.4",
    "A9-M3.5",
    "A9-M4.1",
    "A9-M4.2",
    "A9-M4.3",
    "P-16",
)


def test_every_requirement_has_a_row() -> None:
    rows = {m.group(1) for m in re.finditer(r"^\| (A9-[A-Z0-9.]+|P-16) \|", DOC, re.MULTILINE)}
    assert rows == set(REQUIREMENT_IDS)


def test_requirements_file_beside_the_repo_has_no_other_ids() -> None:
    """When the mission folder is beside the checkout (as in CI), no ID is missing here."""
    mission = ROOT.parent / "shared" / "mission" / "REQUIREMENTS.md"
    if not mission.exists():
        # not a skip: the in-repo list above is the check; this one only guards against drift
        pytest.xfail(f"no mission folder beside the checkout ({mission}) to compare with")
    found = set(re.findall(r"\*\*(A9-[A-Z0-9.]+|P-16)\*\*", mission.read_text(encoding="utf-8")))
    assert found <= set(REQUIREMENT_IDS), f"new requirement IDs to trace: {found - set(REQUIREMENT_IDS)}"


def test_every_named_path_exists() -> None:
    paths = set(
        re.findall(r"`((?:agent|collector|wire|tests|policies|deploy|bench|docs|scripts)/[^`:\s]*)", DOC)
    )
    assert paths
    missing = sorted(p for p in paths if not (ROOT / p.rstrip("/")).exists())
    assert not missing, f"traceability.md names paths that do not exist: {missing}"


def test_named_tests_exist() -> None:
    for path, name in re.findall(r"`(tests/[^`:]+\.py)::(\w+)`", DOC):
        assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), f"{path}::{name}"
