<#
.SYNOPSIS
  Build the self-contained Watchpost agent for Windows (no Python needed on the office PCs).

.DESCRIPTION
  Run on a Windows 10/11 x64 build machine with 64-bit CPython 3.11 from python.org and this
  source tree checked out (docs/windows-agent.md). It creates a throw-away virtualenv,
  installs the agent with its Windows dependencies (pywin32) and PyInstaller at the exact
  versions of deploy\windows\build-constraints.txt, and freezes
  deploy\windows\watchpost_agent_entry.py into a one-folder bundle:

    dist\watchpost-agent\watchpost-agent.exe     (+ _internal\: the Python runtime and DLLs)
    dist\watchpost-agent-<version>-win64.zip     (what install-agent.ps1 installs)
    dist\watchpost-agent-<version>-win64.zip.sha256
    dist\watchpost-agent-<version>-win64.txt     (how it was built: Python, every package version)
    dist\install-agent.ps1, dist\uninstall-agent.ps1

  One folder, not one file: a one-file executable unpacks itself into %TEMP% at every start,
  which is slow and which antivirus products flag. No UPX: compressed DLLs are flagged too.

  Smoke tests of the frozen agent: --version, a scan of the os section, and service-host
  started by hand with only the system folders on PATH, which must load pywin32's
  servicemanager and its DLLs and then say that no Service Control Manager started it (exit
  3): the check for the classic "error 1053" of Python services whose DLLs are not found.

  Exit code 0 when the bundle is built; otherwise the build stops at the first failure.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -NoProfile -File deploy\windows\build-bundle.ps1
  powershell -ExecutionPolicy Bypass -NoProfile -File deploy\windows\build-bundle.ps1 -Python C:\Python311\python.exe -WheelDir D:\wheels
#>
[CmdletBinding()]
param(
    [string]$Python = "",   # default: the Python launcher's 3.11 ("py -3.11")
    [string]$WheelDir = ""   # a folder of wheels, for a build machine without internet
)
$ErrorActionPreference = "Stop"
$root = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
$build = Join-Path $root "build\windows"
$dist = Join-Path $root "dist"
$venv = Join-Path $build "venv"
$constraints = Join-Path $PSScriptRoot "build-constraints.txt"
$NotUnderScm = 3  # agent/winservice.py NOT_UNDER_SCM

function Step([string]$text) { Write-Host "==> $text" }

function Invoke-Checked([string]$What, [string]$FilePath, [string[]]$ArgumentList) {
    # pip and PyInstaller log to stderr, which Windows PowerShell 5.1 turns into error records
    # (fatal under ErrorActionPreference Stop in the ISE, remoting or a CI runner): run them
    # with Continue in this function's scope and judge by the exit code.
    $ErrorActionPreference = "Continue"
    & $FilePath @ArgumentList 2>&1 | ForEach-Object { Write-Host ([string]$_) }
    if ($LASTEXITCODE -ne 0) { throw "$What failed (exit $LASTEXITCODE)" }
}

function Invoke-Output([string]$FilePath, [string[]]$ArgumentList) {
    $ErrorActionPreference = "Continue"
    $lines = & $FilePath @ArgumentList 2>$null
    if ($LASTEXITCODE -ne 0) { throw "$FilePath $($ArgumentList -join ' ') failed (exit $LASTEXITCODE)" }
    return ((@($lines) -join "`n").Trim())
}

Step "virtualenv in $venv"
if (Test-Path -LiteralPath $build) { Remove-Item -LiteralPath $build -Recurse -Force }
New-Item -ItemType Directory -Force -Path $build, $dist | Out-Null
if ($Python) {
    Invoke-Checked "creating the virtualenv" $Python @("-m", "venv", $venv)
} else {
    Invoke-Checked "creating the virtualenv (is 64-bit Python 3.11 installed? py -0 lists them)" "py" @("-3.11", "-m", "venv", $venv)
}
$py = Join-Path $venv "Scripts\python.exe"
# The bundle's name says win64, and pywin32's DLLs are named for the Python version (pywintypes311.dll).
$pyInfo = Invoke-Output $py @("-c", "import struct, sys; print('%d.%d %d' % (sys.version_info[0], sys.version_info[1], struct.calcsize('P') * 8))")
if ($pyInfo -ne "3.11 64") { throw "64-bit Python 3.11 is needed to build, this one is: $pyInfo" }

Step "installing the agent and PyInstaller (versions from $constraints)"
$pipArgs = @("-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-c", $constraints)
if ($WheelDir) { $pipArgs += @("--no-index", "--find-links", $WheelDir) }
Invoke-Checked "pip install" $py ($pipArgs + @("$root[agent]", "pyinstaller"))
$version = Invoke-Output $py @("-c", "import agent; print(agent.__version__)")

Step "freezing watchpost-agent $version"
$env:PYTHONHASHSEED = "1"  # PyInstaller's advice for reproducible archives
Invoke-Checked "PyInstaller" $py @(
    "-m", "PyInstaller", "--noconfirm", "--clean", "--onedir", "--console", "--noupx",
    "--name", "watchpost-agent",
    "--distpath", $dist, "--workpath", (Join-Path $build "work"), "--specpath", $build,
    # pywintypes imports it for time values; PyInstaller cannot see that import.
    "--hidden-import", "win32timezone",
    # Imported by name at run time (wire's lazy models, probe modules): collect them all.
    "--collect-submodules", "agent",
    "--collect-submodules", "wire",
    (Join-Path $PSScriptRoot "watchpost_agent_entry.py")
)
Remove-Item Env:\PYTHONHASHSEED

Step "smoke test"
$exe = Join-Path $dist "watchpost-agent\watchpost-agent.exe"
$said = Invoke-Output $exe @("--version")
if ($said -ne "watchpost-agent $version") { throw "the frozen agent says '$said', not 'watchpost-agent $version'" }
Invoke-Output $exe @("scan", "--json", "--section", "os") | Out-Null
# As the service starts it: only the system folders on PATH, none of the build machine's Pythons.
$savedPath = $env:PATH
$env:PATH = "$env:SystemRoot\System32;$env:SystemRoot;$env:SystemRoot\System32\Wbem"
try {
    $ErrorActionPreference = "Continue"
    $hostSaid = (& $exe "--config" (Join-Path $build "none.toml") "service-host" 2>&1 | ForEach-Object { [string]$_ }) -join " "
    $hostCode = $LASTEXITCODE
} finally {
    $ErrorActionPreference = "Stop"
    $env:PATH = $savedPath
}
if ($hostCode -ne $NotUnderScm) {
    throw "service-host does not load pywin32 in the frozen agent (exit $hostCode, expected $NotUnderScm): $hostSaid"
}

Step "packing"
$zip = Join-Path $dist "watchpost-agent-$version-win64.zip"
if (Test-Path -LiteralPath $zip) { Remove-Item -LiteralPath $zip -Force }
# Entry by entry, in a fixed order, with "/" in the names as the zip format wants (Windows
# PowerShell's Compress-Archive and ZipFile.CreateFromDirectory may write "\" there), hidden
# files included. install-agent.ps1 unpacks it with the same .NET classes.
Add-Type -AssemblyName "System.IO.Compression", "System.IO.Compression.FileSystem"
$source = Join-Path $dist "watchpost-agent"
$archive = [System.IO.Compression.ZipFile]::Open($zip, [System.IO.Compression.ZipArchiveMode]::Create)
try {
    foreach ($file in (Get-ChildItem -LiteralPath $source -Recurse -File -Force | Sort-Object FullName)) {
        $name = $file.FullName.Substring($source.Length + 1).Replace("\", "/")
        [System.IO.Compression.ZipFileExtensions]::CreateEntryFromFile($archive, $file.FullName, $name) | Out-Null
    }
} finally {
    $archive.Dispose()
}
$hash = (Get-FileHash -Algorithm SHA256 -LiteralPath $zip).Hash.ToLower()
Set-Content -Encoding ASCII -LiteralPath "$zip.sha256" -Value "$hash  $(Split-Path -Leaf $zip)"
$record = @(
    "watchpost-agent $version, built $(Get-Date -Format s) on $env:COMPUTERNAME",
    "source: $root",
    "python: $(Invoke-Output $py @('-c', 'import sys; print(sys.version)'))",
    "sha256: $hash",
    "packages:"
) + @((Invoke-Output $py @("-m", "pip", "freeze", "--disable-pip-version-check")) -split "`n")
Set-Content -Encoding UTF8 -LiteralPath (Join-Path $dist "watchpost-agent-$version-win64.txt") -Value $record
Copy-Item -LiteralPath (Join-Path $PSScriptRoot "install-agent.ps1"), (Join-Path $PSScriptRoot "uninstall-agent.ps1") -Destination $dist -Force
Write-Host "built $zip"
Write-Host "sha256 $hash"
