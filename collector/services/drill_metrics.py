"""Metrics of a drill computed from its record (A9-M4.2, A9-M4.3). Pure: no database.

- A step's status is the last status recorded for it (started, done, failed, skipped);
  it is *resolved* once done, failed or skipped, at the time of that last record.
- A phase is *complete* when every step is resolved and at least one is done; it ends at
  the latest resolution. Its duration runs from the first record of any of its steps to
  its end, and is compared with the phase's target minutes.
- Time to detect, to contain and to recover run from the start of the drill (the moment
  the incident is supposed to begin) to the end of that phase. Time to report runs from the
  end of detection (discovery) to the end of the report phase, as the reporting rules count
  it, and is compared with the plan's deadline for the drill's incident level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from collector.services.drill_templates import Scenario

__all__ = ["RESOLVED", "EventLike", "Metrics", "PhaseMetric", "StepRecord", "compute_metrics", "step_records"]

RESOLVED = ("done", "failed", "skipped")


class EventLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def step_key(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def at(self) -> datetime: ...


@dataclass
class StepRecord:
    key: str
    phase: str
    status: str = ""  # "" not touched yet | started | done | failed | skipped
    started_at: datetime | None = None  # first record of the step
    resolved_at: datetime | None = None  # time of the last record when resolved


@dataclass(frozen=True)
class PhaseMetric:
    phase: str
    target_minutes: int | None
    started_at: datetime | None
    ended_at: datetime | None  # None until complete
    minutes: float | None
    over_target: bool | None


@dataclass(frozen=True)
class Metrics:
    time_to_detect: float | None  # minutes
    time_to_report: float | None
    report_deadline_minutes: float | None
    report_in_time: bool | None
    time_to_contain: float | None
    time_to_recover: float | None
    total_minutes: float | None
    steps_total: int
    steps_done: int
    steps_failed: list[str] = field(default_factory=list)
    steps_skipped: list[str] = field(default_factory=list)
    steps_open: list[str] = field(default_factory=list)
    phases: list[PhaseMetric] = field(default_factory=list)


def step_records(scenario: Scenario, events: Iterable[EventLike]) -> dict[str, StepRecord]:
    """Each step's current status, from the step events in the order they happened."""
    records = {step.key: StepRecord(step.key, phase) for phase, step in scenario.steps()}
    ordered = sorted((e for e in events if e.kind == "step" and e.step_key in records), key=lambda e: e.at)
    for event in ordered:
        rec = records[event.step_key]
        if rec.started_at is None:
            rec.started_at = event.at
        if event.status:
            rec.status = event.status
            rec.resolved_at = event.at if event.status in RESOLVED else None
    return records


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max((end - start).total_seconds(), 0.0) / 60, 1)


def _phase(phase: str, steps: list[StepRecord], target: int | None) -> PhaseMetric:
    starts = [s.started_at for s in steps if s.started_at]
    complete = steps and all(s.status in RESOLVED for s in steps) and any(s.status == "done" for s in steps)
    end = max(s.resolved_at for s in steps if s.resolved_at) if complete else None
    start = min(starts) if starts else None
    minutes = _minutes(start, end)
    over = None if minutes is None or target is None else minutes > target
    return PhaseMetric(phase, target, start, end, minutes, over)


def compute_metrics(
    scenario: Scenario,
    targets: Mapping[str, int],
    events: Iterable[EventLike],
    started_at: datetime | None,
    ended_at: datetime | None,
    report_within_hours: float | None,
) -> Metrics:
    records = step_records(scenario, events)
    phases = [
        _phase(p.phase, [records[s.key] for s in p.steps], targets.get(p.phase, p.target_minutes))
        for p in scenario.phases
    ]
    ends = {p.phase: p.ended_at for p in phases}
    deadline = report_within_hours * 60 if report_within_hours else None
    to_report = _minutes(ends.get("detect"), ends.get("report"))
    statuses = list(records.values())
    return Metrics(
        time_to_detect=_minutes(started_at, ends.get("detect")),
        time_to_report=to_report,
        report_deadline_minutes=deadline,
        report_in_time=None if to_report is None or deadline is None else to_report <= deadline,
        time_to_contain=_minutes(started_at, ends.get("contain")),
        time_to_recover=_minutes(started_at, ends.get("recover")),
        total_minutes=_minutes(started_at, ended_at),
        steps_total=len(statuses),
        steps_done=sum(s.status == "done" for s in statuses),
        steps_failed=[s.key for s in statuses if s.status == "failed"],
        steps_skipped=[s.key for s in statuses if s.status == "skipped"],
        steps_open=[s.key for s in statuses if s.status not in RESOLVED],
        phases=phases,
    )
