"""Section ``antivirus``: antivirus products, signature age, real-time protection, scans (A9-M3.2).

STUB: being written; replace this model.
"""

from __future__ import annotations

from pydantic import Field

from wire._base import LongText, WireModel

__all__ = ["AntivirusFacts"]


class AntivirusFacts(WireModel):
    note: LongText = Field(default="", description="What could not be read, for the admin.")
