"""Section ``os``: the operating system and the machine's identity on the network."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from wire._base import Name, ShortText, UtcDatetime, WireModel

__all__ = ["OsFacts"]


class OsFacts(WireModel):
    """What operating system runs and how the host names itself (A9-M3.3 asset register)."""

    family: Literal["linux", "windows", "macos", "other"] = Field(description="Operating-system family.")
    name: ShortText = Field(description="Product name, e.g. 'Debian GNU/Linux' or 'Windows 11 Pro'.")
    version: ShortText = Field(default="", description="Release, e.g. '12' or '23H2'.")
    pretty_name: ShortText = Field(default="", description="Full human-readable name.")
    distribution_id: ShortText = Field(
        default="", description="Linux os-release ID (debian, ubuntu, kylin, uos); empty on Windows."
    )
    like: list[ShortText] = Field(
        default_factory=list, max_length=16, description="os-release ID_LIKE: parent distributions."
    )
    build: ShortText = Field(default="", description="Windows build number; empty on Linux.")
    architecture: ShortText = Field(description="Machine architecture, e.g. x86_64, aarch64.")
    kernel: ShortText = Field(default="", description="Kernel release (uname -r).")
    hostname: Name = Field(description="Short host name as the machine reports it.")
    fqdn: ShortText = Field(default="", description="Fully qualified name, when it has one.")
    domain: ShortText = Field(
        default="", description="DNS domain (Linux) or AD domain / workgroup (Windows)."
    )
    domain_kind: Literal["dns", "ad", "workgroup", "none"] = Field(
        default="none", description="What `domain` is."
    )
    machine_id: ShortText = Field(default="", description="/etc/machine-id on Linux, MachineGuid on Windows.")
    install_date: UtcDatetime | None = Field(
        default=None, description="When the OS was installed, where the system records it."
    )
    last_boot: UtcDatetime | None = Field(default=None, description="Last boot time.")
    timezone: ShortText = Field(default="", description="IANA or Windows time-zone name.")
    edition: ShortText = Field(
        default="",
        description="Windows edition (registry EditionID: Professional, Enterprise, ServerDatacenter...); "
        "empty on Linux.",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_additions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Fields added after contract v1 are left out while unset, so the content hash of a
        report made before they existed (and of every Linux report) does not change."""
        data: dict[str, Any] = handler(self)
        for name in ADDED_FIELDS:
            if data.get(name) in ("", None, []):
                data.pop(name, None)
        return data


#: Fields added after contract v1, omitted from the serialised form while empty.
ADDED_FIELDS = ("edition",)
