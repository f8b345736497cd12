"""Section ``accounts``: local users, administrators, password age, guest (A9-T3.5).

STUB: being written; replace this model.
"""

from __future__ import annotations

from pydantic import Field

from wire._base import LongText, WireModel

__all__ = ["AccountFacts"]


class AccountFacts(WireModel):
    note: LongText = Field(default="", description="What could not be read, for the admin.")
