"""Section ``patches``: installed and pending updates, last update, reboot pending (A9-T3.3).

One model for Windows and Linux. Counts are ``None`` when the source could not be asked
(an update search that timed out is not "0 pending"), and the age of the package lists
(Linux) or of the last successful update search (Windows) travels with them, so that
"0 pending" on stale lists is not read as "up to date".
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire._base import LongText, ShortText, Text, UtcDatetime, WireModel

__all__ = ["AptRun", "InstalledUpdate", "PatchFacts", "PendingUpdate", "UpdateHistoryEntry"]

UpdateResult = Literal[
    "succeeded", "succeeded_with_errors", "failed", "aborted", "in_progress", "not_started", ""
]


class InstalledUpdate(WireModel):
    """One installed update: a Windows hotfix (QFE) or a package a Linux update run upgraded."""

    id: ShortText = Field(description="KB number (KB5034441) or package name (libssl3:amd64).")
    classification: ShortText = Field(
        default="",
        description="As the source says: QFE Description ('Security Update', 'Update', 'Hotfix'); "
        "'upgrade' for a Linux package upgrade.",
    )
    security: bool | None = Field(
        default=None,
        description="A security update by its classification; None when the source does not say.",
    )
    installed_on: ShortText = Field(default="", description="Install date YYYY-MM-DD, when recorded.")
    installed_at: UtcDatetime | None = Field(
        default=None, description="Exact install time, when the source has one (apt history)."
    )
    installed_by: ShortText = Field(default="", description="Account that installed it (QFE InstalledBy).")
    version: ShortText = Field(default="", description="Version installed (Linux).")
    old_version: ShortText = Field(default="", description="Version it replaced (Linux upgrades).")
    source: Literal["qfe", "apt_history"] = Field(description="Where the entry was read.")


class UpdateHistoryEntry(WireModel):
    """One entry of the Windows Update history (IUpdateSearcher.QueryHistory), newest first."""

    title: Text = Field(description="Update title as Windows Update shows it (localised).")
    kb: ShortText = Field(default="", description="KB number taken from the title, e.g. KB5034441.")
    at: UtcDatetime | None = Field(default=None, description="When the operation ran (UTC).")
    operation: Literal["install", "uninstall", "other"] = Field(description="Operation 1, 2 or other.")
    result: UpdateResult = Field(default="", description="OperationResultCode 0-5 decoded.")
    classification: ShortText = Field(
        default="", description="The update's classification category (e.g. 'Security Updates'), if known."
    )
    security: bool | None = Field(default=None, description="Security update by its classification category.")
    definition: bool = Field(
        default=False, description="An antivirus definition (security intelligence) update; not a patch."
    )


class AptRun(WireModel):
    """One apt/dpkg run recorded in /var/log/apt/history.log, newest first."""

    started_at: UtcDatetime | None = Field(
        default=None, description="Start-Date (local time of the host, as UTC)."
    )
    ended_at: UtcDatetime | None = Field(default=None, description="End-Date (as UTC).")
    command: Text = Field(default="", description="Commandline of the run.")
    requested_by: ShortText = Field(default="", description="Requested-By: the user who ran it, when logged.")
    upgraded: int = Field(default=0, ge=0, description="Packages upgraded.")
    installed: int = Field(default=0, ge=0, description="Packages newly installed.")
    removed: int = Field(default=0, ge=0, description="Packages removed or purged.")
    error: Text = Field(default="", description="Error: line of a run that failed.")


class PendingUpdate(WireModel):
    """One update available but not installed."""

    id: ShortText = Field(description="Package name, or the KB number / update title on Windows.")
    title: Text = Field(default="", description="Update title (Windows).")
    version: ShortText = Field(default="", description="Version that would be installed.")
    current_version: ShortText = Field(default="", description="Version installed now (Linux).")
    origin: Text = Field(
        default="", description="Repository/origin (apt 'Debian-Security:12/...'; dnf repo id)."
    )
    security: bool | None = Field(
        default=None, description="A security update; None when the source cannot tell."
    )
    severity: ShortText = Field(default="", description="MsrcSeverity (Critical, Important, ...) on Windows.")
    classification: ShortText = Field(default="", description="Classification category (Windows).")
    reboot_required: bool | None = Field(default=None, description="Installing it needs a reboot (Windows).")


class PatchFacts(WireModel):
    manager: Literal["apt", "dnf", "yum", "windows_update", ""] = Field(
        default="", description="Update mechanism read."
    )
    installed: list[InstalledUpdate] = Field(
        default_factory=list,
        max_length=5000,
        description="Installed updates, newest first: Windows QFE hotfixes; Linux package upgrades from apt history.",
    )
    history: list[UpdateHistoryEntry] = Field(
        default_factory=list, max_length=1000, description="Windows Update history, newest first."
    )
    runs: list[AptRun] = Field(default_factory=list, max_length=1000, description="apt runs, newest first.")
    last_update_at: UtcDatetime | None = Field(
        default=None,
        description="Last time updates were installed: the last apt run that upgraded or installed without error; "
        "on Windows the newest of QFE InstalledOn and successful history installs (definition updates excluded).",
    )
    last_update_source: ShortText = Field(default="", description="Which record gave last_update_at.")
    pending: list[PendingUpdate] = Field(
        default_factory=list, max_length=5000, description="Updates available, not installed."
    )
    pending_count: int | None = Field(
        default=None, ge=0, description="Number of pending updates; None when they could not be searched."
    )
    pending_security_count: int | None = Field(
        default=None, ge=0, description="How many of them are security updates; None when unknown."
    )
    held_back_count: int | None = Field(
        default=None, ge=0, description="apt: upgradable packages 'not upgraded' (kept back) by `upgrade`."
    )
    lists_updated_at: UtcDatetime | None = Field(
        default=None,
        description="How fresh the update source is: Linux, the newest package-list time (InRelease mtime or "
        "update-success-stamp); Windows, the last successful update search (LastSearchSuccessDate).",
    )
    lists_oldest_at: UtcDatetime | None = Field(
        default=None, description="Linux: the oldest repository list (a repository that stopped refreshing)."
    )
    lists_source: ShortText = Field(default="", description="Which file or API gave lists_updated_at.")
    last_install_success_at: UtcDatetime | None = Field(
        default=None, description="Windows: LastInstallationSuccessDate of the Windows Update agent."
    )
    reboot_required: bool | None = Field(
        default=None, description="A reboot is pending; None when this system has no reliable flag to read."
    )
    reboot_reasons: list[ShortText] = Field(
        default_factory=list,
        max_length=32,
        description="Why: the flags found (registry values, files, kernel).",
    )
    reboot_packages: list[ShortText] = Field(
        default_factory=list,
        max_length=500,
        description="Packages that asked for the reboot (reboot-required.pkgs).",
    )
    auto_updates: bool | None = Field(
        default=None,
        description="Automatic updates configured: APT::Periodic::Unattended-Upgrade (Linux); Windows Update policy "
        "NoAutoUpdate/AUOptions (None when no policy is set: Windows defaults apply).",
    )
    auto_updates_detail: Text = Field(default="", description="The settings behind auto_updates.")
    update_server: Text = Field(default="", description="WSUS server from policy (WUServer), if any.")
    note: LongText = Field(default="", description="What could not be read, for the admin.")
