"""The report envelope: one scan of one host, full or delta, split into sections."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from wire._base import Sha256Hex, ShortText, Text, UtcDatetime, Version, WireModel
from wire.hashing import content_hash
from wire.limits import MAX_SECTION_ERRORS
from wire.sections import (
    AccountFacts,
    AntivirusFacts,
    HardwareFacts,
    LicensingFacts,
    LogSettingsFacts,
    NetworkExposureFacts,
    NetworkFacts,
    OsFacts,
    PatchFacts,
    SecurityConfigFacts,
    SoftwareFacts,
    VpnFacts,
)

__all__ = [
    "SCHEMA_VERSION",
    "Report",
    "ReportAck",
    "SectionError",
    "SectionResult",
    "Sections",
]

SCHEMA_VERSION = 1

T = TypeVar("T", bound=BaseModel)


class SectionError(WireModel):
    """Why (part of) a section could not be read. The scan goes on regardless."""

    source: ShortText = Field(description="What was being read: a file, command or API.")
    message: Text = Field(description="What went wrong, for the admin.")


class SectionResult(WireModel, Generic[T]):
    """One section's outcome: its facts and their hash, or why there are none."""

    status: Literal["ok", "error", "skipped"] = Field(
        description="ok: data is present; error: the probe failed; skipped: not applicable here."
    )
    content_hash: Sha256Hex | None = Field(
        default=None, description="SHA-256 of the canonical JSON of `data` (wire.hashing)."
    )
    data: T | None = Field(default=None, description="The section's facts when status is ok.")
    errors: list[SectionError] = Field(
        default_factory=list,
        max_length=MAX_SECTION_ERRORS,
        description="Errors met while reading; an ok section may still carry partial-read errors.",
    )
    reason: Text = Field(default="", description="Why the section was skipped, or failed.")
    duration_ms: int = Field(default=0, ge=0, description="How long the probe took.")

    @model_validator(mode="after")
    def _consistent(self) -> SectionResult[T]:
        if self.status == "ok":
            if self.data is None or self.content_hash is None:
                raise ValueError("an ok section needs both data and content_hash")
            expected = content_hash(self.data.model_dump(mode="json"))
            if expected != self.content_hash:
                raise ValueError("content_hash does not match the section data")
        elif self.data is not None:
            raise ValueError(f"a section with status {self.status!r} carries no data")
        return self


class Sections(WireModel):
    """The sections of a report. In a delta, an absent section is unchanged."""

    os: SectionResult[OsFacts] | None = None
    hardware: SectionResult[HardwareFacts] | None = None
    network: SectionResult[NetworkFacts] | None = None
    software: SectionResult[SoftwareFacts] | None = None
    licensing: SectionResult[LicensingFacts] | None = None
    antivirus: SectionResult[AntivirusFacts] | None = None
    patches: SectionResult[PatchFacts] | None = None
    accounts: SectionResult[AccountFacts] | None = None
    security_config: SectionResult[SecurityConfigFacts] | None = None
    network_exposure: SectionResult[NetworkExposureFacts] | None = None
    log_settings: SectionResult[LogSettingsFacts] | None = None
    vpn: SectionResult[VpnFacts] | None = None

    def present(self) -> dict[str, SectionResult[BaseModel]]:
        """The sections carried by this report, by name."""
        return {name: value for name in type(self).model_fields if (value := getattr(self, name)) is not None}


class Report(WireModel):
    """What an agent sends after a scan (POST /api/v1/reports)."""

    schema_version: Literal[1] = Field(default=1, description="Wire contract version.")
    report_id: UUID = Field(description="Made by the agent; a retried delivery is stored once.")
    agent_id: UUID = Field(description="The agent's identity, fixed at enrollment.")
    agent_version: Version = Field(description="Agent software version.")
    collected_at: UtcDatetime = Field(description="When the scan finished.")
    kind: Literal["full", "delta"] = Field(
        description="full: every section; delta: only sections whose hash changed."
    )
    base_state_hash: Sha256Hex | None = Field(
        default=None,
        description="For a delta: the state the agent believes the collector holds.",
    )
    state_hash: Sha256Hex = Field(
        description="The host's state after this report (wire.hashing.state_hash of ok sections)."
    )
    sections: Sections

    @model_validator(mode="after")
    def _delta_has_base(self) -> Report:
        if self.kind == "delta" and self.base_state_hash is None:
            raise ValueError("a delta report needs base_state_hash")
        if self.kind == "full" and self.base_state_hash is not None:
            raise ValueError("a full report carries no base_state_hash")
        return self


class ReportAck(WireModel):
    """The collector's answer to a stored (or already stored) report."""

    report_id: UUID
    status: Literal["stored", "duplicate"] = Field(
        description="duplicate: this report id was stored before; nothing changed."
    )
    state_hash: Sha256Hex = Field(description="The host's state as the collector now holds it.")
    section_hashes: dict[ShortText, Sha256Hex] = Field(
        default_factory=dict,
        max_length=64,
        description="Content hash of every section the collector holds data for; the agent's next "
        "delta builds on exactly these.",
    )
    config_etag: ShortText = Field(
        description="ETag of the agent's current config; fetch it when it differs."
    )
    rotate_node_key: bool = Field(
        default=False,
        description="An admin asked for a new node key: POST /api/v1/node-key and use the key it "
        "returns from then on (the current key stays valid until the new one is first used).",
    )
