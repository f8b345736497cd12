"""Section ``licensing``: OS and Office activation, KMS configuration, activator indicators (A9-T3.1).

STUB: being written; replace this model.
"""

from __future__ import annotations

from pydantic import Field

from wire._base import LongText, WireModel

__all__ = ["LicensingFacts"]


class LicensingFacts(WireModel):
    note: LongText = Field(default="", description="What could not be read, for the admin.")
