"""Section ``network_exposure``: listening ports, default routes, uplinks, Wi-Fi/cellular up (A9-T3.2, A9-T1).

STUB: being written; replace this model.
"""

from __future__ import annotations

from pydantic import Field

from wire._base import LongText, WireModel

__all__ = ["NetworkExposureFacts"]


class NetworkExposureFacts(WireModel):
    note: LongText = Field(default="", description="What could not be read, for the admin.")
