"""Parsers for the two shapes WMI/CIM data comes in from Windows, pure and total.

- ``wmic path CLASS get /format:list``: UTF-16LE, ``Name=Value`` lines, instances separated
  by blank lines, ``&``, ``<``, ``>`` escaped as HTML entities (Windows XP and 7 era);
- PowerShell ``Get-CimInstance CLASS | ConvertTo-Json``: objects or a list of objects;
  PowerShell 5.1 writes dates as ``/Date(ms)/`` and sometimes wraps values in
  ``{"value": ..., "DateTime": ...}``.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from typing import Any

from agent.host import ReadError

__all__ = ["as_instances", "parse_wmi_date", "parse_wmic_list", "wmic_argv", "wmic_classes"]

_PS_DATE = re.compile(r"^/Date\((-?\d+)\)/$")
_WMI_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?")


def parse_wmic_list(text: str) -> list[dict[str, str]]:
    """Instances of ``wmic ... /format:list`` output (already decoded from UTF-16).

    Sample input::

        Manufacturer=Dell Inc.
        Model=Latitude 7480

        Manufacturer=...
    """
    instances: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw in text.replace("\r", "").split("\n"):
        line = raw.strip()
        if not line:
            if current:
                instances.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep and key and key.replace("_", "").isalnum():
            current[key] = html.unescape(value.strip())
    if current:
        instances.append(current)
    return instances


def wmic_argv(class_name: str) -> list[str]:
    """The command line of a ``wmic`` read of one class (Windows 7 era; collect.ps1 runs the same)."""
    return ["wmic", "path", class_name, "get", "/format:list"]


def wmic_classes(ctx: Any, classes: tuple[str, ...] | list[str]) -> dict[str, list[dict[str, str]]]:
    """CIM classes read with ``wmic`` through a HostContext: the fallback where PowerShell 3+ is missing
    (Windows 7 with PowerShell 2, and bundles that deploy/windows/collect.ps1 made there).
    A class that cannot be read is absent from the answer."""
    found: dict[str, list[dict[str, str]]] = {}
    for name in classes:
        try:
            result = ctx.run(wmic_argv(name), timeout=60)
        except ReadError:  # not there (or not in the capture): the class stays absent
            continue
        if result.returncode == 0:
            found[name] = parse_wmic_list(result.stdout)
    return found


def as_instances(data: Any) -> list[dict[str, Any]]:
    """PowerShell JSON of one class: a list, a single object, or null -> list of dicts."""
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    return []


def parse_wmi_date(value: Any) -> date | None:
    """``20140401000000.000000+000`` (CIM_DATETIME), ``/Date(1396310400000)/`` or an ISO date.

    The 1601-01-01 date that Windows gives for "never" (FILETIME 0) is no date.
    """
    if isinstance(value, dict):
        value = value.get("value") or value.get("DateTime")
    text = str(value or "").strip()
    if not text:
        return None
    match = _PS_DATE.match(text)
    try:
        if match:
            parsed = datetime.fromtimestamp(int(match.group(1)) / 1000, UTC).date()
        elif (wmi := _WMI_DATE.match(text)) is not None:
            parsed = date(int(wmi.group(1)), int(wmi.group(2)), int(wmi.group(3)))
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.year > 1601 else None
