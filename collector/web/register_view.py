"""Section content in readable form for the host page: the key facts of a section (its plain
values, one level of nested groups, list sizes) and the raw JSON. Pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SECTION_ORDER", "Fact", "key_facts", "pretty_json"]

#: The order of sections on the host page; sections not named here follow, by name.
SECTION_ORDER = (
    "os",
    "hardware",
    "network",
    "software",
    "licensing",
    "antivirus",
    "patches",
    "accounts",
    "security_config",
    "network_exposure",
    "log_settings",
)
_TEXT_LIMIT = 300
_LIST_SHOWN = 8


@dataclass(frozen=True)
class Fact:
    """One fact: ``kind`` is bool (value True/False), count (a list of records: its size) or
    text (a value, or the plain values of a list joined)."""

    path: str
    kind: str
    value: Any


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def key_facts(data: Any, prefix: str = "", depth: int = 0) -> list[Fact]:
    """Facts of a section's data, e.g. ``{"windows_activated": true, "products": [{...}, {...}],
    "counts": {"enabled": 3}}`` gives windows_activated = yes, products = 2 items,
    counts.enabled = 3. Empty values are left out; deeper structure is in the raw JSON."""
    if not isinstance(data, Mapping):
        return []
    facts: list[Fact] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if depth < 1:
                facts += key_facts(value, path + ".", depth + 1)
        elif isinstance(value, list):
            if not value:
                continue
            if all(_scalar(v) and not isinstance(v, bool) for v in value):
                shown = ", ".join(str(v) for v in value[:_LIST_SHOWN])
                more = f" … (+{len(value) - _LIST_SHOWN})" if len(value) > _LIST_SHOWN else ""
                facts.append(Fact(path, "text", shown[:_TEXT_LIMIT] + more))
            else:
                facts.append(Fact(path, "count", len(value)))
        elif isinstance(value, bool):
            facts.append(Fact(path, "bool", value))
        elif value is not None and value != "":
            facts.append(Fact(path, "text", str(value)[:_TEXT_LIMIT]))
    return facts


def pretty_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str)
