"""Windows event records as small typed values, from the XML Windows renders, pure and total.

Two sources give the same XML (schema ``http://schemas.microsoft.com/win/2004/08/events/event``):

- ``Get-WinEvent ... | ForEach-Object { $_.ToXml() }`` (or ``wevtutil qe /f:xml``) on Windows;
- ``.evtx`` files (a capture bundle, an exported channel) read with the ``evtx`` package.

Each ``<Event>`` becomes a :class:`WinEvent`: provider, event id, time created (UTC), record
id, computer, channel, level, and the name -> value pairs of ``<EventData>`` or
``<UserData>``. Nothing else of the XML is kept: probes and log monitors reuse this.

The XML comes from the machine being inspected, so it is handled with care: any DTD or
entity declaration makes the input rejected (no entity expansion at all), events and their
data are capped in size and number, and a broken record is skipped, never raised.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MAX_DATA_ITEMS",
    "MAX_EVENTS",
    "MAX_EVENT_CHARS",
    "MAX_VALUE_CHARS",
    "WinEvent",
    "parse_event_element",
    "parse_event_xml",
    "parse_events",
    "parse_evtx",
    "parse_time_created",
]

#: Largest single ``<Event>`` accepted (a real one is a few KiB).
MAX_EVENT_CHARS = 256 * 1024
#: Most events taken from one input.
MAX_EVENTS = 20_000
#: Most name -> value pairs kept per event.
MAX_DATA_ITEMS = 256
#: Longest value kept (longer ones are cut).
MAX_VALUE_CHARS = 8192

_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.I)
_XML_DECL = re.compile(r"<\?xml[^>]*\?>")
_EVENT_CHUNK = re.compile(r"<Event[\s>].*?</Event\s*>", re.S)
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


@dataclass(frozen=True)
class WinEvent:
    """One event record: the System fields probes use and the event's own data."""

    provider: str = ""
    event_id: int | None = None
    time_created: datetime | None = None
    record_id: int | None = None
    computer: str = ""
    channel: str = ""
    level: int | None = None
    data: Mapping[str, str] = field(default_factory=dict)

    def get(self, *names: str) -> str:
        """The first of ``names`` present in the data (case-insensitive), or ''."""
        lowered = {key.lower(): value for key, value in self.data.items()}
        for name in names:
            value = lowered.get(name.lower())
            if value is not None:
                return value
        return ""


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _text(element: ET.Element | None) -> str:
    if element is None:
        return ""
    return "".join(element.itertext()).strip()[:MAX_VALUE_CHARS]


def _int(text: str) -> int | None:
    text = text.strip()
    try:
        number = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None
    return number if 0 <= number < 2**63 else None


def parse_time_created(value: str) -> datetime | None:
    """``SystemTime`` as Windows (``2015-11-12T00:24:35.079785200Z``), the evtx package
    (``2020-09-16T09:31:19.133272Z``) or python-evtx (``2020-09-16 09:31:19.133272+00:00``)
    write it, as an aware UTC datetime; None when it is no time."""
    text = _FRACTION.sub(lambda m: m.group(1), value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _event_data(element: ET.Element) -> dict[str, str]:
    """``<Data Name="X">v</Data>`` pairs; unnamed ``<Data>`` (classic events) as ``#1``, ``#2``..."""
    data: dict[str, str] = {}
    unnamed = 0
    for item in element:
        if len(data) >= MAX_DATA_ITEMS:
            break
        name = str(item.get("Name") or "").strip()[:255]
        if not name:
            unnamed += 1
            name = f"#{unnamed}" if _local(item.tag) == "Data" else _local(item.tag)
        if name:
            data.setdefault(name, _text(item))
    return data


def _user_data(element: ET.Element) -> dict[str, str]:
    """``<UserData><Provider-specific><Name>v</Name>...`` leaves by their (dotted) local names."""
    data: dict[str, str] = {}
    stack: list[tuple[str, ET.Element]] = [("", child) for child in reversed(list(element))]
    depth_root = True
    while stack and len(data) < MAX_DATA_ITEMS:
        prefix, node = stack.pop()
        name = _local(node.tag)
        children = list(node)
        if not children:
            key = f"{prefix}.{name}" if prefix else name
            if key:
                data.setdefault(key[:255], _text(node))
            continue
        # the single wrapper element (e.g. <LogFileCleared>) gives no prefix
        inner = "" if depth_root and not prefix else (f"{prefix}.{name}" if prefix else name)
        stack.extend((inner, child) for child in reversed(children))
        depth_root = False
    return data


def parse_event_element(event: ET.Element) -> WinEvent | None:
    """A WinEvent from a parsed ``<Event>`` element, or None when it has no ``<System>``."""
    system = _child(event, "System")
    if system is None:
        return None
    provider = _child(system, "Provider")
    time_node = _child(system, "TimeCreated")
    data: dict[str, str] = {}
    for name, reader in (("EventData", _event_data), ("UserData", _user_data)):
        part = _child(event, name)
        if part is not None:
            data.update(reader(part))
    return WinEvent(
        provider=str(provider.get("Name") or provider.get("EventSourceName") or "")[:255]
        if provider is not None
        else "",
        event_id=_int(_text(_child(system, "EventID"))),
        time_created=parse_time_created(str(time_node.get("SystemTime") or ""))
        if time_node is not None
        else None,
        record_id=_int(_text(_child(system, "EventRecordID"))),
        computer=_text(_child(system, "Computer"))[:255],
        channel=_text(_child(system, "Channel"))[:255],
        level=_int(_text(_child(system, "Level"))),
        data=data,
    )


def _safe_root(text: str) -> ET.Element | None:
    if _DTD.search(text):
        return None
    try:
        return ET.fromstring(f"<wp-events>{_XML_DECL.sub('', text)}</wp-events>")  # noqa: S314
    except (ET.ParseError, ValueError):
        return None


def parse_event_xml(text: str) -> WinEvent | None:
    """One event's XML (``$event.ToXml()``), or None when it is not one (or is unsafe).

    Sample input::

        <Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>
        <Provider Name="Microsoft-Windows-Windows Defender" Guid="{11CD958A-...}"/>
        <EventID>1001</EventID>...<TimeCreated SystemTime="2026-11-20T09:12:41.5630000Z"/>
        <EventRecordID>811</EventRecordID><Channel>Microsoft-Windows-Windows Defender/Operational
        </Channel><Computer>PC-01</Computer></System><EventData>
        <Data Name="Scan Parameters">Quick Scan</Data>...</EventData></Event>
    """
    if not isinstance(text, str) or len(text) > MAX_EVENT_CHARS:
        return None
    events = parse_events(text)
    return events[0] if len(events) == 1 else None


def _event_elements(root: ET.Element) -> Iterator[ET.Element]:
    for element in root.iter():
        if _local(element.tag) == "Event":
            yield element


def parse_events(text: str) -> list[WinEvent]:
    """Every event in a text holding one or more ``<Event>`` documents (one after the other,
    each with or without an XML declaration, or inside an ``<Events>`` root, as
    ``wevtutil qe /f:xml`` and evtx dumps write them). A broken or oversized record is
    skipped; the others are kept."""
    if not isinstance(text, str):
        return []
    root = _safe_root(text) if len(text) <= MAX_EVENT_CHARS * 4 else None
    if root is not None:
        elements: Iterable[ET.Element] = _event_elements(root)
    elif _DTD.search(text):
        return []
    else:
        elements = (
            element
            for chunk in _EVENT_CHUNK.finditer(text)
            if len(chunk.group(0)) <= MAX_EVENT_CHARS
            for parsed in [_safe_root(chunk.group(0))]
            if parsed is not None
            for element in _event_elements(parsed)
        )
    found: list[WinEvent] = []
    for element in elements:
        event = parse_event_element(element)
        if event is not None:
            found.append(event)
            if len(found) >= MAX_EVENTS:
                break
    return found


def parse_evtx(data: bytes) -> list[WinEvent]:
    """The events of an ``.evtx`` file's bytes (the ``evtx`` package renders each record's XML).

    A damaged chunk or record is skipped; bytes that are no evtx file give ``[]``.
    """
    import evtx

    found: list[WinEvent] = []
    failures = 0
    try:
        parser = evtx.PyEvtxParser(io.BytesIO(data))
        records = parser.records()
        while len(found) < MAX_EVENTS and failures < 1000:
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception:  # noqa: BLE001 - a damaged record; the parser goes on with the next
                failures += 1
                continue
            xml = record.get("data") if isinstance(record, dict) else None
            event = parse_event_xml(xml) if isinstance(xml, str) else None
            if event is not None:
                found.append(event)
    except Exception:  # noqa: BLE001 - no evtx file at all (the native parser raises OSError)
        return found
    return found
