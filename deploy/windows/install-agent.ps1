<#
.SYNOPSIS
  Install, upgrade or repair the Watchpost agent on a Windows PC, silently.

.DESCRIPTION
  Suitable for mass deployment as a computer startup script by group policy (it runs as
  SYSTEM there), from a software-distribution tool, or by hand in an elevated PowerShell.
  Idempotent: run it at every start-up and it does nothing when the same version is
  installed and running.

  1. checks the bundle (watchpost-agent-<version>-win64.zip from build-bundle.ps1) against
     its .sha256 file when there is one;
  2. stops the service if it runs, and replaces the program folder
     (default %ProgramFiles%\Watchpost) with the bundle's content;
  3. keeps %ProgramData%\Watchpost (agent.toml, data\node.key, data\agent.db: the node key
     and the queue of undelivered reports survive an upgrade) and restricts it to SYSTEM
     and Administrators;
  4. enrolls once, with the unit's enrollment secret read from a file (never from the
     command line, which other users can see), unless the PC is enrolled already;
  5. registers the service WatchpostAgent (delayed automatic start, restarted by the
     Service Control Manager when it fails or restarts itself) and starts it.

  Exit code 0 on success; 1 with the reason in %ProgramData%\Watchpost\logs\install.log.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -NoProfile -File install-agent.ps1 `
      -Bundle \\fileserver\watchpost\watchpost-agent-0.1.0-win64.zip `
      -Server https://watchpost.example.internal -SecretFile \\fileserver\watchpost\341021.secret `
      -CaBundle \\fileserver\watchpost\city-ca.pem
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Bundle,
    [string]$Server = "",
    [string]$SecretFile = "",
    [string]$CaBundle = "",
    [string]$Proxy = "",
    [string]$InstallDir = (Join-Path $env:ProgramFiles "Watchpost")
)
$ErrorActionPreference = "Stop"
$ServiceName = "WatchpostAgent"
$DataRoot = Join-Path $env:ProgramData "Watchpost"
$Config = Join-Path $DataRoot "agent.toml"
$LogDir = Join-Path $DataRoot "logs"
$Exe = Join-Path $InstallDir "watchpost-agent.exe"

New-Item -ItemType Directory -Force -Path $LogDir | Out-Null
$InstallLog = Join-Path $LogDir "install.log"
function Say($text) {
    $line = "{0:yyyy-MM-dd HH:mm:ss} {1}" -f (Get-Date), $text
    Add-Content -Path $InstallLog -Value $line -Encoding UTF8
    Write-Host $text
}
function Fail($text) { Say "ERROR: $text"; exit 1 }
function Invoke-Sc([string]$arguments) {
    # sc.exe gets this command line exactly as written. Windows PowerShell does not escape the
    # quotes inside an argument: '& sc.exe ... binPath= $binPath' would hand sc.exe the quoted
    # program path split at its spaces (binPath= C:\Program). Returns sc.exe's exit code.
    $p = Start-Process -FilePath "sc.exe" -ArgumentList $arguments -NoNewWindow -Wait -PassThru `
        -RedirectStandardOutput (Join-Path $LogDir "sc.out")
    return $p.ExitCode
}

try {
    $principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        Fail "run this as an administrator (or as SYSTEM from group policy)"
    }
    if (-not (Test-Path $Bundle)) { Fail "no bundle at $Bundle" }
    if (Test-Path "$Bundle.sha256") {
        $expected = ((Get-Content "$Bundle.sha256" -TotalCount 1) -split "\s+")[0].ToLower()
        $actual = (Get-FileHash -Algorithm SHA256 $Bundle).Hash.ToLower()
        if ($expected -ne $actual) { Fail "the bundle's SHA-256 does not match $Bundle.sha256" }
    }
    $bundleVersion = ""
    if ((Split-Path -Leaf $Bundle) -match "watchpost-agent-(.+)-win64\.zip$") { $bundleVersion = $Matches[1] }

    $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    $installed = ""
    if (Test-Path $Exe) { $installed = ((& $Exe --version) -replace "^watchpost-agent\s+", "").Trim() }
    $enrolled = Test-Path (Join-Path $DataRoot "data\node.key")
    if ($service -and $service.Status -eq "Running" -and $enrolled -and $bundleVersion -and $installed -eq $bundleVersion) {
        Say "watchpost-agent $installed is installed and running; nothing to do"
        exit 0
    }

    # Program files: replaced as a whole (upgrade or repair); the data folder is not touched.
    if ($service -and $service.Status -ne "Stopped") {
        Say "stopping $ServiceName"
        Stop-Service -Name $ServiceName -Force
        (Get-Service -Name $ServiceName).WaitForStatus("Stopped", (New-TimeSpan -Seconds 60))
    }
    $staging = Join-Path $env:TEMP ("watchpost-" + [guid]::NewGuid().ToString("N"))
    Expand-Archive -Path $Bundle -DestinationPath $staging
    if (-not (Test-Path (Join-Path $staging "watchpost-agent.exe"))) { Fail "the bundle has no watchpost-agent.exe" }
    if (Test-Path $InstallDir) { Remove-Item -Recurse -Force $InstallDir }
    Move-Item -Path $staging -Destination $InstallDir
    Say "installed $((& $Exe --version)) in $InstallDir"

    # The data folder holds the node key: SYSTEM and Administrators only (by SID: names are localised).
    New-Item -ItemType Directory -Force -Path (Join-Path $DataRoot "data") | Out-Null
    & icacls.exe $DataRoot /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F" /T /Q | Out-Null
    if ($LASTEXITCODE -ne 0) { Fail "could not restrict $DataRoot" }

    if (-not $enrolled) {
        if (-not $Server -or -not $SecretFile) { Fail "first installation: -Server and -SecretFile are needed" }
        if (-not (Test-Path $SecretFile)) { Fail "no secret file at $SecretFile" }
        $secret = (Get-Content -Path $SecretFile -TotalCount 1).Trim()
        $enroll = @("--config", $Config, "enroll", "--server", $Server, "--secret", "-",
                    "--data-dir", (Join-Path $DataRoot "data"))
        if ($CaBundle) {
            $caCopy = Join-Path $DataRoot "ca-bundle.pem"
            Copy-Item -Force -Path $CaBundle -Destination $caCopy
            $enroll += @("--ca-bundle", $caCopy)
        }
        if ($Proxy) { $enroll += @("--proxy", $Proxy) }
        # Continue while the agent runs: under Stop, Windows PowerShell turns the first line it
        # writes to stderr into a terminating error, before its exit code can be read.
        $ErrorActionPreference = "Continue"
        try {
            $output = $secret | & $Exe @enroll 2>&1
            $code = $LASTEXITCODE
        } finally {
            $ErrorActionPreference = "Stop"
            $secret = $null
        }
        Say ((@($output) | ForEach-Object { [string]$_ }) -join [Environment]::NewLine).Trim()
        if ($code -ne 0) { Fail "enrollment failed (exit $code)" }
    } else {
        Say "already enrolled: node key and queue kept"
    }

    # binPath= "\"<exe>\" --config \"<config>\" service-host": the C runtime's escaped quotes,
    # so that the service's command line keeps the quotes around the paths.
    $binPath = '"\"{0}\" --config \"{1}\" service-host"' -f $Exe, $Config
    if (-not $service) {
        $code = Invoke-Sc ('create {0} binPath= {1} start= delayed-auto DisplayName= "Watchpost Agent"' -f $ServiceName, $binPath)
        if ($code -ne 0) { Fail "could not create the service (sc.exe exit $code)" }
        & sc.exe description $ServiceName "Watchpost network-security monitoring agent" | Out-Null
    } else {
        $code = Invoke-Sc ('config {0} binPath= {1} start= delayed-auto' -f $ServiceName, $binPath)
        if ($code -ne 0) { Fail "could not reconfigure the service (sc.exe exit $code)" }
    }
    # Restarted after a failure or after it restarts itself above its memory limit (exit 75).
    & sc.exe failure $ServiceName reset= 86400 actions= restart/60000/restart/60000/restart/300000 | Out-Null
    & sc.exe failureflag $ServiceName 1 | Out-Null
    Start-Service -Name $ServiceName
    Say "$ServiceName started; status: `"$Exe`" --config `"$Config`" status"
    exit 0
} catch {
    Fail $_.Exception.Message
}
