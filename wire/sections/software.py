"""Section ``software``: installed programs (A9-T3.1 licensed software, A9-M3.1, A9-M3.3)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire._base import LongText, Name, ShortText, Text, WireModel

__all__ = ["SoftwareFacts", "SoftwareItem"]


class SoftwareItem(WireModel):
    """One installed program, package or update, as the system records it."""

    name: Name = Field(description="Display name (Windows DisplayName, dpkg/rpm package name).")
    version: ShortText = Field(default="", description="Version as recorded.")
    publisher: ShortText = Field(default="", description="Publisher, vendor or package maintainer.")
    install_date: ShortText = Field(default="", description="Install date YYYY-MM-DD, when recorded.")
    source: Literal["dpkg", "rpm", "registry", "appx"] = Field(description="Where the entry was read.")
    scope: Literal["machine", "user"] = Field(
        default="machine", description="Installed for all users or one."
    )
    user: ShortText = Field(default="", description="The profile (user name or SID) of a per-user entry.")
    architecture: ShortText = Field(default="", description="x64, x86, amd64, arm64, all...")
    kind: Literal["application", "system_component", "update", "package", "framework"] = Field(
        default="application",
        description="application; system_component (Windows SystemComponent=1, hidden from Programs and "
        "Features, or a Store package signed by the system); update (hotfix, security update or an entry "
        "with a parent); package (Linux); framework (a Store framework package other apps depend on).",
    )
    parent: ShortText = Field(default="", description="The product an update or child entry belongs to.")
    install_location: Text = Field(default="", description="Install folder, when recorded.")
    size_kb: int | None = Field(default=None, ge=0, description="Installed size in KiB, when recorded.")
    key: ShortText = Field(default="", description="Registry key name or package identifier of the entry.")


class SoftwareFacts(WireModel):
    items: list[SoftwareItem] = Field(
        default_factory=list, max_length=20000, description="Every installed item, sorted by name."
    )
    unnamed_entries: int = Field(
        default=0, ge=0, description="Registry Uninstall keys without a DisplayName (not programs), counted."
    )
    sources: list[ShortText] = Field(
        default_factory=list,
        max_length=64,
        description="What was read, e.g. 'dpkg', 'HKLM 64-bit', 'HKU S-1-5-21-...'.",
    )
    note: LongText = Field(default="", description="What could not be read, for the admin.")
