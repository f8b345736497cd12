"""Section ``log_settings``: log sizes, retention, audit policy, oldest entry kept (A9-M3.4).

STUB: being written; replace this model.
"""

from __future__ import annotations

from pydantic import Field

from wire._base import LongText, WireModel

__all__ = ["LogSettingsFacts"]


class LogSettingsFacts(WireModel):
    note: LongText = Field(default="", description="What could not be read, for the admin.")
