"""Section ``log_settings``: log sizes, retention, audit policy, oldest entry kept (A9-M3.4).

The requirement is that logs are monitored routinely and kept six months (180 days). The
section therefore says, for every log store, how it is bounded (size, rotation, retention
mode), what that configuration implies in days where it can, and **the oldest entry
actually kept**, so that the collector can compare with 180 days without trusting
configuration alone. On Windows it adds the audit policy of the logon-related
subcategories, since a Security log that is kept but never written proves nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire._base import Identifier, LongText, Name, ShortText, Text, UtcDatetime, WireModel

__all__ = [
    "AuditSubcategory",
    "AuditdFacts",
    "JournaldFacts",
    "JournaldSetting",
    "LogSettingsFacts",
    "LogStore",
    "LogrotateRule",
    "RetentionMode",
]

RetentionMode = Literal["circular", "retain", "autobackup", "rotate", "journal", "none", "unknown"]


class LogStore(WireModel):
    """One place where log records are kept: an event log channel, the journal, a log file."""

    name: Name = Field(
        description="Channel name (Security, Application...), 'journal', or the log file path."
    )
    kind: Literal["windows_eventlog", "journald", "file"] = Field(description="What kind of store this is.")
    path: Text = Field(default="", description="File or folder holding the records, as the system names it.")
    enabled: bool | None = Field(default=None, description="Whether the channel is enabled; None = not said.")
    max_size_bytes: int | None = Field(
        default=None, ge=0, description="Largest size the store may reach (channel maximum, journal cap)."
    )
    current_size_bytes: int | None = Field(default=None, ge=0, description="Size on disk now, when known.")
    retention_mode: RetentionMode = Field(
        default="unknown",
        description="circular: oldest records overwritten when full (Windows 'overwrite as needed'); retain: "
        "not overwritten, new records are lost when full; autobackup: archived when full, then cleared; "
        "rotate: files rotated by logrotate/auditd; journal: journald vacuuming by size/time; none: grows "
        "without rotation; unknown.",
    )
    record_count: int | None = Field(default=None, ge=0, description="Records in the store, when known.")
    oldest_entry: UtcDatetime | None = Field(
        default=None, description="Time of the oldest record still kept; None when there is none or unknown."
    )
    oldest_entry_source: ShortText = Field(
        default="",
        description="How oldest_entry was found: 'oldest record', 'journal first entry', 'first line of "
        "<file>', or 'modification time of <file>' (an upper bound: the file holds only older records).",
    )
    retained_days: int | None = Field(
        default=None,
        ge=0,
        description="Whole days between oldest_entry and the time of reading (the report's collected_at, to "
        "the day): the history actually kept.",
    )
    policy_retention_days: int | None = Field(
        default=None,
        ge=0,
        description="Days of history the configuration keeps at least (logrotate rotate x period, capped by "
        "maxage; journald MaxRetentionSec); None when it is bounded by size only or not configured.",
    )
    policy: Text = Field(
        default="", description="The configuration in words, e.g. 'weekly, rotate 4, compress'."
    )
    rotated_files: int = Field(default=0, ge=0, description="Rotated or archived files kept beside it.")
    note: Text = Field(default="", description="What is uncertain or missing about this store.")


class AuditSubcategory(WireModel):
    """One subcategory of the Windows advanced audit policy (auditpol), keyed by its GUID."""

    guid: Identifier = Field(
        description="Subcategory GUID, lower case without braces (language independent)."
    )
    key: Identifier = Field(
        default="", description="Stable English name for the GUID (e.g. 'logon'), '' for unknown GUIDs."
    )
    name: ShortText = Field(default="", description="The name as auditpol printed it (localised).")
    setting: ShortText = Field(default="", description="Inclusion setting text as printed (localised).")
    success: bool | None = Field(
        default=None, description="Success events audited; None = text not understood."
    )
    failure: bool | None = Field(
        default=None, description="Failure events audited; None = text not understood."
    )


class JournaldSetting(WireModel):
    """An effective journald.conf [Journal] setting and where it came from."""

    key: Identifier = Field(description="Storage, SystemMaxUse, MaxRetentionSec or MaxFileSec.")
    value: ShortText = Field(default="", description="Effective value as written; '' = compiled-in default.")
    source: Text = Field(description="File (with line) that set the effective value, or 'default'.")
    number: int | None = Field(
        default=None, description="Value in seconds (time keys) or bytes (size keys) when absolute."
    )


class JournaldFacts(WireModel):
    """systemd-journald: configuration and the journal's extent."""

    installed: bool = Field(description="journalctl is present.")
    active: bool | None = Field(default=None, description="journald's socket exists (it is running).")
    storage: ShortText = Field(
        default="auto", description="Configured Storage= (persistent/volatile/auto/none)."
    )
    effective_storage: Literal["persistent", "volatile", "none", "unknown"] = Field(
        default="unknown",
        description="Where records go: 'auto' means persistent only when /var/log/journal exists.",
    )
    persistent_dir_exists: bool = Field(default=False, description="/var/log/journal exists.")
    settings: list[JournaldSetting] = Field(
        default_factory=list, max_length=16, description="Effective retention settings with their source."
    )
    boots: int = Field(default=0, ge=0, description="Boots recorded in the journal.")
    disk_usage_bytes: int | None = Field(default=None, ge=0, description="journalctl --disk-usage.")


class LogrotateRule(WireModel):
    """One logrotate block with the global defaults it inherits applied."""

    patterns: list[Text] = Field(
        default_factory=list, max_length=64, description="File patterns of the block."
    )
    source: Text = Field(description="Config file and line of the block.")
    period: Literal["hourly", "daily", "weekly", "monthly", "yearly", ""] = Field(
        default="", description="Rotation period ('' when rotation is driven by size only or unset)."
    )
    rotate: int | None = Field(default=None, description="Rotated files kept (rotate N); -1 keeps all.")
    maxage_days: int | None = Field(
        default=None, ge=0, description="Rotated files older than this are removed."
    )
    size: ShortText = Field(default="", description="size/maxsize/minsize directives as written.")
    retention_days: int | None = Field(
        default=None,
        ge=0,
        description="History kept at least: rotate x period in days, capped by maxage; None when size-driven.",
    )


class AuditdFacts(WireModel):
    """The Linux audit daemon's log settings (/etc/audit/auditd.conf)."""

    installed: bool = Field(description="auditd or its configuration is present.")
    log_file: Text = Field(default="", description="log_file (default /var/log/audit/audit.log).")
    max_log_file_mb: int | None = Field(default=None, ge=0, description="max_log_file in MiB.")
    num_logs: int | None = Field(default=None, ge=0, description="num_logs: log files kept.")
    max_log_file_action: ShortText = Field(default="", description="ROTATE, KEEP_LOGS, SUSPEND, IGNORE...")


class LogSettingsFacts(WireModel):
    stores: list[LogStore] = Field(
        default_factory=list,
        max_length=512,
        description="Every log store read, with size, mode, oldest entry.",
    )
    audit_policy: list[AuditSubcategory] = Field(
        default_factory=list,
        max_length=128,
        description="Windows advanced audit policy per subcategory (auditpol /get /category:* /r).",
    )
    journald: JournaldFacts | None = Field(default=None, description="Linux: journald; None on Windows.")
    syslog_daemons: list[ShortText] = Field(
        default_factory=list, max_length=8, description="Linux: syslog daemons present (rsyslog, syslog-ng)."
    )
    syslog_files: list[Text] = Field(
        default_factory=list, max_length=128, description="Linux: files the syslog daemons' rules write to."
    )
    logrotate_installed: bool | None = Field(
        default=None, description="Linux: the logrotate program is present (rules alone rotate nothing)."
    )
    logrotate_rules: list[LogrotateRule] = Field(
        default_factory=list, max_length=512, description="Linux: logrotate blocks with inherited defaults."
    )
    auditd: AuditdFacts | None = Field(default=None, description="Linux: auditd settings; None on Windows.")
    note: LongText = Field(default="", description="What could not be read, for the admin.")
