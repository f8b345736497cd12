"""Section ``antivirus``: antivirus products, signature age, real-time protection, scans (A9-M3.2).

``state`` is what a policy tests first: ``none`` means the sources were read and no
antivirus product was found at all (``products == []``), which is a fact, not a gap.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire._base import LongText, Name, ShortText, UtcDatetime, Version, WireModel

__all__ = ["AntivirusFacts", "AntivirusProduct", "AntivirusScan", "ProductService"]

Recognition = Literal["securitycenter2", "defender", "service", "clamav"]


class AntivirusScan(WireModel):
    """One scan seen in the product's own history (Defender events 1000-1002, clamscan logs)."""

    time: UtcDatetime = Field(description="When the scan started (or ended, when only that is recorded).")
    kind: Literal["quick", "full", "custom", "unknown"] = Field(description="Scan type.")
    result: Literal["started", "completed", "cancelled", "failed"] = Field(
        description="started (no end recorded), completed, cancelled (Defender 1002) or failed."
    )
    infected_files: int | None = Field(default=None, ge=0, description="Infected files found, when recorded.")


class ProductService(WireModel):
    """A service (Windows) or systemd unit (Linux) belonging to the product."""

    name: ShortText = Field(description="Service or unit name, e.g. WinDefend, ZhuDongFangYu, clamav-daemon.")
    display_name: ShortText = Field(default="", description="Display name, when the system gives one.")
    running: bool | None = Field(default=None, description="Whether it runs now; null when unknown.")
    start_mode: ShortText = Field(
        default="",
        description="Windows: automatic / manual / disabled / boot / system; Linux: enabled / disabled / "
        "static / masked ... as `systemctl is-enabled` says.",
    )


class AntivirusProduct(WireModel):
    """One antivirus product as its sources describe it. Every value the source lacks is null."""

    name: Name = Field(description="Product name as registered (SecurityCenter2 displayName, service table).")
    vendor: ShortText = Field(default="", description="Vendor, from the table of known products.")
    recognised_by: Recognition = Field(
        description="securitycenter2 (root/SecurityCenter2 AntiVirusProduct); defender (Get-MpComputerStatus "
        "only, e.g. Windows Server); service (a known product service, no registration); clamav (Linux)."
    )
    evidence: list[ShortText] = Field(
        default_factory=list, max_length=16, description="What showed the product, e.g. 'service HipsDaemon'."
    )
    product_state: int | None = Field(
        default=None, ge=0, description="SecurityCenter2 productState as read (decoded in the fields below)."
    )
    state: Literal["on", "off", "snoozed", "expired", "unknown"] = Field(
        default="unknown",
        description="Product state (SecurityCenter2 bits 12-15; Defender/service otherwise).",
    )
    enabled: bool | None = Field(default=None, description="Protection on (state 'on'); null when unknown.")
    signatures_up_to_date: bool | None = Field(
        default=None,
        description="Signatures current per the product itself (SecurityCenter2 bits 4-7, "
        "Defender DefenderSignaturesOutOfDate); ClamAV: database built in the last 7 days.",
    )
    signature_version: Version = Field(default="", description="Signature (definition) version.")
    signature_date: UtcDatetime | None = Field(
        default=None, description="When the signatures were built or updated."
    )
    signature_age_days: int | None = Field(default=None, ge=0, description="Age of the signatures in days.")
    last_signature_update: UtcDatetime | None = Field(
        default=None, description="Last successful signature update (Defender event 2000, freshclam log)."
    )
    signature_updates_30d: int | None = Field(
        default=None,
        ge=0,
        description="Successful signature updates in the last 30 days, when the history has it.",
    )
    signature_update_failures_30d: int | None = Field(
        default=None, ge=0, description="Failed signature updates in the last 30 days (Defender event 2001)."
    )
    engine_version: Version = Field(default="", description="Scan engine version.")
    product_version: Version = Field(default="", description="Product (platform) version.")
    real_time_protection: bool | None = Field(
        default=None, description="On-access / real-time protection on."
    )
    running_mode: ShortText = Field(
        default="",
        description="Defender AMRunningMode: Normal, Passive Mode, EDR Block Mode, SxS Passive Mode.",
    )
    last_quick_scan: UtcDatetime | None = Field(
        default=None, description="End (or start) of the last quick scan."
    )
    last_full_scan: UtcDatetime | None = Field(
        default=None, description="End (or start) of the last full scan."
    )
    scans_30d: int | None = Field(
        default=None,
        ge=0,
        description="Scans started in the last 30 days; null when the source has no history.",
    )
    scans: list[AntivirusScan] = Field(
        default_factory=list,
        max_length=64,
        description="Scans of the last 30 days, newest first (at most 64).",
    )
    detections_30d: int | None = Field(
        default=None,
        ge=0,
        description="Threat detections in the last 30 days; null when the source has no history.",
    )
    last_detection: UtcDatetime | None = Field(
        default=None, description="Latest detection in the last 30 days."
    )
    threat_names: list[ShortText] = Field(
        default_factory=list, max_length=32, description="Distinct threat names detected in the last 30 days."
    )
    services: list[ProductService] = Field(
        default_factory=list, max_length=16, description="The product's services and their state."
    )
    path: ShortText = Field(
        default="", description="Signed product executable or install path, when recorded."
    )


class AntivirusFacts(WireModel):
    state: Literal["protected", "unverified", "at_risk", "none", "unknown"] = Field(
        description="protected: a product is on with current signatures; unverified: a product is on but "
        "the source does not say whether its signatures are current (e.g. recognised by its service only); "
        "at_risk: products exist but none is on with current signatures; none: the sources were read and "
        "there is no antivirus at all; unknown: the sources could not be read."
    )
    has_antivirus: bool = Field(
        description="At least one antivirus product was found (products is not empty)."
    )
    products: list[AntivirusProduct] = Field(
        default_factory=list, max_length=32, description="Every product found, by name."
    )
    sources: list[ShortText] = Field(
        default_factory=list,
        max_length=32,
        description="What was read, e.g. 'SecurityCenter2', 'clamav databases'.",
    )
    note: LongText = Field(default="", description="What could not be read, for the admin.")
