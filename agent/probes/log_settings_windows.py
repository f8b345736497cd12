"""Windows reader of ``log_settings``: event log channels, their oldest record, audit policy.

ONE PowerShell call (``POWERSHELL_ARGV``) returns JSON with: ``Get-WinEvent -ListLog`` of six
channels, the oldest record's time of each (``Get-WinEvent -LogName X -MaxEvents 1 -Oldest``),
the time of reading, and the text of ``auditpol /get /category:* /r`` (needs administrator
rights). Each part has its own try/catch, so one failing part loses nothing else.

auditpol prints subcategory names and settings in the language of Windows; rows are
therefore keyed on the subcategory GUID, and the setting text is read in English and
Chinese (see ``setting_flags``).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agent.host import HostContext, ReadError
from agent.probes.base import Collected
from agent.wmi import as_instances
from wire import SectionError
from wire.sections.log_settings import AuditSubcategory, LogSettingsFacts, LogStore, RetentionMode

__all__ = [
    "CHANNELS",
    "LOGON_SUBCATEGORIES",
    "POWERSHELL_ARGV",
    "SUBCATEGORIES",
    "collect_windows",
    "parse_auditpol_csv",
    "parse_ps_time",
    "parse_windows_log_settings",
    "setting_flags",
]

CHANNELS = (
    "Application",
    "System",
    "Security",
    "Setup",
    "Microsoft-Windows-Windows Defender/Operational",
    "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
)
POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; "
    "$r=@{now=(Get-Date).ToUniversalTime().ToString('o'); oldest=@{}; errors=@{}; auditpol=$null; "
    "auditpol_exit=$null}; $logs=New-Object System.Collections.ArrayList; "
    "foreach($n in @('" + "','".join(CHANNELS) + "')){ $c=$null; "
    "try { $c=Get-WinEvent -ListLog $n -ErrorAction Stop; [void]$logs.Add(($c | Select-Object LogName,"
    "IsEnabled,@{n='LogMode';e={[string]$_.LogMode}},MaximumSizeInBytes,FileSize,RecordCount,LogFilePath,"
    "IsLogFull)) } catch { $r.errors[$n]=$_.Exception.Message }; "
    "if($c -and $c.RecordCount -ne 0){ try { $e=Get-WinEvent -LogName $n -MaxEvents 1 -Oldest "
    "-ErrorAction Stop; $r.oldest[$n]=$e.TimeCreated.ToUniversalTime().ToString('o') } catch "
    "{ $r.errors['oldest '+$n]=$_.Exception.Message } } }; $r.logs=$logs; "
    "try { $a=& auditpol.exe /get /category:* /r 2>&1 | ForEach-Object { [string]$_ }; "
    "$r.auditpol_exit=$LASTEXITCODE; $r.auditpol=($a -join [char]10) } catch "
    "{ $r.errors['auditpol']=$_.Exception.Message }; $r | ConvertTo-Json -Depth 4 -Compress"
)
#: The reader's command line (a capture bundle records it under this argv).
POWERSHELL_ARGV = [
    "powershell.exe",
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-Command",
    POWERSHELL,
]
_GUID_BASE = "-69ae-11d9-bed3-505054503030"
#: Audit subcategory GUIDs (0cce92xx-69ae-11d9-bed3-505054503030) -> stable English key.
SUBCATEGORIES: dict[str, str] = {
    f"0cce92{suffix}{_GUID_BASE}": key
    for suffix, key in (
        ("10", "security_state_change"), ("11", "security_system_extension"), ("12", "system_integrity"),
        ("13", "ipsec_driver"), ("14", "other_system_events"), ("15", "logon"), ("16", "logoff"),
        ("17", "account_lockout"), ("18", "ipsec_main_mode"), ("19", "ipsec_quick_mode"),
        ("1a", "ipsec_extended_mode"), ("1b", "special_logon"), ("1c", "other_logon_logoff_events"),
        ("1d", "file_system"), ("1e", "registry"), ("1f", "kernel_object"), ("20", "sam"),
        ("21", "certification_services"), ("22", "application_generated"), ("23", "handle_manipulation"),
        ("24", "file_share"), ("25", "filtering_platform_packet_drop"),
        ("26", "filtering_platform_connection"), ("27", "other_object_access_events"),
        ("28", "sensitive_privilege_use"), ("29", "non_sensitive_privilege_use"),
        ("2a", "other_privilege_use_events"), ("2b", "process_creation"), ("2c", "process_termination"),
        ("2d", "dpapi_activity"), ("2e", "rpc_events"), ("2f", "audit_policy_change"),
        ("30", "authentication_policy_change"), ("31", "authorization_policy_change"),
        ("32", "mpssvc_rule_level_policy_change"), ("33", "filtering_platform_policy_change"),
        ("34", "other_policy_change_events"), ("35", "user_account_management"),
        ("36", "computer_account_management"), ("37", "security_group_management"),
        ("38", "distribution_group_management"), ("39", "application_group_management"),
        ("3a", "other_account_management_events"), ("3b", "directory_service_access"),
        ("3c", "directory_service_changes"), ("3d", "directory_service_replication"),
        ("3e", "detailed_directory_service_replication"), ("3f", "credential_validation"),
        ("40", "kerberos_service_ticket_operations"), ("41", "other_account_logon_events"),
        ("42", "kerberos_authentication_service"), ("43", "network_policy_server"),
        ("44", "detailed_file_share"), ("45", "removable_storage"), ("46", "central_policy_staging"),
        ("47", "user_device_claims"), ("48", "plug_and_play_events"), ("49", "group_membership"),
        ("4a", "token_right_adjusted_events"), ("4b", "access_rights"),
    )
}  # fmt: skip
#: The subcategories that make logons and account changes appear in the Security log.
LOGON_SUBCATEGORIES = (
    "logon",
    "logoff",
    "account_lockout",
    "special_logon",
    "credential_validation",
    "user_account_management",
    "security_group_management",
)
_MODES: dict[str, RetentionMode] = {
    "circular": "circular", "0": "circular", "autobackup": "autobackup", "1": "autobackup",
    "retain": "retain", "2": "retain",
}  # fmt: skip
_MODE_WORDS = {
    "circular": "overwrite events as needed",
    "autobackup": "archive the log when full",
    "retain": "do not overwrite events",
}
_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")
_NONE_WORDS = ("no auditing", "无审核", "無審核", "沒有稽核", "不审核")
_UNSET_WORDS = ("not configured", "未配置", "尚未設定", "尚未设置")


def setting_flags(text: str) -> tuple[bool | None, bool | None]:
    """(success, failure) audited, from an auditpol inclusion setting in English or Chinese.

    English: ``Success``, ``Failure``, ``Success and Failure``, ``No Auditing``.
    Simplified Chinese (zh-CN): ``成功``, ``失败``, ``成功和失败``, ``无审核``; Traditional (zh-TW):
    ``成功``, ``失敗``, ``成功與失敗``, ``沒有稽核``. The words 成功/失败/失敗 are looked for rather
    than whole phrases, so the conjunction (和, 与, 與) does not matter. The numeric
    ``Setting Value`` of ``auditpol /backup`` files (0-3) is read too. Anything else: unknown.
    """
    lowered = (text or "").strip().lower()
    if lowered in {"0", "1", "2", "3"}:
        value = int(lowered)
        return bool(value & 1), bool(value & 2)
    if any(word in lowered for word in _NONE_WORDS):
        return False, False
    if not lowered or any(word in lowered for word in _UNSET_WORDS):
        return None, None
    success = "success" in lowered or "成功" in lowered
    failure = "failure" in lowered or "失败" in lowered or "失敗" in lowered
    return (success, failure) if success or failure else (None, None)


def parse_auditpol_csv(text: str) -> list[AuditSubcategory]:
    """Subcategories of ``auditpol /get /category:* /r``, keyed on the GUID column.

    The header is localised too, so rows are recognised by their GUID (4th column)::

        Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting
        WS2022,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},Success and Failure,
    """
    found: dict[str, AuditSubcategory] = {}
    lines = [line for line in (text or "").replace("\r", "").replace("\x00", "").split("\n") if line.strip()]
    try:
        rows = list(csv.reader(lines))
    except csv.Error:
        rows = [line.split(",") for line in lines]
    for row in rows:
        if len(row) < 5:
            continue
        match = _GUID.match(row[3].strip())
        if not match:
            continue
        guid = match.group(1).lower()
        setting = row[4].strip()
        if len(row) > 6 and row[6].strip() in {"0", "1", "2", "3"} and setting_flags(setting) == (None, None):
            setting = row[6].strip()
        success, failure = setting_flags(setting)
        found[guid] = AuditSubcategory(
            guid=guid,
            key=SUBCATEGORIES.get(guid, ""),
            name=row[2].strip()[:255],
            setting=row[4].strip()[:255],
            success=success,
            failure=failure,
        )
    return list(found.values())[:128]


def parse_ps_time(value: Any) -> datetime | None:
    """``2026-11-27T08:00:00.1234567Z`` (ToString('o')), ``/Date(ms)/``, ``{"value": ..}`` -> UTC."""
    if isinstance(value, dict):
        value = value.get("value") or value.get("DateTime")
    text = str(value or "").strip()
    match = re.fullmatch(r"/Date\((-?\d+)\)/", text)
    try:
        if match:
            stamp = datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
        else:
            text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
            stamp = datetime.fromisoformat(text)
            stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return stamp if stamp.year > 1601 else None


def _text(value: Any, limit: int) -> str:
    return ("" if value is None else str(value)).replace("\x00", "").strip()[:limit]


def _int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**63 else None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text == "true" else False if text == "false" else None


def _store(item: Mapping[str, Any], oldest: Mapping[str, Any], now: datetime | None) -> LogStore | None:
    name = _text(item.get("LogName"), 128)
    if not name:
        return None
    mode = _MODES.get(str(item.get("LogMode", "")).strip().lower(), "unknown")
    maximum = _int(item.get("MaximumSizeInBytes"))
    first = parse_ps_time(oldest.get(name))
    if first is not None and now is not None and first > now:
        first = None
    policy = f"{_text(item.get('LogMode'), 32)} ({_MODE_WORDS[mode]})" if mode in _MODE_WORDS else ""
    if maximum:
        policy += f", maximum {maximum // 1024} KiB"
    records = _int(item.get("RecordCount"))
    note = "the log is full" if _bool(item.get("IsLogFull")) else ""
    if records == 0:
        note = "the log holds no records"
    return LogStore(
        name=name,
        kind="windows_eventlog",
        path=_text(item.get("LogFilePath"), 1024),
        enabled=_bool(item.get("IsEnabled")),
        max_size_bytes=maximum,
        current_size_bytes=_int(item.get("FileSize")),
        retention_mode=mode,
        record_count=records,
        oldest_entry=first,
        oldest_entry_source="oldest record (Get-WinEvent -Oldest)" if first else "",
        retained_days=max(0, (now - first).days) if first and now else None,
        policy=policy.strip(", ")[:1024],
        note=note,
    )


def parse_windows_log_settings(data: Any) -> tuple[LogSettingsFacts, list[SectionError]]:
    """The reader's JSON -> facts and the per-part errors it reported. Sample::

    {"now":"2026-11-27T08:00:00.0000000Z","logs":[{"LogName":"Security","IsEnabled":true,
     "LogMode":"Circular","MaximumSizeInBytes":20971520,"FileSize":20975616,"RecordCount":2445,
     "LogFilePath":"%SystemRoot%\\System32\\Winevt\\Logs\\Security.evtx"}],
     "oldest":{"Security":"2026-10-01T02:03:04.0000000Z"},"errors":{},
     "auditpol":"Machine Name,Policy Target,...","auditpol_exit":0}
    """
    data = data if isinstance(data, dict) else {}
    now = parse_ps_time(data.get("now"))
    oldest = data.get("oldest") if isinstance(data.get("oldest"), dict) else {}
    stores = [s for s in (_store(i, oldest, now) for i in as_instances(data.get("logs"))) if s is not None]
    errors = [
        SectionError(
            source=_text(f"Get-WinEvent {k}" if k != "auditpol" else "auditpol", 255), message=_text(v, 1024)
        )
        for k, v in (data.get("errors") if isinstance(data.get("errors"), dict) else {}).items()
    ]
    text = data.get("auditpol")
    policy = parse_auditpol_csv(text if isinstance(text, str) else "")
    exit_code = _int(data.get("auditpol_exit"))
    if text is not None and not policy:
        message = _text(text if isinstance(text, str) else "", 1000) or "no output"
        if exit_code not in (None, 0):
            message = f"exit code {exit_code} (administrator rights needed): {message}"
        errors.append(SectionError(source="auditpol /get /category:* /r", message=message[:1024]))
    missing = [k for k in LOGON_SUBCATEGORIES if policy and k not in {p.key for p in policy}]
    note = f"logon subcategories not reported by auditpol: {', '.join(missing)}" if missing else ""
    return LogSettingsFacts(stores=stores[:512], audit_policy=policy, note=note), errors


def collect_windows(ctx: HostContext) -> Collected:
    try:
        result = ctx.run(POWERSHELL_ARGV, timeout=120)
    except ReadError as exc:
        return Collected(
            LogSettingsFacts(note="PowerShell could not be run"),
            [SectionError(source="powershell Get-WinEvent/auditpol", message=exc.message[:1024])],
        )
    try:
        data = json.loads(result.stdout.lstrip("\ufeff") or "null")
    except ValueError:
        message = (result.stderr or result.stdout).strip()[:1000] or "no JSON output"
        return Collected(
            LogSettingsFacts(note="the PowerShell reader gave no JSON"),
            [SectionError(source="powershell Get-WinEvent/auditpol", message=message)],
        )
    facts, errors = parse_windows_log_settings(data)
    return Collected(facts, errors)
