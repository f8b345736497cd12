"""Presentation helpers of the compliance and policy pages (issue 5; A9-T3.4, A9-M3.5): pure
functions, no database, no request.

- ``evidence_lines``: the evidence of a result (a list of facts written by collector/policy/expr.py
  and collector/services/compliance.py) as lines a person reads: field, condition, expected,
  actual; offending list items with their own facts; a missing or unreadable section.
- ``parse_param`` / ``param_text``: a pack parameter between its form text and its typed value.
- ``diff_lines``: a unified diff as (class, text) lines for colouring.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "EvidenceLine",
    "diff_lines",
    "evidence_lines",
    "format_value",
    "param_text",
    "parse_param",
]

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_MAX_LINES = 50
#: Keys of an item summary shown after its name, in this order (expr.py ``_item_summary``).
_NAME_KEYS = (
    "name",
    "display_name",
    "username",
    "title",
    "product",
    "model",
    "interface",
    "kb",
    "id",
    "path",
)


@dataclass
class EvidenceLine:
    """One readable fact. ``kind``: compare, item, more, section_missing, section_skipped,
    read_error, evaluation_failed, disabled, other."""

    kind: str
    path: str = ""
    op: str = ""
    expected: str = ""
    actual: str = ""
    item: str = ""
    detail: str = ""
    show_actual: bool = True
    items: list[str] = field(default_factory=list)
    children: list[EvidenceLine] = field(default_factory=list)


def format_value(value: Any, zone: ZoneInfo | None = None) -> str:
    """A value of the evidence as short text: lists joined, items by their name, UTC times in
    the display time zone, null as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    if isinstance(value, str):
        if zone is not None and _ISO.match(value):
            try:
                return (
                    datetime.fromisoformat(value.replace("Z", "+00:00"))
                    .astimezone(zone)
                    .strftime("%Y-%m-%d %H:%M")
                )
            except ValueError:
                return value
        return value
    if isinstance(value, Mapping):
        return _item_text(value, zone)
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v, zone) for v in value) if value else "[]"
    return str(value)


def _item_text(item: Mapping[str, Any], zone: ZoneInfo | None) -> str:
    name_key = next((k for k in _NAME_KEYS if item.get(k) not in (None, "")), None)
    rest = [f"{k}: {format_value(v, zone)}" for k, v in item.items() if k not in (name_key, "version")]
    head = format_value(item[name_key], zone) if name_key else ""
    if item.get("version"):
        head = f"{head} {format_value(item['version'], zone)}".strip()
    if head and rest:
        return f"{head} ({'; '.join(rest)})"
    return head or "; ".join(rest)


def _line(fact: Any, zone: ZoneInfo | None, depth: int) -> EvidenceLine:
    if not isinstance(fact, Mapping):
        return EvidenceLine("other", detail=format_value(fact, zone))
    path = str(fact.get("path", ""))
    if fact.get("disabled"):
        return EvidenceLine("disabled")
    if "section" in fact and "path" not in fact:
        section = str(fact["section"])
        problem = fact.get("problem")
        if problem == "missing":
            return EvidenceLine("section_missing", path=section)
        if problem == "read_error":
            errors = fact.get("errors") or []
            texts = [str(e.get("message", e)) if isinstance(e, Mapping) else str(e) for e in errors]
            return EvidenceLine("read_error", path=section, items=texts[:10])
        return EvidenceLine("section_skipped", path=section, detail=str(fact.get("reason", "")))
    if fact.get("problem") == "evaluation_failed":
        return EvidenceLine("evaluation_failed", detail=str(fact.get("detail", "")))
    if "more_items" in fact:
        return EvidenceLine("more", path=path, detail=str(fact["more_items"]))
    if "item" in fact:
        children = [_line(f, zone, depth + 1) for f in fact.get("facts") or []] if depth < 4 else []
        return EvidenceLine("item", path=path, item=format_value(fact["item"], zone), children=children)
    if "op" in fact:
        return _compare(fact, path, zone)
    return EvidenceLine("other", detail="; ".join(f"{k}: {format_value(v, zone)}" for k, v in fact.items()))


def _compare(fact: Mapping[str, Any], path: str, zone: ZoneInfo | None) -> EvidenceLine:
    """A comparison: ``op`` becomes the key of its sentence (``policies.op.<op>``, with ``{x}``
    where the expected value goes): is_null/empty by the wanted state, counts by their operator,
    an unmatched some/none without its count."""
    op = str(fact["op"])
    expected = format_value(fact["expected"], zone) if "expected" in fact else ""
    actual = format_value(fact.get("actual"), zone)
    show_actual = True
    if op in ("is_null", "empty"):
        op, expected = f"{op}.{'true' if fact.get('expected') else 'false'}", ""
    elif op.startswith("count "):
        op = "count." + op.split(" ", 1)[1]
    elif op in ("some", "none"):
        show_actual = False
    return EvidenceLine(
        "compare",
        path=path,
        op=op,
        expected=expected,
        actual=actual,
        show_actual=show_actual,
        items=[format_value(i, zone) for i in fact.get("items") or []],
    )


def evidence_lines(evidence: Any, zone: ZoneInfo | None = None) -> list[EvidenceLine]:
    """The evidence of a result as readable lines (at most 50 at the top level)."""
    if not evidence:
        return []
    facts: Iterable[Any] = evidence if isinstance(evidence, list) else [evidence]
    return [_line(f, zone, 0) for f in list(facts)[:_MAX_LINES]]


def param_text(value: Any, kind: str) -> str:
    """A parameter value as it is written in the form (lists: one entry per line)."""
    if value is None:
        return ""
    if kind == "str_list" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


def parse_param(text: str, kind: str) -> Any:
    """The typed value of a parameter from its form text; ValueError says what is wrong.
    (Bounds are checked by the pack: ``CompiledPack.checked_params``.)"""
    text = text.strip()
    if kind == "int":
        if not re.fullmatch(r"[+-]?\d{1,12}", text):
            raise ValueError(f"{text[:40]!r} is not a whole number")
        return int(text)
    if kind == "float":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{text[:40]!r} is not a finite number")
        return number
    if kind == "bool":
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{text[:40]!r} is neither true nor false")
    if kind == "str_list":
        parts = re.split(r"[\n,，、]", text)
        return [p.strip() for p in parts if p.strip()]
    return text


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, text) for each line of a unified diff."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out
