"""Shared building blocks of the wire contract: strict base model and bounded types.

Every model that crosses the wire derives from :class:`WireModel`: unknown fields are
rejected (``extra="forbid"``), so a typo or a mismatched version is an error the
sender sees, not data silently dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "Identifier",
    "LongText",
    "MacAddress",
    "Name",
    "Sha256Hex",
    "ShortText",
    "Text",
    "UtcDatetime",
    "Version",
    "WireModel",
]


class WireModel(BaseModel):
    """Base of every wire model: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone offset (e.g. 2026-11-27T08:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp out of range") from None


# Bounded strings: every free-text field has a ceiling so a hostile or broken sender
# cannot make the collector store megabytes in one cell.
def _no_nul(value: str) -> str:
    # PostgreSQL cannot store U+0000 in text; no real name, version or message contains it.
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_no_nul)]
ShortText = Annotated[str, StringConstraints(max_length=255), AfterValidator(_no_nul)]
Text = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_no_nul)]
LongText = Annotated[str, StringConstraints(max_length=8192), AfterValidator(_no_nul)]
Version = Annotated[str, StringConstraints(max_length=64), AfterValidator(_no_nul)]
Identifier = Annotated[str, StringConstraints(max_length=64), AfterValidator(_no_nul)]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
MacAddress = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5,19}$", to_lower=True)]
UtcDatetime = Annotated[
    datetime,
    AfterValidator(_require_aware),
    Field(description="ISO 8601 timestamp with offset; normalised to UTC."),
]
