"""agent.winevent: Windows event XML (Get-WinEvent ToXml, wevtutil, .evtx records) as small typed
records, on real evtx files and Microsoft's own XML sample; hostile XML is refused, garbage never raises."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import evtx
from hypothesis import given
from hypothesis import strategies as st

from agent.winevent import MAX_EVENT_CHARS, parse_event_xml, parse_events, parse_evtx, parse_time_created

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "windows" / "events"


def test_native_windows_xml_of_a_4624_logon() -> None:
    """Microsoft's documented rendering (TimeCreated with 7 fraction digits, Guid in braces)."""
    event = parse_event_xml((FIX / "windows_native_event_xml_4624_msdocs.xml").read_text())
    assert event is not None
    assert event.provider == "Microsoft-Windows-Security-Auditing"
    assert (event.event_id, event.record_id, event.level) == (4624, 211, 0)
    assert event.channel == "Security" and event.computer == "WIN-GG82ULGC9GO"
    assert event.time_created == datetime(2015, 11, 12, 0, 24, 35, 79785, tzinfo=UTC)
    assert event.data["TargetUserName"] == "Administrator" and event.data["LogonType"] == "2"
    assert event.get("logontype", "nothing") == "2"  # names are matched case-insensitively
    assert len(event.data) == 27


def test_evtx_file_records_match_the_evtx_package_itself() -> None:
    """A real Security log (.evtx from a lab machine): every record, in order, with its fields."""
    data = (FIX / "4624_4625.evtx").read_bytes()
    events = parse_evtx(data)
    raw = list(evtx.PyEvtxParser(str(FIX / "4624_4625.evtx")).records())
    assert len(events) == len(raw) == 4
    # EventRecordID of the XML (the log's own numbering), not the package's 1-based record counter
    assert [e.record_id for e in events] == [137222, 137223, 137224, 137225]
    assert {e.event_id for e in events} == {4624, 4625}
    first = events[0]
    assert first.provider == "Microsoft-Windows-Security-Auditing" and first.computer == "MSEDGEWIN10"
    assert first.time_created is not None and first.time_created.tzinfo is UTC
    assert first.data["SubjectUserName"] == "IEUser"


def test_evtx_4720_user_created() -> None:
    (created, *_rest) = [e for e in parse_evtx((FIX / "4720.evtx").read_bytes()) if e.event_id == 4720]
    assert created.record_id == 769629
    assert created.time_created == datetime(2020, 9, 16, 9, 31, 19, 133272, tzinfo=UTC)
    assert created.data["TargetSid"] == "S-1-5-21-308926384-506822093-3341789130-107103"
    assert "%%2080" in created.data["UserAccountControl"]


def test_several_documents_one_after_the_other_and_an_events_root() -> None:
    native = (FIX / "windows_native_event_xml_4624_msdocs.xml").read_text()
    body = native.split("?>", 1)[1]
    assert len(parse_events(native + "\n" + native)) == 2  # each with its XML declaration
    assert len(parse_events(f"<Events>{body}{body}{body}</Events>")) == 3  # wevtutil /e:Events


def test_a_broken_record_is_skipped_and_the_others_kept() -> None:
    body = (FIX / "windows_native_event_xml_4624_msdocs.xml").read_text().split("?>", 1)[1]
    broken = body.replace("</EventData>", "<Data Name='x'>unterminated</EventData>")
    events = parse_events(body + broken + body)
    assert len(events) == 2 and all(e.event_id == 4624 for e in events)


def test_userdata_and_unnamed_data() -> None:
    """Constructed (shape of a 1102 'log cleared' record and of a classic event): UserData leaves
    by name, unnamed <Data> as #1, #2."""
    xml = (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="Microsoft-Windows-Eventlog"/><EventID>1102</EventID></System>'
        '<UserData><LogFileCleared xmlns="http://manifests.microsoft.com/win/2004/08/windows/eventlog">'
        "<SubjectUserSid>S-1-5-21-1-2-3-1000</SubjectUserSid><SubjectUserName>IEUser</SubjectUserName>"
        "</LogFileCleared></UserData></Event>"
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="Service Control Manager"/><EventID Qualifiers="16384">7036</EventID></System>'
        "<EventData><Data>Windows Update</Data><Data>running</Data></EventData></Event>"
    )
    cleared, classic = parse_events(xml)
    assert cleared.data == {"SubjectUserSid": "S-1-5-21-1-2-3-1000", "SubjectUserName": "IEUser"}
    assert classic.event_id == 7036 and classic.data == {"#1": "Windows Update", "#2": "running"}
    assert classic.time_created is None and classic.record_id is None


def test_dtds_and_entities_are_refused() -> None:
    """Constructed hostile input: entity expansion ('billion laughs') and external entities."""
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE Event [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        '<Event><System><EventID>1</EventID></System><EventData><Data Name="x">&b;</Data></EventData></Event>'
    )
    external = '<!DOCTYPE Event [<!ENTITY x SYSTEM "file:///etc/passwd">]><Event><System/>&x;</Event>'
    assert parse_event_xml(bomb) is None and parse_events(bomb) == []
    assert parse_events(external) == []


def test_sizes_are_capped() -> None:
    big = "<Event><System><EventID>1</EventID></System><EventData><Data Name='x'>" + "a" * MAX_EVENT_CHARS
    assert parse_event_xml(big + "</Data></EventData></Event>") is None
    (event,) = parse_events(
        "<Event><System><EventID>1</EventID></System><EventData><Data Name='x'>"
        + "a" * 9000
        + "</Data></EventData></Event>"
    )
    assert len(event.data["x"]) == 8192


def test_time_created_formats() -> None:
    want = datetime(2020, 9, 16, 9, 31, 19, 133272, tzinfo=UTC)
    assert parse_time_created("2020-09-16T09:31:19.133272Z") == want  # evtx package
    assert parse_time_created("2020-09-16 09:31:19.133272+00:00") == want  # python-evtx
    assert parse_time_created("2020-09-16T09:31:19.1332720Z") == want  # Windows, 7 digits
    assert parse_time_created("yesterday") is None


def test_bytes_that_are_no_evtx_file() -> None:
    data = (FIX / "4720.evtx").read_bytes()
    assert parse_evtx(b"") == [] and parse_evtx(b"ElfFile\x00" + b"\x00" * 100) == []
    damaged = data[:4096] + b"\xff" * 8192 + data[4096 + 8192 :]
    assert isinstance(parse_evtx(damaged), list)


@given(st.text(max_size=400))
def test_garbage_text_never_raises(text: str) -> None:
    assert isinstance(parse_events(text), list)
    parse_event_xml(text)
    parse_event_xml(f"<Event><System><EventID>{text}</EventID></System></Event>")
    parse_time_created(text)


@given(st.binary(max_size=300))
def test_garbage_bytes_never_raise(data: bytes) -> None:
    assert isinstance(parse_evtx(b"ElfFile\x00" + data), list)
