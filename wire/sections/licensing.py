"""Section ``licensing``: OS and Office activation, KMS configuration, activator indicators (A9-T3.1).

Facts only: which licence each Windows and Office product runs under and in what state, which
KMS hosts the machine is told to use, and what traces of unofficial activators were found.
Whether a KMS host is approved, or a trace is tolerated, is policy (collector side).
Never a product key: at most the last five characters Windows itself shows (PartialProductKey).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire._base import Identifier, LongText, ShortText, Text, WireModel

__all__ = [
    "ActivatorEvidence",
    "KmsHost",
    "LicenseProduct",
    "LicenseStatusName",
    "LicensingFacts",
    "OfficeInstall",
]

LicenseStatusName = Literal[
    "unlicensed",
    "licensed",
    "oob_grace",
    "oot_grace",
    "non_genuine_grace",
    "notification",
    "extended_grace",
    "unknown",
]
ChannelFamily = Literal[
    "retail", "oem", "volume_kms_client", "volume_mak", "volume_kms_host", "evaluation", "other", "unknown"
]


class LicenseProduct(WireModel):
    """One licence with an installed key (SoftwareLicensingProduct / OfficeSoftwareProtectionProduct)."""

    application: Literal["windows", "office", "other"] = Field(
        description="By ApplicationID: 55c92734-... Windows, 0ff1ce15-... Office 2013+, 59a52881-... Office 2010."
    )
    application_id: Identifier = Field(default="", description="The ApplicationID GUID as reported.")
    sku_id: Identifier = Field(default="", description="The licence (SKU / activation) ID GUID.")
    name: ShortText = Field(default="", description="Name, e.g. 'Windows(R), Professional edition'.")
    description: ShortText = Field(
        default="", description="Description, e.g. 'Windows(R) Operating System, OEM_DM channel'."
    )
    license_family: ShortText = Field(
        default="", description="LicenseFamily, e.g. Office16ProPlusVL_KMS_Client."
    )
    channel: ShortText = Field(
        default="",
        description="ProductKeyChannel (Retail, OEM:DM, Volume:GVLK, Volume:MAK...), else the channel named "
        "in the description.",
    )
    channel_family: ChannelFamily = Field(
        default="unknown",
        description="The channel grouped: retail, oem, volume_kms_client (GVLK), volume_mak...",
    )
    addon: bool | None = Field(
        default=None, description="LicenseIsAddon (e.g. an ESU add-on), when reported."
    )
    license_status: int | None = Field(
        default=None, ge=0, le=6, description="LicenseStatus 0..6 as reported."
    )
    license_status_name: LicenseStatusName = Field(
        default="unknown",
        description="0 unlicensed, 1 licensed, 2 oob_grace, 3 oot_grace, 4 non_genuine_grace, 5 notification, "
        "6 extended_grace.",
    )
    license_status_reason: ShortText = Field(
        default="", description="LicenseStatusReason / ospp ERROR CODE as 0xXXXXXXXX."
    )
    grace_minutes_remaining: int | None = Field(
        default=None,
        ge=0,
        description="GracePeriodRemaining: minutes until the licence or grace period ends.",
    )
    evaluation_end: ShortText = Field(default="", description="EvaluationEndDate YYYY-MM-DD, when set.")
    partial_product_key: ShortText = Field(
        default="",
        description="Last five characters of the installed key (what Windows shows; not a secret).",
    )
    kms_host: ShortText = Field(default="", description="KeyManagementServiceMachine set on this licence.")
    kms_port: int | None = Field(default=None, ge=0, le=65535, description="KeyManagementServicePort.")
    kms_discovered_host: ShortText = Field(
        default="", description="DiscoveredKeyManagementServiceMachineName (last KMS host used)."
    )
    kms_discovered_address: ShortText = Field(
        default="", description="DiscoveredKeyManagementServiceMachineIpAddress."
    )
    source: Literal["SoftwareLicensingProduct", "OfficeSoftwareProtectionProduct", "ospp.vbs"] = Field(
        description="Where the licence was read."
    )


class KmsHost(WireModel):
    """A KMS host the machine is configured with or discovered, classified so a policy can compare."""

    host: ShortText = Field(description="Host name or address as configured.")
    port: int | None = Field(default=None, ge=0, le=65535, description="Port, when given (default 1688).")
    application: Literal["windows", "office", "any"] = Field(description="What the setting applies to.")
    source: ShortText = Field(
        description="Where it was read: SoftwareLicensingService, product name, registry value path, ospp.vbs."
    )
    discovered: bool = Field(
        default=False, description="Found by DNS auto-discovery / last contact, not configured."
    )
    kind: Literal[
        "dns_name", "public", "private", "loopback", "link_local", "unspecified", "reserved", "invalid"
    ] = Field(description="What the host is: a DNS name or an address of which class.")
    loopback: bool = Field(
        description="127.0.0.0/8, ::1 or localhost: a KMS emulator in the machine itself (KMSpico, KMS_VL_ALL)."
    )
    flag: Literal["", "loopback", "emulator_address", "bare_address", "invalid"] = Field(
        default="",
        description="Why it needs review: loopback; emulator_address (a default address of an activator, "
        "e.g. 172.16.0.2 of KMS_VL_ALL); bare_address (a non-public IP address that cannot be judged by name); "
        "invalid (not a host name). Empty for DNS names and public addresses, which a policy compares.",
    )


class ActivatorEvidence(WireModel):
    """One trace of an unofficial activator, with what was matched."""

    tool: ShortText = Field(description="The activator the trace belongs to, e.g. KMSpico, KMS_VL_ALL.")
    kind: Literal[
        "scheduled_task", "service", "file", "folder", "ifeo", "registry", "license_state", "kms_host"
    ] = Field(description="What kind of artefact matched.")
    matched: Text = Field(description="The path, task, service or value that matched.")
    detail: Text = Field(default="", description="What was seen there: state, command, values, signer.")
    strength: Literal["strong", "weak"] = Field(
        default="strong", description="weak: also found on legitimately managed machines."
    )


class OfficeInstall(WireModel):
    """An installed Office product (registration registry or Click-to-Run configuration)."""

    product: ShortText = Field(description="Product name or Click-to-Run release id.")
    version: ShortText = Field(default="", description="Office version key (16.0) or build (16.0.1234.1000).")
    product_code: ShortText = Field(default="", description="MSI product code / registration key GUID.")
    product_id: ShortText = Field(default="", description="ProductID (not the key).")
    source: Literal["registration", "click_to_run"] = Field(description="Where it was read.")


class LicensingFacts(WireModel):
    """Activation state, KMS configuration and activator traces of the machine."""

    windows_status: LicenseStatusName = Field(
        default="unknown", description="License status of the Windows product in use (unknown if not read)."
    )
    windows_activated: bool | None = Field(
        default=None, description="A Windows licence is in state licensed (unknown if not read)."
    )
    office_activated: bool | None = Field(
        default=None,
        description="An Office licence is in state licensed; unknown when no Office licence is found "
        "(Microsoft 365 subscription licensing is not in these classes).",
    )
    products: list[LicenseProduct] = Field(
        default_factory=list, max_length=128, description="Every licence with an installed key."
    )
    kms_hosts: list[KmsHost] = Field(default_factory=list, max_length=64, description="KMS hosts configured.")
    office_installs: list[OfficeInstall] = Field(
        default_factory=list, max_length=64, description="Installed Office products."
    )
    activator_evidence: list[ActivatorEvidence] = Field(
        default_factory=list, max_length=256, description="Traces of unofficial activators; empty when none."
    )
    sources: list[ShortText] = Field(default_factory=list, max_length=32, description="What was read.")
    note: LongText = Field(default="", description="What could not be read, for the admin.")
