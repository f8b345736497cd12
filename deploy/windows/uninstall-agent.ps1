<#
.SYNOPSIS
  Remove the Watchpost agent from a Windows PC (silent; for group policy or by hand).

.DESCRIPTION
  Stops and deletes the WatchpostAgent service and the program folder. The data folder
  %ProgramData%\Watchpost (configuration, node key, queue, logs) is kept unless -Purge is
  given, so that a reinstallation resumes where the agent left off. After -Purge the PC
  must be enrolled again (and an admin may revoke its old key at the collector).

.EXAMPLE
  powershell -ExecutionPolicy Bypass -NoProfile -File uninstall-agent.ps1 [-Purge]
#>
[CmdletBinding()]
param(
    [switch]$Purge,
    [string]$InstallDir = (Join-Path $env:ProgramFiles "Watchpost")
)
$ErrorActionPreference = "Stop"
$ServiceName = "WatchpostAgent"
$DataRoot = Join-Path $env:ProgramData "Watchpost"
try {
    $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if ($service) {
        if ($service.Status -ne "Stopped") {
            Stop-Service -Name $ServiceName -Force
            (Get-Service -Name $ServiceName).WaitForStatus("Stopped", (New-TimeSpan -Seconds 60))
        }
        & sc.exe delete $ServiceName | Out-Null
        Write-Host "service $ServiceName removed"
    }
    if (Test-Path $InstallDir) { Remove-Item -Recurse -Force $InstallDir; Write-Host "removed $InstallDir" }
    if ($Purge -and (Test-Path $DataRoot)) { Remove-Item -Recurse -Force $DataRoot; Write-Host "removed $DataRoot" }
    elseif (Test-Path $DataRoot) { Write-Host "kept $DataRoot (node key, queue, logs); -Purge removes it" }
    exit 0
} catch {
    Write-Host "ERROR: $($_.Exception.Message)"
    exit 1
}
