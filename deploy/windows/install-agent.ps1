<#
.SYNOPSIS
  Install, upgrade or repair the Watchpost agent on a Windows PC, silently (issue 8).

.DESCRIPTION
  For a group-policy computer startup script (it runs as SYSTEM there, with no console, at
  every start-up), a software-distribution tool, or an elevated Windows PowerShell 5.1.
  Full description: docs/windows-agent.md.

  Nothing to do (the usual case at start-up): the installed agent has the bundle's version
  (from the bundle's file name; the bundle itself is not read), the PC is enrolled and the
  service is registered with the right command line. Then only a changed -CaBundle is
  copied again, and the script exits 0 within a few seconds.

  Otherwise:
  1. secures %ProgramData%\Watchpost (owner Administrators, SYSTEM and Administrators only;
     a folder there that this script did not make is moved aside, never trusted);
  2. checks the bundle against its .sha256 file (when there is one), unpacks it next to the
     program folder (default %ProgramFiles%\Watchpost; Users may read and run it, not write)
     and checks that the unpacked agent runs and has the expected version;
  3. stops the service (ending it and any process still running from the program folder
     if it does not stop within 60 s), swaps the program folders by renaming and starts the
     new one; if the new version does not start, the previous folder is put back;
  4. keeps %ProgramData%\Watchpost (agent.toml, data\node.key, data\agent.db: the node key
     and the queue survive every upgrade);
  5. enrolls once, with the enrollment secret read from -SecretFile and given to the agent
     on standard input (never on a command line, never in a log); the CA bundle is copied to
     %ProgramData%\Watchpost\ca-bundle.pem and the agent's config points at that copy;
  6. registers the service WatchpostAgent (delayed automatic start; restarted by the Service
     Control Manager after a failure or after the agent restarts itself, exit 75).

  Exit codes: 0 done (or nothing to do); 1 failed, may succeed on a later run (network,
  collector, locked files); 2 wrong parameters or not run as administrator (a later run
  fails the same way). The reason is in %ProgramData%\Watchpost\logs\install.log.

.EXAMPLE
  powershell.exe -ExecutionPolicy Bypass -NoProfile -NonInteractive -File install-agent.ps1 `
      -Bundle \\fileserver\watchpost\watchpost-agent-0.1.0-win64.zip `
      -Server https://watchpost.example.internal -SecretFile \\fileserver\watchpost\341021.secret `
      -CaBundle \\fileserver\watchpost\city-ca.pem
#>
[CmdletBinding()]
param(
    [string]$Bundle = "",
    [string]$Server = "",
    [string]$SecretFile = "",
    [string]$CaBundle = "",
    [string]$Proxy = "",
    [string]$InstallDir = "",
    [switch]$Force
)
$ErrorActionPreference = "Stop"
$ServiceName = "WatchpostAgent"
$SidSystem = "S-1-5-18"
$SidAdmins = "S-1-5-32-544"
$SidUsers = "S-1-5-32-545"
if (-not $InstallDir) {
    # ProgramW6432 is "C:\Program Files" in a 32-bit PowerShell too (some deployment tools
    # start one), where ProgramFiles would name the (x86) folder.
    $programFiles = $env:ProgramW6432
    if (-not $programFiles) { $programFiles = $env:ProgramFiles }
    $InstallDir = Join-Path $programFiles "Watchpost"
}
$InstallDir = $InstallDir.TrimEnd("\")
$InstallDirIsAbsolute = [IO.Path]::IsPathRooted($InstallDir)
$Exe = Join-Path $InstallDir "watchpost-agent.exe"
$Staging = "$InstallDir.new"
$DataRoot = Join-Path $env:ProgramData "Watchpost"
$DataDir = Join-Path $DataRoot "data"
$NodeKey = Join-Path $DataDir "node.key"
$Config = Join-Path $DataRoot "agent.toml"
$CaCopy = Join-Path $DataRoot "ca-bundle.pem"
$LogDir = Join-Path $DataRoot "logs"
$InstallLog = Join-Path $LogDir "install.log"
# The service's command line as the Service Control Manager stores it (its ImagePath).
$ServiceCommand = '"{0}" --config "{1}" service-host' -f $Exe, $Config
$script:logReady = $false
$script:early = New-Object System.Collections.Generic.List[string]
$script:restartOnFailure = $false

function Say([string]$text) {
    $line = "{0:yyyy-MM-dd HH:mm:ss} {1}" -f (Get-Date), $text
    if ($script:logReady) { Add-Content -LiteralPath $InstallLog -Value $line -Encoding UTF8 }
    else { $script:early.Add($line) }
    Write-Host $text
}

function Fail([string]$text, [int]$code = 1) {
    Say "ERROR: $text"
    if ($script:restartOnFailure) { Restore-Service }
    exit $code
}

function Invoke-Native([string]$FilePath, [string[]]$ArgumentList) {
    # Windows PowerShell 5.1 wraps each line a native program writes to stderr in an error
    # record; under ErrorActionPreference Stop the first one would end the script before the
    # exit code is read. Continue in this function's scope only; merge and keep the text.
    $ErrorActionPreference = "Continue"
    $global:LASTEXITCODE = -1
    $lines = & $FilePath @ArgumentList 2>&1 | ForEach-Object { [string]$_ }
    [pscustomobject]@{ Code = $LASTEXITCODE; Output = ((@($lines) -join "`n").Trim()) }
}

function Invoke-Sc([string]$CommandLine) {
    # sc.exe gets this command line exactly as written: Windows PowerShell 5.1 does not escape
    # quotes inside a native argument, so '& sc.exe ... binPath= $binPath' would split the
    # quoted program path at its spaces. Returns sc.exe's exit code.
    $out = Join-Path $LogDir "sc.out"
    $p = Start-Process -FilePath "sc.exe" -ArgumentList $CommandLine -NoNewWindow -Wait -PassThru `
        -RedirectStandardOutput $out
    if ($p.ExitCode -ne 0) {
        Say ("sc.exe {0}: exit {1}: {2}" -f $CommandLine, $p.ExitCode, (Get-Content -LiteralPath $out -Raw))
    }
    return $p.ExitCode
}

function Test-Link([string]$Path) {
    (Get-Item -LiteralPath $Path -Force).Attributes.HasFlag([IO.FileAttributes]::ReparsePoint)
}

function Test-TrustedFolder([string]$Path) {
    # Made by this script (which makes Administrators the owner) or by SYSTEM. A standard user
    # may create folders under ProgramData and would own them: never trust those.
    try {
        if (Test-Link $Path) { return $false }
        $owner = (Get-Acl -LiteralPath $Path).GetOwner([Security.Principal.SecurityIdentifier]).Value
        return ($owner -eq $SidSystem -or $owner -eq $SidAdmins)
    } catch {
        return $false
    }
}

function Set-FolderAcl([string]$Path, [string[]]$Grants) {
    # On the folder only, not /T: what is inside inherits (and /T would follow a junction).
    $r = Invoke-Native "icacls.exe" @($Path, "/setowner", "*$SidAdmins", "/Q")
    if ($r.Code -ne 0) { throw "icacls could not make Administrators the owner of ${Path}: $($r.Output)" }
    $r = Invoke-Native "icacls.exe" (@($Path, "/inheritance:r", "/grant:r") + $Grants + @("/Q"))
    if ($r.Code -ne 0) { throw "icacls could not restrict ${Path}: $($r.Output)" }
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

function Move-Folder([string]$From, [string]$To) {
    # A rename, which fails while any file inside is open: the service and everything running
    # from the folder have been stopped, but an antivirus scanner may still hold a file for a
    # moment. A few tries, then the error.
    for ($try = 1; $true; $try++) {
        try {
            Move-Item -LiteralPath $From -Destination $To
            return
        } catch {
            if ($try -ge 5) { throw }
            Start-Sleep -Seconds 3
        }
    }
}

function Open-Log {
    if (Test-Path -LiteralPath $LogDir) {
        if (Test-Link $LogDir) { throw "$LogDir is a link; remove it" }
    } else {
        New-Item -ItemType Directory -Path $LogDir | Out-Null
    }
    if ((Test-Path -LiteralPath $InstallLog) -and (Get-Item -LiteralPath $InstallLog).Length -gt 1mb) {
        Remove-Item -LiteralPath "$InstallLog.1" -Force -ErrorAction SilentlyContinue
        Move-Item -LiteralPath $InstallLog -Destination "$InstallLog.1"
    }
    $script:logReady = $true
    if ($script:early.Count -gt 0) {
        Add-Content -LiteralPath $InstallLog -Value $script:early.ToArray() -Encoding UTF8
        $script:early.Clear()
    }
}

function Initialize-DataRoot {
    # %ProgramData%\Watchpost holds the node key: SYSTEM and Administrators only (by SID, as
    # account names are localised). Checked before anything is written into it.
    if ((Test-Path -LiteralPath $DataRoot) -and -not (Test-TrustedFolder $DataRoot)) {
        $aside = "{0}.untrusted-{1:yyyyMMddHHmmss}" -f $DataRoot, (Get-Date)
        Move-Item -LiteralPath $DataRoot -Destination $aside
        Say "$DataRoot was not made by this installer (a link, or owned by neither SYSTEM nor Administrators): moved to $aside"
    }
    if (-not (Test-Path -LiteralPath $DataRoot)) { New-Item -ItemType Directory -Path $DataRoot | Out-Null }
    Set-FolderAcl $DataRoot @("*${SidSystem}:(OI)(CI)F", "*${SidAdmins}:(OI)(CI)F")
    Open-Log
    if (Test-Path -LiteralPath $DataDir) {
        if (Test-Link $DataDir) { throw "$DataDir is a link; remove it" }
    } else {
        New-Item -ItemType Directory -Path $DataDir | Out-Null
    }
}

function Update-CaCopy {
    # The agent reads its CA bundle each time it starts, long after this script: an admin's
    # temporary file or a share that is not mounted then must not be what it reads. It gets its
    # own copy in the data folder, and its config names the copy. Returns whether it changed.
    if (-not $CaBundle) { return $false }
    if (-not (Test-Path -LiteralPath $CaBundle -PathType Leaf)) { throw "no CA bundle at $CaBundle" }
    if ((Get-Content -LiteralPath $CaBundle -Raw) -notmatch "-----BEGIN CERTIFICATE-----") {
        throw "$CaBundle is not a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)"
    }
    if ((Test-Path -LiteralPath $CaCopy) -and
        (Get-FileHash -LiteralPath $CaCopy).Hash -eq (Get-FileHash -LiteralPath $CaBundle).Hash) {
        return $false
    }
    Copy-Item -LiteralPath $CaBundle -Destination $CaCopy -Force
    Say "CA bundle $CaBundle copied to $CaCopy"
    if ((Test-Path -LiteralPath $Config) -and -not (Select-String -LiteralPath $Config -SimpleMatch "ca-bundle.pem" -Quiet)) {
        Say "WARNING: $Config does not name $CaCopy (the PC was enrolled without -CaBundle); enroll it again to use it"
    }
    return $true
}

function Get-InstalledVersion {
    if (-not (Test-Path -LiteralPath $Exe -PathType Leaf)) { return "" }
    $r = Invoke-Native $Exe @("--version")
    if ($r.Code -ne 0) { return "" }
    return ($r.Output -replace "^watchpost-agent\s+", "").Trim()
}

function Get-AgentService {
    $svc = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if (-not $svc) { return $null }
    $key = "HKLM:\SYSTEM\CurrentControlSet\Services\$ServiceName"
    $image = (Get-ItemProperty -LiteralPath $key -Name ImagePath -ErrorAction SilentlyContinue).ImagePath
    [pscustomobject]@{ Status = [string]$svc.Status; ImagePath = [string]$image }
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

function Stop-Stragglers {
    # A probe child whose service was ended, or a 'watchpost-agent status' left open, keeps files
    # of the program folder open; the folder could then not be renamed.
    $prefix = $InstallDir + "\"
    $procs = @(Get-CimInstance -ClassName Win32_Process | Where-Object {
        $_.ExecutablePath -and $_.ExecutablePath.StartsWith($prefix, [StringComparison]::OrdinalIgnoreCase) })
    foreach ($proc in $procs) {
        Say "ending $($proc.Name) (process $($proc.ProcessId)), still running from $InstallDir"
        Stop-Process -Id $proc.ProcessId -Force -ErrorAction SilentlyContinue
    }
    if ($procs.Count -gt 0) { Start-Sleep -Seconds 2 }
}

function Stop-Agent {
    # The agent stops within seconds when asked (agent/winservice.py ends its probe child); one
    # that does not, or hangs in a pending state, is ended: its queue survives a killed process.
    $svc = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if ($svc -and [string]$svc.Status -ne "Stopped") {
        Say "stopping $ServiceName ($($svc.Status))"
        Invoke-Native "sc.exe" @("stop", $ServiceName) | Out-Null
        if (-not (Wait-AgentStopped 60)) {
            $processId = (Get-CimInstance -ClassName Win32_Service -Filter "Name='$ServiceName'").ProcessId
            Say "$ServiceName did not stop within 60 s; ending its process $processId"
            if ($processId) { Stop-Process -Id $processId -Force -ErrorAction SilentlyContinue }
            if (-not (Wait-AgentStopped 30)) { throw "$ServiceName does not stop" }
        }
    }
    Stop-Stragglers
}

function Restore-Service {
    # After a failed run: start whatever program folder is in place. Never throws.
    try {
        $svc = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
        if ($svc -and [string]$svc.Status -eq "Stopped" -and (Test-Path -LiteralPath $Exe)) {
            Start-Service -Name $ServiceName
            Say "$ServiceName started again"
        }
    } catch {
        Say "WARNING: $ServiceName could not be started again: $($_.Exception.Message)"
    }
}

function Invoke-Enrollment {
    if (-not (Test-Path -LiteralPath $SecretFile -PathType Leaf)) { Fail "no secret file at $SecretFile" 2 }
    # Get-Content reads the secret file in any encoding Notepad or PowerShell writes (BOM, UTF-16).
    $secret = ([string](Get-Content -LiteralPath $SecretFile -TotalCount 1)).Trim()
    if (-not $secret) { Fail "the secret file $SecretFile is empty" 2 }
    $enroll = @("--config", $Config, "enroll", "--server", $Server, "--secret", "-", "--data-dir", $DataDir)
    if ($CaBundle) { $enroll += @("--ca-bundle", $CaCopy) }
    if ($Proxy) { $enroll += @("--proxy", $Proxy) }
    Say "enrolling with $Server"
    # The secret reaches the agent on standard input only: a command line is visible to every
    # user (process list, process-creation audit events) and would be logged; this log and any
    # transcript show neither the secret nor a command holding it.
    $OutputEncoding = New-Object System.Text.ASCIIEncoding  # stdin of native programs; no BOM
    $ErrorActionPreference = "Continue"  # this function's scope; see Invoke-Native
    $output = $secret | & $Exe @enroll 2>&1 | ForEach-Object { [string]$_ }
    $code = $LASTEXITCODE
    $secret = $null
    $ErrorActionPreference = "Stop"
    Say ((@($output) -join "`n").Trim())
    if ($code -ne 0) { Fail "enrollment failed (exit $code)" }
}

function Register-AgentService([bool]$Exists) {
    # binPath= "\"<exe>\" --config \"<config>\" service-host": the C runtime's escaped quotes,
    # so that the stored command line keeps the quotes around the paths.
    $binPath = '"' + $ServiceCommand.Replace('"', '\"') + '"'
    if (-not $Exists) {
        $code = Invoke-Sc ('create {0} binPath= {1} start= delayed-auto DisplayName= "Watchpost Agent"' -f $ServiceName, $binPath)
        if ($code -eq 1072) { Fail "the old $ServiceName service is still marked for deletion: close the Services console and Event Viewer, or restart the PC" }
        if ($code -ne 0) { Fail "could not create the service (sc.exe exit $code)" }
    } else {
        $code = Invoke-Sc ('config {0} binPath= {1} start= delayed-auto' -f $ServiceName, $binPath)
        if ($code -ne 0) { Fail "could not reconfigure the service (sc.exe exit $code)" }
    }
    $settings = @(
        @("description", $ServiceName, "Watchpost network-security monitoring agent"),
        # Restarted 1 min after a failure or the agent's own restart (exit 75), 1 min after a
        # second, then every 5 min; the count starts again after a day without a failure.
        @("failure", $ServiceName, "reset=", "86400", "actions=", "restart/60000/restart/60000/restart/300000"),
        # ... also when it stops with an error code instead of crashing.
        @("failureflag", $ServiceName, "1")
    )
    foreach ($setting in $settings) {
        $r = Invoke-Native "sc.exe" $setting
        if ($r.Code -ne 0) { Fail "sc.exe $($setting -join ' '): exit $($r.Code): $($r.Output)" }
    }
}

try {
    $principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        Fail "run this as an administrator (elevated), or as SYSTEM from group policy" 2
    }
    if (-not [Environment]::Is64BitOperatingSystem) { Fail "the agent bundle is 64-bit and this Windows is 32-bit (use collect.ps1)" 2 }
    if (-not $InstallDirIsAbsolute) { Fail "-InstallDir must be a full path, not $InstallDir" 2 }
    if (-not $Bundle) { Fail "-Bundle is needed (the watchpost-agent-<version>-win64.zip from build-bundle.ps1)" 2 }
    $mutex = New-Object System.Threading.Mutex($false, "Global\WatchpostAgentInstall")
    # An earlier run that died leaves the mutex abandoned: WaitOne then throws, and it is ours.
    try { $owned = $mutex.WaitOne(300000) } catch { $owned = $true }
    if (-not $owned) { Fail "another install-agent.ps1 has been busy for 5 minutes" }

    $bundleVersion = ""
    if ((Split-Path -Leaf $Bundle) -match "^watchpost-agent-(.+)-win64\.zip$") { $bundleVersion = $Matches[1] }
    $service = Get-AgentService

    # Nothing to do: no byte of the bundle is read (300 PCs start up at the same hour).
    if (-not $Force -and $bundleVersion -and $service -and $service.ImagePath -eq $ServiceCommand -and
        (Test-TrustedFolder $DataRoot) -and (Test-Path -LiteralPath $NodeKey) -and
        (Get-InstalledVersion) -eq $bundleVersion) {
        Open-Log
        $caChanged = $false
        try { $caChanged = Update-CaCopy } catch { Say "WARNING: CA bundle not copied: $($_.Exception.Message)" }
        if ($caChanged -and $service.Status -eq "Running") {
            Restart-Service -Name $ServiceName -Force
            Say "$ServiceName restarted to read the new CA bundle"
        }
        Say "watchpost-agent $bundleVersion is installed and enrolled (service $($service.Status)); nothing to do"
        exit 0
    }

    Initialize-DataRoot
    $enrolled = Test-Path -LiteralPath $NodeKey
    if (-not $enrolled -and (-not $Server -or -not $SecretFile)) {
        Fail "first installation: -Server and -SecretFile are needed" 2
    }
    if (-not (Test-Path -LiteralPath $Bundle -PathType Leaf)) { Fail "no bundle at $Bundle" }
    $Bundle = (Resolve-Path -LiteralPath $Bundle).ProviderPath
    if (Test-Path -LiteralPath "$Bundle.sha256") {
        $expected = ((Get-Content -LiteralPath "$Bundle.sha256" -TotalCount 1) -split "\s+")[0].ToLower()
        $actual = (Get-FileHash -Algorithm SHA256 -LiteralPath $Bundle).Hash.ToLower()
        if ($expected -ne $actual) { Fail "the bundle's SHA-256 does not match $Bundle.sha256" }
    } else {
        Say "WARNING: no $Bundle.sha256 next to the bundle; its checksum is not checked"
    }
    [void](Update-CaCopy)  # before anything changes: a wrong CA file fails the run here

    # Unpacked next to the program folder, under its final ACL, then swapped in by renaming:
    # the service is down only for the swap, and the old folder stays whole until then.
    Remove-Folder $Staging
    New-Item -ItemType Directory -Path $Staging | Out-Null
    Set-FolderAcl $Staging @("*${SidSystem}:(OI)(CI)F", "*${SidAdmins}:(OI)(CI)F", "*${SidUsers}:(OI)(CI)RX")
    Add-Type -AssemblyName System.IO.Compression.FileSystem
    [System.IO.Compression.ZipFile]::ExtractToDirectory($Bundle, $Staging)
    $stagedExe = Join-Path $Staging "watchpost-agent.exe"
    if (-not (Test-Path -LiteralPath $stagedExe -PathType Leaf)) { Fail "the bundle has no watchpost-agent.exe at its top" }
    $r = Invoke-Native $stagedExe @("--version")
    if ($r.Code -ne 0) { Fail "the unpacked agent does not run (exit $($r.Code)): $($r.Output)" }
    $newVersion = ($r.Output -replace "^watchpost-agent\s+", "").Trim()
    if ($bundleVersion -and $newVersion -ne $bundleVersion) { Fail "the bundle is named $bundleVersion but holds $newVersion" }

    $oldVersion = Get-InstalledVersion
    $script:restartOnFailure = [bool]$service
    Stop-Agent
    $oldDir = ""
    if (Test-Path -LiteralPath $InstallDir) {
        $oldDir = "{0}.old-{1:yyyyMMddHHmmss}" -f $InstallDir, (Get-Date)
        Move-Folder $InstallDir $oldDir
    }
    try {
        Move-Folder $Staging $InstallDir
    } catch {
        if ($oldDir) { Move-Folder $oldDir $InstallDir }
        throw
    }
    Say "installed watchpost-agent $newVersion in $InstallDir (previously: $(if ($oldVersion) { $oldVersion } else { 'none' }))"

    if (-not $enrolled) {
        Invoke-Enrollment
    } else {
        Say "already enrolled: node key and queue in $DataDir kept"
    }
    Register-AgentService ([bool]$service)
    try {
        Start-Service -Name $ServiceName
    } catch {
        $why = $_.Exception.Message
        if ($oldDir -and (Test-Path -LiteralPath $oldDir)) {
            Say "watchpost-agent $newVersion did not start ($why); putting $oldVersion back"
            Stop-Agent
            Move-Folder $InstallDir ("{0}.failed-{1:yyyyMMddHHmmss}" -f $InstallDir, (Get-Date))
            Move-Folder $oldDir $InstallDir
            Restore-Service
        }
        Fail "$ServiceName did not start: $why"
    }
    $script:restartOnFailure = $false
    Say "$ServiceName started; status: `"$Exe`" --config `"$Config`" status"
    # Earlier folders are removed once the new one runs; one still locked waits for the next run.
    $parent = Split-Path -Parent $InstallDir
    $leaf = Split-Path -Leaf $InstallDir
    foreach ($old in @(Get-ChildItem -LiteralPath $parent -Directory | Where-Object { $_.Name -like "$leaf.old-*" -or $_.Name -like "$leaf.failed-*" })) {
        try { Remove-Folder $old.FullName } catch { Say "WARNING: $($old.FullName) not removed yet: $($_.Exception.Message)" }
    }
    exit 0
} catch {
    Fail $_.Exception.Message
}
