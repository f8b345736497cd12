"""Section ``patches``: installed and pending updates, last update, reboot pending (A9-T3.3).

STUB: being written; replace this model.
"""

from __future__ import annotations

from pydantic import Field

from wire._base import LongText, WireModel

__all__ = ["PatchFacts"]


class PatchFacts(WireModel):
    note: LongText = Field(default="", description="What could not be read, for the admin.")
