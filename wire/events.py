"""Events: things monitors noticed between scans (a log line, a new device, a login)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from wire._base import ShortText, Text, UtcDatetime, WireModel
from wire.limits import MAX_EVENT_DATA_ITEMS, MAX_EVENTS_PER_BATCH

__all__ = ["Event", "EventAck", "EventBatch", "Severity"]

Severity = Literal["info", "low", "medium", "high", "critical"]
EventKind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{1,63}$")]
DataKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Scalar = Text | int | Annotated[float, Field(allow_inf_nan=False)] | bool | None


class Event(WireModel):
    event_id: UUID = Field(description="Made by the agent; a retried event is stored once.")
    occurred_at: UtcDatetime
    kind: EventKind = Field(description="Dotted kind, e.g. 'log.auth_failure', 'net.new_device'.")
    severity: Severity = "info"
    source: ShortText = Field(description="The monitor and what it watched, e.g. 'log:/var/log/auth.log'.")
    summary: Text = Field(description="One line for people.")
    data: dict[DataKey, Scalar] = Field(
        default_factory=dict, max_length=MAX_EVENT_DATA_ITEMS, description="Structured details."
    )


class EventBatch(WireModel):
    """POST /api/v1/events."""

    agent_id: UUID
    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class EventAck(WireModel):
    stored: int = Field(ge=0, description="Events newly stored.")
    duplicates: int = Field(ge=0, description="Events already stored before (retries).")
