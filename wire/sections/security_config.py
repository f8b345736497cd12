"""Section ``security_config``: firewall, screen lock, disk encryption, USB storage, RDP, SMBv1, autorun (A9-T3.5).

STUB: being written; replace this model.
"""

from __future__ import annotations

from pydantic import Field

from wire._base import LongText, WireModel

__all__ = ["SecurityConfigFacts"]


class SecurityConfigFacts(WireModel):
    note: LongText = Field(default="", description="What could not be read, for the admin.")
