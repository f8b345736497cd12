<#
.SYNOPSIS
  Build the self-contained Watchpost agent for Windows (no Python needed on the office PCs).

.DESCRIPTION
  Run on a Windows 10/11 build machine (x64) with Python 3.11 or newer installed from
  python.org and this source tree checked out. It creates a throw-away virtualenv, installs
  the agent with its Windows dependencies (pywin32) and PyInstaller, and freezes
  deploy\windows\watchpost_agent_entry.py into a one-folder bundle:

    dist\watchpost-agent\watchpost-agent.exe   (+ its DLLs and the Python runtime)
    dist\watchpost-agent-<version>-win64.zip   (what install-agent.ps1 installs)
    dist\watchpost-agent-<version>-win64.zip.sha256

  One folder, not one file: a one-file executable unpacks itself into %TEMP% at every
  start, which is slow and which antivirus products flag.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File deploy\windows\build-bundle.ps1
  powershell -ExecutionPolicy Bypass -File deploy\windows\build-bundle.ps1 -Python "C:\Python312\python.exe"
#>
[CmdletBinding()]
param(
    [string]$Python = "py",
    [string]$WheelDir = ""   # optional folder of wheels for a build machine without internet
)
$ErrorActionPreference = "Stop"
$root = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path
$build = Join-Path $root "build\windows"
$dist = Join-Path $root "dist"
$venv = Join-Path $build "venv"

function Step($text) { Write-Host "==> $text" }

Step "virtualenv in $venv"
if (Test-Path $build) { Remove-Item -Recurse -Force $build }
New-Item -ItemType Directory -Force -Path $build, $dist | Out-Null
if ($Python -eq "py") { & py -3 -m venv $venv } else { & $Python -m venv $venv }
if ($LASTEXITCODE -ne 0) { throw "could not create the virtualenv (is Python 3.11+ installed?)" }
$py = Join-Path $venv "Scripts\python.exe"

Step "installing the agent and PyInstaller"
$pipArgs = @("-m", "pip", "install", "--disable-pip-version-check", "--quiet")
if ($WheelDir) { $pipArgs += @("--no-index", "--find-links", $WheelDir) }
& $py @pipArgs "$root[agent]" "pyinstaller>=6"
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }
$version = (& $py -c "import agent; print(agent.__version__)").Trim()

Step "freezing watchpost-agent $version"
& $py -m PyInstaller --noconfirm --clean --onedir --console `
    --name watchpost-agent `
    --distpath $dist --workpath (Join-Path $build "work") --specpath $build `
    --hidden-import win32timezone `
    --collect-submodules agent.probes `
    (Join-Path $PSScriptRoot "watchpost_agent_entry.py")
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

Step "smoke test"
$exe = Join-Path $dist "watchpost-agent\watchpost-agent.exe"
& $exe --version
if ($LASTEXITCODE -ne 0) { throw "the frozen agent does not start" }
& $exe scan --json --section os | Out-Null
if ($LASTEXITCODE -ne 0) { throw "the frozen agent cannot scan" }

Step "packing"
$zip = Join-Path $dist "watchpost-agent-$version-win64.zip"
if (Test-Path $zip) { Remove-Item -Force $zip }
Compress-Archive -Path (Join-Path $dist "watchpost-agent\*") -DestinationPath $zip
$hash = (Get-FileHash -Algorithm SHA256 $zip).Hash.ToLower()
Set-Content -Encoding ASCII -Path "$zip.sha256" -Value "$hash  $(Split-Path -Leaf $zip)"
Write-Host "built $zip"
Write-Host "sha256 $hash"
