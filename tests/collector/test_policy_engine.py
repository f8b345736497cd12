"""The policy engine (issue 5; A9-T3.4): pack schema, rules compiled against the wire models,
evaluation and evidence, the shipped packs and their examples, and garbage documents.

Database-free: the service on both databases is tested in test_compliance.py.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.policy.expr import Context, version_key
from collector.policy.facts import DEFAULT_HOST
from collector.policy.loader import PackError, default_policies_dir, load_dir, load_pack_text
from collector.policy.schema import schema_text

POLICIES = default_policies_dir()
NOW = datetime(2026, 11, 27, tzinfo=UTC)
TEXT = {"zh": "中文", "en": "English"}


def _pack(
    rule: Any, *, section: str = "antivirus", params: dict[str, Any] | None = None, **check: Any
) -> dict[str, Any]:
    """A one-check pack whose examples are trivially right: the tests call the rule directly."""
    return {
        "pack": "t",
        "version": 1,
        "title": TEXT,
        "description": TEXT,
        "parameters": params or {},
        "checks": [
            {
                "id": "t.c",
                "title": TEXT,
                "description": TEXT,
                "rationale": TEXT,
                "remediation": TEXT,
                "severity": "high",
                "category": "antivirus",
                "requirements": ["A9-M3.2"],
                "section": section,
                "deadline_days": 7,
                "rule": rule,
                "examples": [{"name": "p", "expect": "pass"}, {"name": "f", "expect": "fail"}],
                **check,
            }
        ],
    }


def _compile(rule: Any, **kw: Any) -> Any:
    return load_pack_text(
        yaml.safe_dump(_pack(rule, **kw), allow_unicode=True), run_checks_examples=False
    ).checks[0]


def _base(section: str) -> dict[str, Any]:
    return copy.deepcopy(
        yaml.safe_load((POLICIES / "examples" / f"{section}.yaml").read_text(encoding="utf-8"))
    )


def _run(
    check: Any, doc: Any, params: dict[str, Any] | None = None, host: dict[str, Any] | None = None
) -> tuple[str, list[Any]]:
    return check.evaluate(doc, Context(host={**DEFAULT_HOST, **(host or {})}, params=params or {}, now=NOW))


# -- the format: problems are found when the pack loads, with the check and the path ------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "stat", "eq": "none"}, "AntivirusFacts has no field 'stat'"),
        ({"field": "products.name", "eq": "x"}, "'products' is not an object"),
        ({"field": "state", "eq": "gone"}, "which the field never holds"),
        ({"field": "state", "gt": 3}, "compares"),
        ({"field": "has_antivirus", "matches": "x"}, "needs a text field"),
        ({"field": "state", "matches": "("}, "invalid regular expression"),
        ({"field": "state", "in": "protected"}, "needs a list"),
        ({"every": "state", "check": {"field": "name", "eq": "x"}}, "is not a list"),
        ({"field": ".", "eq": "x"}, "only meaningful inside"),
        ({"field": "state", "eq": {"param": "nope"}}, "parameter 'nope' is not declared"),
        ({"count": "products", "ge": "one"}, "count"),
        (
            {"some": "products", "where": {"field": "signature_date", "older_than_days": "x"}},
            "number of days",
        ),
        ({"field": "@host.nothing", "eq": 1}, "HostFacts has no field 'nothing'"),
    ],
)
def test_a_rule_that_does_not_fit_the_model_is_refused(rule: Any, message: str) -> None:
    with pytest.raises(PackError) as caught:
        load_pack_text(yaml.safe_dump(_pack(rule)), run_checks_examples=False)
    assert message in str(caught.value), str(caught.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p["checks"][0].update(severity="urgent"), "severity"),
        (lambda p: p["checks"][0].update(id="other.c"), "must start with the pack name"),
        (lambda p: p["checks"][0].update(examples=[{"name": "p", "expect": "pass"}]), "expecting fail"),
        (lambda p: p["checks"][0].update(requirements=["ISO-27001"]), "requirements"),
        (lambda p: p["checks"][0].update(section="registry"), "unknown section 'registry'"),
        (lambda p: p["checks"][0].update(colour="red"), "Extra inputs are not permitted"),
        (lambda p: p["checks"][0].update(rule={"alll": []}), "exactly one of all, any"),
        (
            lambda p: p["checks"][0].update(rule={"field": "state", "eq": "none", "ne": "x"}),
            "exactly one operator",
        ),
        (lambda p: p["checks"].append(copy.deepcopy(p["checks"][0])), "used twice"),
        (
            lambda p: p.update(
                parameters={"n": {"type": "int", "default": 0, "min": 1, "description": TEXT}}
            ),
            "below",
        ),
    ],
)
def test_a_malformed_pack_is_refused_with_the_place(mutate: Any, message: str) -> None:
    pack = _pack({"field": "state", "ne": "none"})
    mutate(pack)
    with pytest.raises(PackError) as caught:
        load_pack_text(yaml.safe_dump(pack), run_checks_examples=False)
    assert message in str(caught.value), str(caught.value)


@pytest.mark.parametrize("text", ["", "[1, 2]", "pack: [", "\x00\x01", "a: b"])
def test_garbage_pack_text_is_refused_cleanly(text: str) -> None:
    with pytest.raises(PackError):
        load_pack_text(text)


def test_examples_that_do_not_hold_are_reported() -> None:
    pack = _pack({"field": "state", "eq": "protected"})
    pack["checks"][0]["examples"] = [
        {"name": "should pass", "expect": "pass", "facts": {"state": "at_risk"}},
        {"name": "fails", "expect": "fail", "facts": {"state": "none", "products": []}},
    ]
    with pytest.raises(PackError) as caught:
        load_pack_text(yaml.safe_dump(pack))
    assert "example 'should pass': expected pass, got fail" in str(caught.value)


def test_example_facts_must_be_valid_section_documents() -> None:
    pack = _pack({"field": "state", "eq": "protected"})
    pack["checks"][0]["examples"] = [
        {"name": "bad", "expect": "pass", "facts": {"state": "sunny"}},
        {"name": "fails", "expect": "fail", "facts": {"state": "none", "products": []}},
    ]
    with pytest.raises(PackError) as caught:
        load_pack_text(yaml.safe_dump(pack))
    assert "its facts are not valid" in str(caught.value)


def test_schema_json_is_current() -> None:
    assert (POLICIES / "schema.json").read_text(encoding="utf-8") == schema_text(), (
        "policies/schema.json is stale: python -m collector.policy.schema policies/schema.json"
    )


# -- evaluation and evidence ----------------------------------------------------------------------


def test_comparison_operators() -> None:
    doc = _base("antivirus")
    doc["state"] = "protected"
    cases = [
        ({"field": "state", "eq": "protected"}, True),
        ({"field": "state", "ne": "protected"}, False),
        ({"field": "state", "in": ["protected", "unverified"]}, True),
        ({"field": "state", "not_in": ["protected"]}, False),
        ({"field": "state", "matches": "^PROT", "ignore_case": True}, True),
        ({"field": "state", "matches": ["^x", "ected$"]}, True),
        ({"field": "state", "not_matches": "risk"}, True),
        ({"field": "state", "contains": "tect"}, True),
        ({"field": "state", "empty": False}, True),
        ({"field": "has_antivirus", "eq": True}, True),
    ]
    for rule, expected in cases:
        status, _ = _run(_compile(rule), doc)
        assert status == ("pass" if expected else "fail"), rule


def test_quantifiers_and_evidence_name_the_offending_items() -> None:
    doc = _base("antivirus")
    product = doc["products"][0]
    fresh = {**product, "name": "Fresh AV", "signature_age_days": 1}
    doc["products"] = [product, fresh]
    old = product["signature_age_days"]
    every = _compile(
        {"every": "products", "check": {"field": "signature_age_days", "le": {"param": "n"}}},
        params={"n": {"type": "int", "default": 7, "min": 1, "description": TEXT}},
    )
    status, evidence = _run(every, doc, {"n": 7})
    assert status == "fail"
    assert len(evidence) == 1  # only the stale product, not the fresh one
    assert evidence[0]["path"] == "products"
    assert evidence[0]["item"]["name"] == product["name"]
    assert evidence[0]["facts"] == [
        {"path": "products[].signature_age_days", "op": "le", "expected": 7, "actual": old}
    ]
    assert _run(every, doc, {"n": old})[0] == "pass"  # the parameter decides
    some = _compile({"some": "products", "where": {"field": "name", "eq": "Fresh AV"}})
    assert _run(some, doc)[0] == "pass"
    none = _compile({"none": "products", "where": {"field": "name", "matches": "^Fresh"}})
    status, evidence = _run(none, doc)
    assert status == "fail" and evidence[0]["item"]["name"] == "Fresh AV"
    count = _compile({"count": "products", "where": {"field": "signature_age_days", "lt": 3}, "eq": 1})
    assert _run(count, doc)[0] == "pass"
    doc["products"] = []
    assert _run(every, doc, {"n": 7})[0] == "pass"  # nothing to check: vacuously true
    assert _run(some, doc)[0] == "fail"


def test_null_fails_unless_the_rule_says_otherwise() -> None:
    doc = _base("antivirus")
    doc["products"][0]["signature_age_days"] = None
    strict = _compile({"every": "products", "check": {"field": "signature_age_days", "le": 7}})
    lenient = _compile(
        {"every": "products", "check": {"field": "signature_age_days", "le": 7, "if_null": "pass"}}
    )
    assert _run(strict, doc)[0] == "fail"
    assert _run(lenient, doc)[0] == "pass"
    assert (
        _run(_compile({"every": "products", "check": {"field": "signature_age_days", "is_null": True}}), doc)[
            0
        ]
        == "pass"
    )


def test_dates_versions_and_host_facts() -> None:
    doc = _base("antivirus")
    doc["products"][0]["last_full_scan"] = "2026-11-20T00:00:00Z"
    recent = _compile({"every": "products", "check": {"field": "last_full_scan", "within_days": 7}})
    assert _run(recent, doc)[0] == "pass"
    doc["products"][0]["last_full_scan"] = "2026-11-19T23:00:00Z"
    assert _run(recent, doc)[0] == "fail"
    stale = _compile({"every": "products", "check": {"field": "last_full_scan", "older_than_days": 30}})
    assert _run(stale, doc)[0] == "fail"
    assert version_key("4.18.10") > version_key("4.18.9") > version_key("4.18")
    assert version_key("1.0a") < version_key("1.0.1")
    newer = _compile({"every": "products", "check": {"field": "product_version", "version_ge": "4.18.2000"}})
    doc["products"][0]["product_version"] = "4.18.26070.9"
    assert _run(newer, doc)[0] == "pass"
    doc["products"][0]["product_version"] = "4.18.1909.6"
    assert _run(newer, doc)[0] == "fail"
    internal = _compile({"field": "@host.tags", "contains": "internal-network"})
    assert _run(internal, doc, host={"tags": ["internal-network"]})[0] == "pass"
    assert _run(internal, doc)[0] == "fail"
    silent = _compile(
        {"field": "days_silent", "le": 7, "if_null": "pass"}, section="host", category="availability"
    )
    assert _run(silent, {**DEFAULT_HOST, "days_silent": 9})[0] == "fail"
    assert _run(silent, {**DEFAULT_HOST, "days_silent": None})[0] == "pass"


def test_applies_gives_not_applicable() -> None:
    check = _compile(
        {"field": "state", "eq": "protected"}, applies={"field": "@host.os_family", "eq": "windows"}
    )
    doc = _base("antivirus")
    assert _run(check, doc, host={"os_family": "linux"}) == ("not_applicable", [])
    assert _run(check, doc, host={"os_family": "windows"})[0] in ("pass", "fail")


def test_not_and_any_keep_the_facts() -> None:
    doc = _base("antivirus")
    doc["state"] = "none"
    check = _compile(
        {"any": [{"field": "state", "eq": "protected"}, {"not": {"field": "state", "eq": "none"}}]}
    )
    status, evidence = _run(check, doc)
    assert status == "fail"
    assert {"path": "state", "op": "eq", "expected": "protected", "actual": "none"} in evidence
    assert any(e.get("negated") for e in evidence)


# -- the shipped packs -----------------------------------------------------------------------------


def test_every_shipped_pack_loads_and_every_example_holds() -> None:
    packs, errors = load_dir(POLICIES)
    assert not errors, "\n".join(str(e) for e in errors)
    assert packs, "no packs in policies/packs"
    for pack in packs:
        for check in pack.checks:
            assert {e.expect for e in check.check.examples} >= {"pass", "fail"}, check.id


def test_policies_check_command(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "collector.cli", "policies", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "ok " in ok.stdout
    (tmp_path / "broken.yaml").write_text(
        yaml.safe_dump(_pack({"field": "stat", "eq": "x"})), encoding="utf-8"
    )
    bad = subprocess.run(
        [sys.executable, "-m", "collector.cli", "policies", "check", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "t.c:" in bad.stderr and "no field 'stat'" in bad.stderr


# -- garbage: compiled rules never raise on any JSON document --------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)


def _shipped_checks() -> list[Any]:
    packs, _ = load_dir(POLICIES)
    return [c for p in packs for c in p.checks]


@settings(max_examples=150, deadline=None)
@given(garbage=_json, data=st.data())
def test_rules_survive_garbage_documents(garbage: Any, data: st.DataObject) -> None:
    checks = _shipped_checks()
    if not checks:
        return
    check = data.draw(st.sampled_from(checks))
    base = _base(check.section) if check.section != "host" else dict(DEFAULT_HOST)
    key = data.draw(st.sampled_from(sorted(base) or ["x"]))
    doc = data.draw(st.sampled_from([garbage, {**base, key: garbage}]))
    packs, _ = load_dir(POLICIES)
    params = next(p.defaults() for p in packs if p.name == check.pack)
    status, _ = check.evaluate(doc, Context(host=DEFAULT_HOST, params=params, now=NOW))
    assert status in ("pass", "fail", "not_applicable")


def test_a_failing_some_says_why_each_item_did_not_match() -> None:
    doc = _base("antivirus")
    check = _compile({"some": "products", "where": {"field": "real_time_protection", "eq": True}})
    doc["products"][0]["real_time_protection"] = False
    status, evidence = _run(check, doc)
    assert status == "fail"
    assert evidence[0] == {"path": "products", "op": "some", "actual": 0}
    assert evidence[1]["item"]["name"] == doc["products"][0]["name"]
    assert evidence[1]["facts"][0]["actual"] is False


def test_host_facts_carry_the_os_name_and_version() -> None:
    check = _compile({"field": "@host.os_name", "not_matches": "Windows 7"})
    doc = _base("antivirus")
    assert _run(check, doc, host={"os_name": "Microsoft Windows 7 旗舰版"})[0] == "fail"
    assert _run(check, doc)[0] == "pass"


def test_policies_check_reads_the_examples_beside_the_packs(tmp_path: Path) -> None:
    (tmp_path / "packs").mkdir()
    (tmp_path / "examples").mkdir()
    pack = _pack({"field": "state", "eq": "protected"})
    pack["checks"][0]["examples"] = [
        {"name": "base", "expect": "pass"},
        {"name": "f", "expect": "fail", "facts": {"state": "none", "products": []}},
    ]
    (tmp_path / "packs" / "t.yaml").write_text(yaml.safe_dump(pack), encoding="utf-8")
    base = _base("antivirus")
    base["state"] = "protected"
    (tmp_path / "examples" / "antivirus.yaml").write_text(
        yaml.safe_dump(base, allow_unicode=True), encoding="utf-8"
    )
    packs, errors = load_dir(tmp_path)
    assert not errors and [p.name for p in packs] == ["t"]
    base["state"] = "at_risk"  # the shipped base is at risk: the same pack fails its pass example there
    (tmp_path / "examples" / "antivirus.yaml").write_text(
        yaml.safe_dump(base, allow_unicode=True), encoding="utf-8"
    )
    _, errors = load_dir(tmp_path)
    assert errors and "expected pass, got fail" in str(errors[0])
