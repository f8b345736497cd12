"""The policy pack format (issue 5; A9-T3.4): pydantic models, ``extra="forbid"`` everywhere.

A pack is YAML (policies/packs/<pack>.yaml); ``policies/schema.json`` is generated from these
models (``python -m collector.policy.schema policies/schema.json``; a test keeps it current)
so that editors can validate packs as they are written. docs/policies.md is the guide.

Rules are expressions: a mapping with exactly one operator key. The union is discriminated
by that key, so a mistake is reported against the operator the author meant.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    field_validator,
    model_validator,
)

from collector.policy.meta import SEVERITIES

__all__ = [
    "CATEGORIES",
    "COMPARE_OPS",
    "COUNT_OPS",
    "AllOf",
    "AnyOf",
    "Check",
    "Compare",
    "Count",
    "Every",
    "Example",
    "Expr",
    "NoneOf",
    "Not",
    "Pack",
    "Param",
    "ParamRef",
    "Some",
    "Text2",
]

CATEGORIES = (
    "licensing",
    "antivirus",
    "patches",
    "hardware",
    "security_config",
    "logs",
    "availability",
    "vpn",
)
#: Comparison operators (at most one per comparison).
COMPARE_OPS = (
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "in",
    "not_in",
    "matches",
    "not_matches",
    "contains",
    "version_lt",
    "version_le",
    "version_gt",
    "version_ge",
    "older_than_days",
    "within_days",
    "is_null",
    "empty",
)
COUNT_OPS = ("eq", "ne", "lt", "le", "gt", "ge")
_ID = r"^[a-z][a-z0-9_]*$"
_CHECK_ID = r"^[a-z][a-z0-9_]*\.[a-z0-9][a-z0-9_.-]*$"
_REQ = r"^(A9-[A-Z][A-Za-z0-9.-]*|P-\d+)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text2(_Strict):
    """A text in zh-CN and English."""

    zh: str = Field(min_length=1, max_length=2000)
    en: str = Field(min_length=1, max_length=2000)


class ParamRef(_Strict):
    """An operand taken from a pack parameter (after the unit's overrides)."""

    param: str = Field(pattern=_ID, max_length=64)


Scalar = StrictBool | StrictInt | StrictFloat | str | None
Literal_ = Scalar | list[StrictBool | StrictInt | StrictFloat | str]
Operand = ParamRef | Literal_


class AllOf(_Strict):
    all: list[Expr] = Field(min_length=1, max_length=64)


class AnyOf(_Strict):
    any: list[Expr] = Field(min_length=1, max_length=64)


class Not(_Strict):
    not_: Expr = Field(alias="not")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Compare(_Strict):
    """``{field: <path>, <op>: <operand>}``; a null value fails unless ``if_null: pass``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    field: str = Field(min_length=1, max_length=200)
    eq: Operand = None
    ne: Operand = None
    lt: Operand = None
    le: Operand = None
    gt: Operand = None
    ge: Operand = None
    in_: Operand = Field(default=None, alias="in")
    not_in: Operand = None
    matches: Operand = None
    not_matches: Operand = None
    contains: Operand = None
    version_lt: Operand = None
    version_le: Operand = None
    version_gt: Operand = None
    version_ge: Operand = None
    older_than_days: Operand = None
    within_days: Operand = None
    is_null: StrictBool | None = None
    empty: StrictBool | None = None
    if_null: Literal["pass", "fail"] = "fail"
    ignore_case: StrictBool = False

    @model_validator(mode="after")
    def _one_operator(self) -> Compare:
        given = self.operators()
        if len(given) != 1:
            raise ValueError(
                f"a comparison on {self.field!r} needs exactly one operator of {', '.join(COMPARE_OPS)}; "
                f"found {given or 'none'}"
            )
        return self

    def operators(self) -> list[str]:
        names = {"in_": "in"}
        return [names.get(k, k) for k in self.model_fields_set if names.get(k, k) in COMPARE_OPS]

    @property
    def op(self) -> str:
        return self.operators()[0]

    @property
    def operand(self) -> Any:
        return getattr(self, "in_" if self.op == "in" else self.op)


class Every(_Strict):
    """Every item of a list (those matching ``where``) satisfies ``check``."""

    every: str = Field(min_length=1, max_length=200)
    where: Expr | None = None
    check: Expr


class Some(_Strict):
    """At least one item of a list matches ``where``."""

    some: str = Field(min_length=1, max_length=200)
    where: Expr | None = None


class NoneOf(_Strict):
    """No item of a list matches ``where`` (forbidden things; evidence: the items that match)."""

    none: str = Field(min_length=1, max_length=200)
    where: Expr


class Count(_Strict):
    """The number of (matching) items compared with a number: ``{count: <path>, ge: 1}``."""

    count: str = Field(min_length=1, max_length=200)
    where: Expr | None = None
    eq: StrictInt | ParamRef | None = None
    ne: StrictInt | ParamRef | None = None
    lt: StrictInt | ParamRef | None = None
    le: StrictInt | ParamRef | None = None
    gt: StrictInt | ParamRef | None = None
    ge: StrictInt | ParamRef | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Count:
        if len(self.operators()) != 1:
            raise ValueError(f"a count over {self.count!r} needs exactly one of {', '.join(COUNT_OPS)}")
        return self

    def operators(self) -> list[str]:
        return [k for k in self.model_fields_set if k in COUNT_OPS]

    @property
    def op(self) -> str:
        return self.operators()[0]

    @property
    def operand(self) -> Any:
        return getattr(self, self.op)


_KINDS = {
    "all": "all",
    "any": "any",
    "not": "not",
    "every": "every",
    "some": "some",
    "none": "none",
    "count": "count",
}


def _expr_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            AllOf: "all",
            AnyOf: "any",
            Not: "not",
            Every: "every",
            Some: "some",
            NoneOf: "none",
            Count: "count",
            Compare: "compare",
        }.get(type(value))
    if not isinstance(value, dict):
        return None
    keys = [k for k in value if k in _KINDS]
    if len(keys) == 1:
        return _KINDS[keys[0]]
    if not keys and "field" in value:
        return "compare"
    return None


Expr = Annotated[
    Union[  # noqa: UP007 - the tagged members read better one per line
        Annotated[AllOf, Tag("all")],
        Annotated[AnyOf, Tag("any")],
        Annotated[Not, Tag("not")],
        Annotated[Every, Tag("every")],
        Annotated[Some, Tag("some")],
        Annotated[NoneOf, Tag("none")],
        Annotated[Count, Tag("count")],
        Annotated[Compare, Tag("compare")],
    ],
    Discriminator(
        _expr_kind,
        custom_error_type="expression",
        custom_error_message="an expression is a mapping with exactly one of all, any, not, every, some, "
        "none, count, or a comparison {field: ..., <op>: ...}",
    ),
]

for _model in (AllOf, AnyOf, Not, Every, Some, NoneOf):
    _model.model_rebuild()


class Param(_Strict):
    """A threshold an admin may change per unit."""

    type: Literal["int", "float", "str", "bool", "str_list"]
    default: StrictBool | StrictInt | StrictFloat | str | list[str]
    min: StrictInt | StrictFloat | None = None
    max: StrictInt | StrictFloat | None = None
    description: Text2

    @model_validator(mode="after")
    def _default_fits(self) -> Param:
        validate_param_value(self, self.default, "default")
        return self


def validate_param_value(param: Param, value: Any, where: str = "value") -> Any:
    """The value, checked against the parameter's type and bounds; ValueError otherwise."""
    kind = param.type
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "str_list": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        raise ValueError(f"{where} must be of type {kind}, got {value!r}")
    if kind in ("int", "float"):
        if param.min is not None and value < param.min:
            raise ValueError(f"{where} {value} is below the minimum {param.min}")
        if param.max is not None and value > param.max:
            raise ValueError(f"{where} {value} is above the maximum {param.max}")
    if kind == "str_list" and len(value) > 500:
        raise ValueError(f"{where} has more than 500 entries")
    return value


class Example(_Strict):
    """Facts a check must pass or fail on; run by `policies check` and the test suite."""

    name: str = Field(min_length=1, max_length=200)
    expect: Literal["pass", "fail", "not_applicable"]
    facts: dict[str, Any] = Field(default_factory=dict)
    host: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    now: datetime | None = None


class Check(_Strict):
    id: str = Field(pattern=_CHECK_ID, max_length=96)
    title: Text2
    description: Text2
    rationale: Text2
    remediation: Text2
    severity: Literal["info", "low", "medium", "high", "critical"]
    category: Literal[
        "licensing", "antivirus", "patches", "hardware", "security_config", "logs", "availability", "vpn"
    ]
    requirements: list[Annotated[str, Field(pattern=_REQ)]] = Field(min_length=1, max_length=16)
    section: str = Field(pattern=_ID, max_length=32)
    deadline_days: int = Field(ge=1, le=365)
    enabled: bool = True
    applies: Expr | None = None
    rule: Expr
    examples: list[Example] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _both_outcomes(self) -> Check:
        expected = {e.expect for e in self.examples}
        missing = {"pass", "fail"} - expected
        if missing:
            raise ValueError(
                f"check {self.id} needs at least one example expecting {' and '.join(sorted(missing))}"
            )
        return self


class Pack(_Strict):
    pack: str = Field(pattern=_ID, max_length=64)
    version: int = Field(ge=1)
    title: Text2
    description: Text2
    parameters: dict[Annotated[str, Field(pattern=_ID, max_length=64)], Param] = Field(default_factory=dict)
    checks: list[Check] = Field(min_length=1, max_length=200)

    @field_validator("checks")
    @classmethod
    def _unique_ids(cls, checks: list[Check]) -> list[Check]:
        seen: set[str] = set()
        for check in checks:
            if check.id in seen:
                raise ValueError(f"check id {check.id} is used twice")
            seen.add(check.id)
        return checks

    @model_validator(mode="after")
    def _ids_in_pack(self) -> Pack:
        for check in self.checks:
            if not check.id.startswith(self.pack + "."):
                raise ValueError(f"check id {check.id} must start with the pack name '{self.pack}.'")
        return self


assert set(SEVERITIES) == {"info", "low", "medium", "high", "critical"}
assert re.compile(_CHECK_ID)


def json_schema() -> dict[str, Any]:
    schema = Pack.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Watchpost policy pack"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # python -m collector.policy.schema policies/schema.json
    Path(sys.argv[1]).write_text(schema_text(), encoding="utf-8")
