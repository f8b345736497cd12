<#
.SYNOPSIS
  Remove the Watchpost agent from a Windows PC (silent; for group policy or by hand; issue 8).

.DESCRIPTION
  Stops the WatchpostAgent service (ending its process, and anything still running from the
  program folder, when it does not stop within 60 s), deletes the service whatever its state
  (running, stopped, disabled, hung), and removes the program folder. The data folder
  %ProgramData%\Watchpost (configuration, node key, queue, logs) is kept unless -Purge is
  given, so that a reinstallation resumes where the agent left off. After -Purge the PC must
  be enrolled again (and an admin may revoke its old key at the collector).

  Exit codes: 0 removed (or nothing was installed); 1 something could not be removed (the
  reason is in %ProgramData%\Watchpost\logs\install.log, or on the console with -Purge);
  2 not run as administrator.

.EXAMPLE
  powershell.exe -ExecutionPolicy Bypass -NoProfile -NonInteractive -File uninstall-agent.ps1 [-Purge]
#>
[CmdletBinding()]
param(
    [switch]$Purge,
    [string]$InstallDir = ""
)
$ErrorActionPreference = "Stop"
$ServiceName = "WatchpostAgent"
if (-not $InstallDir) {
    $programFiles = $env:ProgramW6432  # "C:\Program Files" in a 32-bit PowerShell too
    if (-not $programFiles) { $programFiles = $env:ProgramFiles }
    $InstallDir = Join-Path $programFiles "Watchpost"
}
$InstallDir = $InstallDir.TrimEnd("\")
$DataRoot = Join-Path $env:ProgramData "Watchpost"
$LogDir = Join-Path $DataRoot "logs"
$InstallLog = Join-Path $LogDir "install.log"
$EventSource = "HKLM:\SYSTEM\CurrentControlSet\Services\EventLog\Application\$ServiceName"

function Say([string]$text) {
    # Into the install log while it is there (not under -Purge, which removes it) and the
    # data folder is the locked one the installer made.
    if ($script:logOk -and -not $Purge -and (Test-Path -LiteralPath $LogDir -PathType Container)) {
        $line = "{0:yyyy-MM-dd HH:mm:ss} uninstall: {1}" -f (Get-Date), $text
        Add-Content -LiteralPath $InstallLog -Value $line -Encoding UTF8
    }
    Write-Host $text
}

function Invoke-Native([string]$FilePath, [string[]]$ArgumentList) {
    # Windows PowerShell 5.1 turns a native program's stderr lines into error records, which
    # ErrorActionPreference Stop would make fatal before the exit code is read.
    $ErrorActionPreference = "Continue"
    $global:LASTEXITCODE = -1
    $lines = & $FilePath @ArgumentList 2>&1 | ForEach-Object { [string]$_ }
    [pscustomobject]@{ Code = $LASTEXITCODE; Output = ((@($lines) -join "`n").Trim()) }
}

function Test-Link([string]$Path) {
    (Get-Item -LiteralPath $Path -Force).Attributes.HasFlag([IO.FileAttributes]::ReparsePoint)
}

function Test-TrustedFolder([string]$Path) {
    # Made by install-agent.ps1 (owner Administrators) or SYSTEM, not a link: only then is what
    # is inside known not to be a user's junction to somewhere else.
    try {
        if (Test-Link $Path) { return $false }
        $owner = (Get-Acl -LiteralPath $Path).GetOwner([Security.Principal.SecurityIdentifier]).Value
        return ($owner -eq "S-1-5-18" -or $owner -eq "S-1-5-32-544")
    } catch {
        return $false
    }
}

function Remove-Folder([string]$Path) {
    if (-not (Test-Path -LiteralPath $Path)) { return }
    if (Test-Link $Path) {
        # Remove the link itself: Remove-Item -Recurse in Windows PowerShell follows junctions.
        [System.IO.Directory]::Delete($Path, $false)
    } else {
        Remove-Item -LiteralPath $Path -Recurse -Force
    }
}

function Wait-AgentStopped([int]$Seconds) {
    $deadline = (Get-Date).AddSeconds($Seconds)
    do {
        $svc = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
        if (-not $svc -or [string]$svc.Status -eq "Stopped") { return $true }
        Start-Sleep -Seconds 1
    } while ((Get-Date) -lt $deadline)
    return $false
}

$script:logOk = $false
try {
    $script:logOk = (Test-Path -LiteralPath $LogDir) -and (Test-TrustedFolder $DataRoot) -and -not (Test-Link $LogDir)
    $principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        Write-Host "ERROR: run this as an administrator (elevated), or as SYSTEM from group policy"
        exit 2
    }
    if (-not [IO.Path]::IsPathRooted($InstallDir)) { Write-Host "ERROR: -InstallDir must be a full path"; exit 2 }
    $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if ($service) {
        if ([string]$service.Status -ne "Stopped") {
            Say "stopping $ServiceName ($($service.Status))"
            Invoke-Native "sc.exe" @("stop", $ServiceName) | Out-Null
            if (-not (Wait-AgentStopped 60)) {
                # Hung, or stuck in a pending state: end the process. The SCM's restart-on-failure
                # does not come back, as the service is deleted right after.
                $processId = (Get-CimInstance -ClassName Win32_Service -Filter "Name='$ServiceName'").ProcessId
                Say "$ServiceName did not stop within 60 s; ending its process $processId"
                if ($processId) { Stop-Process -Id $processId -Force -ErrorAction SilentlyContinue }
                Wait-AgentStopped 30 | Out-Null
            }
        }
        # Deleted whatever its start type (disabled included). 1072: already marked for deletion.
        $r = Invoke-Native "sc.exe" @("delete", $ServiceName)
        if ($r.Code -eq 0 -or $r.Code -eq 1072) {
            Say "service $ServiceName removed"
        } else {
            throw "sc.exe delete $ServiceName failed (exit $($r.Code)): $($r.Output)"
        }
    }
    # Whatever still runs from the program folder (a probe child, a 'status' left open) holds
    # its files open.
    $prefix = $InstallDir + "\"
    Get-CimInstance -ClassName Win32_Process | Where-Object {
        $_.ExecutablePath -and $_.ExecutablePath.StartsWith($prefix, [StringComparison]::OrdinalIgnoreCase)
    } | ForEach-Object {
        Say "ending $($_.Name) (process $($_.ProcessId)), still running from $InstallDir"
        Stop-Process -Id $_.ProcessId -Force -ErrorAction SilentlyContinue
    }
    # pywin32's servicemanager registered this event source, pointing into the program folder.
    if (Test-Path -LiteralPath $EventSource) { Remove-Item -LiteralPath $EventSource -Recurse -Force }
    $parent = Split-Path -Parent $InstallDir
    $leaf = Split-Path -Leaf $InstallDir
    $folders = @($InstallDir, "$InstallDir.new")
    if (Test-Path -LiteralPath $parent) {
        $folders += @(Get-ChildItem -LiteralPath $parent -Directory | Where-Object {
            $_.Name -like "$leaf.old-*" -or $_.Name -like "$leaf.failed-*" } | ForEach-Object { $_.FullName })
    }
    foreach ($folder in $folders) {
        if (Test-Path -LiteralPath $folder) { Remove-Folder $folder; Say "removed $folder" }
    }
    if ($Purge -and (Test-Path -LiteralPath $DataRoot)) {
        if (-not (Test-TrustedFolder $DataRoot)) {
            throw "$DataRoot was not made by the installer (a link, or owned by a user): not removed; look at it by hand"
        }
        Remove-Folder $DataRoot
        Write-Host "removed $DataRoot"
    } elseif (Test-Path -LiteralPath $DataRoot) {
        Say "kept $DataRoot (configuration, node key, queue, logs); -Purge removes it"
    }
    exit 0
} catch {
    Say "ERROR: $($_.Exception.Message)"
    exit 1
}
