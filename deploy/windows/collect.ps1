<#
.SYNOPSIS
  Capture what the Watchpost agent would read on this PC, without the agent (Windows 7 and later).

.DESCRIPTION
  For PCs that cannot run the agent (Windows 7, PCs off the network): an inspector runs
  this script as an administrator, takes the folder it writes (a capture bundle, see
  docs/capture-format.md) to the collector, and imports it there. On any machine,
  `watchpost-agent scan --json --replay <folder>` parses the bundle with the agent's own
  Windows readers.

  It runs exactly the command lines the agent's Windows readers run (PowerShell, and on
  PowerShell 2 the wmic / reg / netstat fallbacks), exports the registry keys they read
  (Uninstall keys of the machine and of every user profile, loaded or not), and records
  each output with its exit code in manifest.json. Nothing is sent anywhere; product keys,
  password hashes and other secrets are not among the sources. PowerShell 2.0 is enough.

.PARAMETER OutDir
  Where to write the bundle (a new or empty folder). Default:
  .\watchpost-capture-<COMPUTERNAME>-<yyyyMMdd-HHmmss>

.EXAMPLE
  powershell -ExecutionPolicy Bypass -NoProfile -File collect.ps1
  powershell -ExecutionPolicy Bypass -NoProfile -File collect.ps1 -OutDir E:\captures\pc-0421
#>
param(
    [string]$OutDir = ""
)
$ErrorActionPreference = "Stop"
$CollectVersion = "collect.ps1 1"
if (-not $OutDir) {
    $OutDir = Join-Path (Get-Location).Path ("watchpost-capture-{0}-{1}" -f $env:COMPUTERNAME, (Get-Date -Format "yyyyMMdd-HHmmss"))
}
if ((Test-Path $OutDir) -and @(Get-ChildItem -Force $OutDir).Count -gt 0) {
    Write-Host "ERROR: $OutDir is not empty"
    exit 1
}
New-Item -ItemType Directory -Force -Path (Join-Path $OutDir "commands"), (Join-Path $OutDir "registry") | Out-Null
# A full path from here on: .NET calls ([IO.File]::WriteAllText) resolve a relative path against
# the process's current directory, which is not PowerShell's current location after a cd.
$OutDir = (Resolve-Path -LiteralPath $OutDir).ProviderPath
$Commands = New-Object System.Collections.ArrayList
$Registry = New-Object System.Collections.ArrayList
$Script:Step = 0
$Script:Steps = 1

function Quote-Argument([string]$arg) {
    # Python's subprocess.list2cmdline, character for character (the Microsoft C runtime's rules):
    # quoted only when empty or holding a space or tab; a quote is escaped with a backslash (and
    # the backslashes before it doubled); trailing backslashes are doubled only inside quotes.
    $quote = ($arg.Length -eq 0) -or $arg.Contains(' ') -or $arg.Contains("`t")
    $out = New-Object System.Text.StringBuilder
    if ($quote) { [void]$out.Append('"') }
    $slashes = 0
    foreach ($ch in $arg.ToCharArray()) {
        if ($ch -eq '\') { $slashes++; continue }
        if ($ch -eq '"') { [void]$out.Append('\' * ($slashes * 2 + 1)); [void]$out.Append('"') }
        else { if ($slashes) { [void]$out.Append('\' * $slashes) }; [void]$out.Append($ch) }
        $slashes = 0
    }
    if ($slashes) { [void]$out.Append('\' * $slashes) }
    if ($quote) {
        if ($slashes) { [void]$out.Append('\' * $slashes) }
        [void]$out.Append('"')
    }
    return $out.ToString()
}

function Progress([string]$what) {
    $Script:Step++
    $percent = [Math]::Min(100, [int](100 * $Script:Step / [Math]::Max(1, $Script:Steps)))
    Write-Progress -Activity "Watchpost capture" -Status $what -PercentComplete $percent
}

function Invoke-Recorded([int]$Timeout, [string[]]$Argv) {
    foreach ($known in $Commands) {
        if ([string]::Join([char]0, $known.argv) -ceq [string]::Join([char]0, $Argv)) {
            # Run once (the generated block runs 'reg query HKU' before the per-user steps
            # below need its output): the recorded output again.
            return (Get-Content -Path (Join-Path $OutDir $known.stdout) -ErrorAction SilentlyContinue)
        }
    }
    $n = "{0:D4}" -f $Commands.Count
    $out = Join-Path $OutDir "commands\$n.out"
    $err = Join-Path $OutDir "commands\$n.err"
    $label = $Argv[0]
    if ($Argv[0] -eq "powershell.exe") { $label = "PowerShell " + $Argv[-1].Substring(0, [Math]::Min(60, $Argv[-1].Length)) }
    else { $label = [string]::Join(" ", $Argv) }
    Progress $label
    $code = $null
    try {
        $quoted = @()
        for ($i = 1; $i -lt $Argv.Length; $i++) { $quoted += (Quote-Argument $Argv[$i]) }
        $line = [string]::Join(" ", $quoted)
        $p = Start-Process -FilePath $Argv[0] -ArgumentList $line -NoNewWindow -PassThru `
            -RedirectStandardOutput $out -RedirectStandardError $err
        $null = $p.Handle  # keeps the exit code readable after the process ends
        if (-not $p.WaitForExit($Timeout * 1000)) {
            try { $p.Kill() } catch { }
            Add-Content -Path $err -Value "timed out after $Timeout s (collect.ps1)"
            $code = -1
        } else {
            $p.WaitForExit()
            $code = $p.ExitCode
        }
    } catch {
        Set-Content -Path $err -Value ("could not run: " + $_.Exception.Message) -Encoding UTF8
        if (-not (Test-Path $out)) { Set-Content -Path $out -Value "" -Encoding UTF8 }
        $code = 127
    }
    [void]$Commands.Add(@{ argv = $Argv; returncode = $code; stdout = "commands/$n.out"; stderr = "commands/$n.err" })
    return (Get-Content -Path $out -ErrorAction SilentlyContinue)
}

function Export-Recorded([string]$Key) {
    foreach ($known in $Registry) { if ($known.key -eq $Key) { return $true } }
    $n = "{0:D4}" -f $Registry.Count
    $file = Join-Path $OutDir "registry\$n.reg"
    Progress "reg export $Key"
    # Continue, in this function only: under Stop, Windows PowerShell turns the first line reg.exe
    # writes to stderr (an absent key) into a terminating error that would end the capture.
    $ErrorActionPreference = "Continue"
    & reg.exe export $Key $file /y 2>&1 | Out-Null
    if ($LASTEXITCODE -ne 0 -or -not (Test-Path $file)) { return $false }
    [void]$Registry.Add(@{ key = $Key; file = "registry/$n.reg" })
    return $true
}

function Json-String([string]$s) {
    if ($s -eq $null) { return "null" }
    $b = New-Object System.Text.StringBuilder
    [void]$b.Append('"')
    foreach ($ch in $s.ToCharArray()) {
        $c = [int]$ch
        if ($ch -eq '"') { [void]$b.Append('\"') }
        elseif ($ch -eq '\') { [void]$b.Append('\\') }
        elseif ($c -lt 32) { [void]$b.Append(('\u{0:x4}' -f $c)) }
        else { [void]$b.Append($ch) }
    }
    [void]$b.Append('"')
    return $b.ToString()
}

# The generated block: every command line and registry key the agent's Windows readers ask
# for on their own, verbatim (agent/collect_script.py).
# BEGIN GENERATED SOURCES (python -m agent.collect_script; do not edit by hand)
$Script:Steps = 46
$null = Invoke-Recorded -Timeout 60 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $r=[ordered]@{}; $e=@(); try { $r.Os = Get-CimInstance -ClassName Win32_OperatingSystem -ErrorAction Stop | Select-Object -Property Caption,Version,BuildNumber,OSArchitecture,CSDVersion,CSName,InstallDate,LastBootUpTime,CurrentTimeZone,OperatingSystemSKU,ProductType } catch { $e += ''Win32_OperatingSystem: '' + $_ }; try { $r.ComputerSystem = Get-CimInstance -ClassName Win32_ComputerSystem -ErrorAction Stop | Select-Object -Property Name,DNSHostName,Domain,PartOfDomain,Workgroup,DomainRole } catch { $e += ''Win32_ComputerSystem: '' + $_ }; try { $r.TimeZone = Get-TimeZone -ErrorAction Stop | Select-Object -Property Id,StandardName,@{n=''BaseUtcOffsetMinutes'';e={$_.BaseUtcOffset.TotalMinutes}} } catch { try { $r.TimeZone = Get-CimInstance -ClassName Win32_TimeZone -ErrorAction Stop | Select-Object -Property StandardName,Caption,Bias } catch { $e += ''time zone: '' + $_ } }; try { $r.WindowsProduct = Get-ItemProperty -Path ''HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'' -ErrorAction Stop | Select-Object -Property ProductName,EditionID,DisplayVersion,ReleaseId,CurrentBuild,CurrentBuildNumber,UBR,InstallDate,CurrentVersion,InstallationType } catch { $e += ''CurrentVersion: '' + $_ }; try { $r.MachineGuid = (Get-ItemProperty -Path ''HKLM:\SOFTWARE\Microsoft\Cryptography'' -Name MachineGuid -ErrorAction Stop).MachineGuid } catch { $e += ''MachineGuid: '' + $_ }; $a = $env:PROCESSOR_ARCHITEW6432; if (-not $a) { $a = $env:PROCESSOR_ARCHITECTURE }; $r.Architecture = $a; $r.Errors = @($e | ForEach-Object { [string]$_ }); $r | ConvertTo-Json -Depth 3 -Compress')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_OperatingSystem', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_ComputerSystem', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_TimeZone', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion', '/v', 'ProductName')
$null = Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion', '/v', 'EditionID')
$null = Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion', '/v', 'DisplayVersion')
$null = Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion', '/v', 'ReleaseId')
$null = Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion', '/v', 'CurrentBuild')
$null = Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion', '/v', 'UBR')
$null = Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKLM\SOFTWARE\Microsoft\Cryptography', '/v', 'MachineGuid')
$null = Invoke-Recorded -Timeout 120 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $r=@{}; foreach($c in @(''Win32_ComputerSystem'',''Win32_ComputerSystemProduct'',''Win32_BIOS'',''Win32_SystemEnclosure'',''Win32_BaseBoard'',''Win32_Processor'',''Win32_DiskDrive'',''Win32_NetworkAdapter'',''Win32_PhysicalMemory'')){ try { $r[$c]=@(Get-CimInstance -ClassName $c -ErrorAction Stop | Select-Object -Property * -ExcludeProperty Cim*) } catch { $r[$c]=@() } }; $r | ConvertTo-Json -Depth 3 -Compress')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_ComputerSystemProduct', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_BIOS', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_SystemEnclosure', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_BaseBoard', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_Processor', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_DiskDrive', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_NetworkAdapter', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_PhysicalMemory', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $r=[ordered]@{}; $e=@(); try { $r.Configurations = @(Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter ''IPEnabled=True'' -ErrorAction Stop | Select-Object -Property Index,InterfaceIndex,Description,MACAddress,IPAddress,IPSubnet,DefaultIPGateway,DNSServerSearchOrder,DHCPEnabled,DHCPServer,DNSDomain,DNSDomainSuffixSearchOrder,MTU) } catch { $e += ''Win32_NetworkAdapterConfiguration: '' + $_ }; try { $r.Adapters = @(Get-CimInstance -ClassName Win32_NetworkAdapter -ErrorAction Stop | Where-Object { $_.NetConnectionID } | Select-Object -Property Index,InterfaceIndex,NetConnectionID,Name,Description,ProductName,NetConnectionStatus,NetEnabled,PhysicalAdapter,MACAddress) } catch { $e += ''Win32_NetworkAdapter: '' + $_ }; try { $r.Routes = @(Get-NetRoute -DestinationPrefix ''0.0.0.0/0'',''::/0'' -PolicyStore ActiveStore -ErrorAction SilentlyContinue | Select-Object -Property DestinationPrefix,NextHop,InterfaceIndex,InterfaceAlias,RouteMetric,InterfaceMetric) } catch { try { $r.Routes = @(Get-CimInstance -ClassName Win32_IP4RouteTable -Filter ''Destination=''''0.0.0.0'''''' -ErrorAction Stop | Select-Object -Property Destination,Mask,NextHop,InterfaceIndex,Metric1) } catch { $e += ''routes: '' + $_ } }; $r.Errors = @($e | ForEach-Object { [string]$_ }); $r | ConvertTo-Json -Depth 4 -Compress')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_NetworkAdapterConfiguration', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 60 -Argv @('wmic', 'path', 'Win32_IP4RouteTable', 'get', '/format:list')
$null = Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKU')
$null = Invoke-Recorded -Timeout 120 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $scope=''AllUsers''; $e=@(); try { $p=@(Get-AppxPackage -AllUsers -ErrorAction Stop) } catch { $e += ''Get-AppxPackage -AllUsers: '' + $_; $scope=''CurrentUser''; try { $p=@(Get-AppxPackage -ErrorAction Stop) } catch { $e += ''Get-AppxPackage: '' + $_; $p=@() } }; $r=[ordered]@{Scope=$scope; User=[Environment]::UserName; Errors=@($e | ForEach-Object { [string]$_ }); Packages=@($p | Select-Object -Property Name,PackageFullName,Version,Publisher,InstallLocation,IsFramework,IsResourcePackage,NonRemovable,@{n=''Architecture'';e={[string]$_.Architecture}},@{n=''SignatureKind'';e={[string]$_.SignatureKind}},@{n=''Users'';e={@($_.PackageUserInformation | ForEach-Object { [string]$_.UserSecurityId.Username + ''|'' + [string]$_.UserSecurityId.Sid + ''|'' + [string]$_.InstallState })}})}; $r | ConvertTo-Json -Depth 4 -Compress')
$null = Invoke-Recorded -Timeout 180 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference=''Stop''; $r=[ordered]@{}; $err=[ordered]@{}; $lp=@(''ID'',''ApplicationID'',''Name'',''Description'',''LicenseFamily'',''ProductKeyChannel'',''LicenseIsAddon'',''LicenseStatus'',''LicenseStatusReason'',''GracePeriodRemaining'',''EvaluationEndDate'',''PartialProductKey'',''KeyManagementServiceMachine'',''KeyManagementServicePort'',''DiscoveredKeyManagementServiceMachineName'',''DiscoveredKeyManagementServiceMachineIpAddress'',''DiscoveredKeyManagementServiceMachinePort''); $sp=@(''Version'',''KeyManagementServiceMachine'',''KeyManagementServicePort'',''DiscoveredKeyManagementServiceMachineName'',''DiscoveredKeyManagementServiceMachineIpAddress'',''DiscoveredKeyManagementServiceMachinePort''); function V($k,$n){ try { $p=Get-ItemProperty -LiteralPath $k; $o=[ordered]@{Key=$k}; foreach($x in $n){ $o[$x]=$p.$x }; $o } catch { $null } }; foreach($c in @(''SoftwareLicensingProduct'',''OfficeSoftwareProtectionProduct'')){ try { $r[$c]=@(Get-CimInstance -ClassName $c -Filter ''PartialProductKey IS NOT NULL'' | Select-Object -Property $lp) } catch { $err[$c]=[string]$_ } }; foreach($c in @(''SoftwareLicensingService'',''OfficeSoftwareProtectionService'')){ try { $r[$c]=@(Get-CimInstance -ClassName $c | Select-Object -Property $sp) } catch { $err[$c]=[string]$_ } }; try { $kv=@(''KeyManagementServiceName'',''KeyManagementServicePort''); $b=''HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\SoftwareProtectionPlatform''; $g=@(V $b $kv); foreach($a in @(''55c92734-d682-4d71-983e-d6ec3f16059f'',''0ff1ce15-a989-479d-af46-f275c6370663'')){ if(Test-Path -LiteralPath ($b+''\''+$a)){ foreach($s in Get-ChildItem -LiteralPath ($b+''\''+$a)){ $g+=V (''Registry::''+$s.Name) $kv } } }; foreach($o in @(''HKLM:\SOFTWARE\Microsoft\OfficeSoftwareProtectionPlatform'',''HKLM:\SOFTWARE\WOW6432Node\Microsoft\OfficeSoftwareProtectionPlatform'')){ $g+=V $o $kv }; $r.KmsRegistry=@($g | Where-Object { $_ }) } catch { $err.KmsRegistry=[string]$_ }; try { $o=@(); foreach($root in @(''HKLM:\SOFTWARE\Microsoft\Office'',''HKLM:\SOFTWARE\WOW6432Node\Microsoft\Office'')){ foreach($v in @(Get-ChildItem -LiteralPath $root -ErrorAction SilentlyContinue | Where-Object { $_.PSChildName -match ''^\d+\.\d+$'' })){ $g=''Registry::''+$v.Name+''\Registration''; if(Test-Path -LiteralPath $g){ foreach($s in Get-ChildItem -LiteralPath $g){ $p=Get-ItemProperty -LiteralPath (''Registry::''+$s.Name); if($p.ProductID -or $p.ProductCode){ $o+=[ordered]@{Key=$s.PSChildName; Version=$v.PSChildName; ProductName=$p.ProductName; ProductID=$p.ProductID; ProductCode=$p.ProductCode} } } } } }; $r.OfficeRegistration=$o } catch { $err.OfficeRegistration=[string]$_ }; $r.ClickToRun=V ''HKLM:\SOFTWARE\Microsoft\Office\ClickToRun\Configuration'' @(''ProductReleaseIds'',''VersionToReport'',''Platform'',''InstallationPath''); if($r.ClickToRun -and $r.ClickToRun.InstallationPath){ $env:WatchpostOfficeC2R=$r.ClickToRun.InstallationPath }; try { $r.Paths=@(foreach($q in @(''%SystemRoot%\SECOH-QAD.exe'',''%SystemRoot%\SECOH-QAD.dll'',''%SystemRoot%\System32\SECOH-QAD.exe'',''%SystemRoot%\System32\SECOH-QAD.dll'',''%SystemRoot%\System32\KMSAuto Net.exe'',''%SystemRoot%\System32\SppExtComObjHook.dll'',''%SystemRoot%\System32\SppExtComObjHookAvrf.dll'',''%SystemRoot%\System32\SppExtComObjPatcher.dll'',''%SystemRoot%\System32\SppExtComObjPatcher.exe'',''%SystemRoot%\SysWOW64\SppExtComObjHook.dll'',''%SystemRoot%\SysWOW64\SppExtComObjHookAvrf.dll'',''%SystemRoot%\SysWOW64\SppExtComObjPatcher.dll'',''%SystemRoot%\SysWOW64\SppExtComObjPatcher.exe'',''%SystemRoot%\Migration\WTR\KMS_VL_ALL.inf'',''%ProgramFiles%\Microsoft Office\root\vfs\System\sppcs.dll'',''%ProgramFiles%\Microsoft Office\root\vfs\System\sppc.dll'',''%ProgramFiles%\Microsoft Office\root\vfs\SystemX86\sppcs.dll'',''%ProgramFiles%\Microsoft Office\root\vfs\SystemX86\sppc.dll'',''%ProgramFiles%\Microsoft Office\Office15\sppcs.dll'',''%ProgramFiles%\Microsoft Office\Office16\sppcs.dll'',''%ProgramFiles(x86)%\Microsoft Office\root\vfs\System\sppcs.dll'',''%ProgramFiles(x86)%\Microsoft Office\root\vfs\System\sppc.dll'',''%ProgramFiles(x86)%\Microsoft Office\root\vfs\SystemX86\sppcs.dll'',''%ProgramFiles(x86)%\Microsoft Office\root\vfs\SystemX86\sppc.dll'',''%ProgramFiles(x86)%\Microsoft Office\Office15\sppcs.dll'',''%ProgramFiles(x86)%\Microsoft Office\Office16\sppcs.dll'',''%WatchpostOfficeC2R%\root\vfs\System\sppcs.dll'',''%WatchpostOfficeC2R%\root\vfs\System\sppc.dll'',''%WatchpostOfficeC2R%\root\vfs\SystemX86\sppcs.dll'',''%WatchpostOfficeC2R%\root\vfs\SystemX86\sppc.dll'',''%WatchpostOfficeC2R%\Office15\sppcs.dll'',''%WatchpostOfficeC2R%\Office16\sppcs.dll'',''%ProgramFiles%\KMSpico'',''%ProgramFiles(x86)%\KMSpico'',''%ProgramData%\KMSAutoS'',''%ProgramData%\KMSAuto'',''%SystemRoot%\KMSAutoS'',''%SystemRoot%\AAct_Tools'',''%SystemRoot%\AutoKMS'',''%ProgramFiles%\Activation-Renewal'',''%ProgramData%\Activation-Renewal'',''%ProgramData%\Online_KMS_Activation'')){ $x=[Environment]::ExpandEnvironmentVariables($q); if(-not $x.Contains(''%'') -and (Test-Path -LiteralPath $x)){ $f=Test-Path -LiteralPath $x -PathType Container; $sg=''''; if(-not $f){ try { $sg=[string](Get-AuthenticodeSignature -LiteralPath $x).SignerCertificate.Subject } catch {} }; [ordered]@{Pattern=$q; Path=$x; Folder=$f; Signer=$sg} } }) } catch { $err.Paths=[string]$_ }; try { $tn=@(''Activation-Renewal'',''Activation-Run_Once'',''AutoKMS'',''AutoPico Daily Restart'',''KMSAutoNet'',''Service KMSELDI'',''SvcTrigger''); $r.Tasks=@(Get-ScheduledTask | Where-Object { $tn -contains $_.TaskName } | ForEach-Object { [ordered]@{TaskPath=$_.TaskPath; TaskName=$_.TaskName; State=[string]$_.State; Actions=(@($_.Actions | ForEach-Object { ([string]$_.Execute+'' ''+[string]$_.Arguments).Trim() }) -join ''; '')} }) } catch { $err.Tasks=[string]$_ }; try { $sn=@(''Service KMSELDI'',''KMSServerService'',''vlmcsd''); $r.Services=@(Get-CimInstance -ClassName Win32_Service | Where-Object { $sn -contains $_.Name } | Select-Object -Property Name,DisplayName,State,StartMode,PathName) } catch { $err.Services=[string]$_ }; try { $r.Ifeo=@(foreach($i in @(''SppExtComObj.exe'',''sppsvc.exe'',''osppsvc.exe'')){ $k=''HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options\''+$i; if(Test-Path -LiteralPath $k){ $p=Get-ItemProperty -LiteralPath $k; $v=[ordered]@{}; foreach($q in $p.PSObject.Properties){ if($q.Name -notlike ''PS*''){ $v[$q.Name]=[string]$q.Value } }; [ordered]@{Image=$i; Values=$v} } }) } catch { $err.Ifeo=[string]$_ }; try { $r.Resiliency=@(foreach($u in Get-ChildItem -LiteralPath ''Registry::HKEY_USERS''){ $k=''Registry::''+$u.Name+''\Software\Microsoft\Office\16.0\Common\Licensing\Resiliency''; if(Test-Path -LiteralPath $k){ [ordered]@{Sid=$u.PSChildName; TimeOfLastHeartbeatFailure=[string](Get-ItemProperty -LiteralPath $k).TimeOfLastHeartbeatFailure} } }) } catch { $err.Resiliency=[string]$_ }; $r.SppPolicy=V ''HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\CurrentVersion\Software Protection Platform'' @(''NoGenTicket'',''NoAcquireGT''); try { $off=@(@($r.SoftwareLicensingProduct)+@($r.OfficeSoftwareProtectionProduct) | Where-Object { $_ -and $_.ApplicationID -match ''^(0ff1ce15|59a52881)-'' }); if(-not $off.Count){ foreach($d in @(''Office16'',''Office15'',''Office14'')){ foreach($pf in @($env:ProgramFiles, ${env:ProgramFiles(x86)})){ $f=[string]$pf+''\Microsoft Office\''+$d+''\OSPP.VBS''; if($pf -and -not $r.Contains(''OsppDstatus'') -and (Test-Path -LiteralPath $f)){ $r.OsppDstatus=[ordered]@{Path=$f; Output=(& cscript.exe //nologo $f /dstatus | Out-String)} } } } } } catch { $err.OsppDstatus=[string]$_ }; $r.Errors=$err; $r | ConvertTo-Json -Depth 4 -Compress')
$null = Invoke-Recorded -Timeout 180 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference=''Stop''; $r=[ordered]@{}; $r.Now=[DateTime]::UtcNow.ToString(''o''); try { $r.SecurityCenter2=@(Get-CimInstance -Namespace root/SecurityCenter2 -ClassName AntiVirusProduct | Select-Object displayName,instanceGuid,pathToSignedProductExe,pathToSignedReportingExe,productState,timestamp) } catch { $r.SecurityCenter2Error=[string]$_.Exception.Message }; try { $r.MpComputerStatus=Get-MpComputerStatus | Select-Object AMEngineVersion,AMProductVersion,AMRunningMode,AMServiceEnabled,AntivirusEnabled,AntivirusSignatureAge,AntivirusSignatureLastUpdated,AntivirusSignatureVersion,DefenderSignaturesOutOfDate,RealTimeProtectionEnabled,OnAccessProtectionEnabled,QuickScanStartTime,QuickScanEndTime,FullScanStartTime,FullScanEndTime,IsTamperProtected } catch { $r.MpComputerStatusError=[string]$_.Exception.Message }; try { $r.MpThreat=@(Get-MpThreat | Select-Object ThreatID,ThreatName,SeverityID) } catch { $r.MpThreatError=[string]$_.Exception.Message }; try { $r.MpThreatDetection=@(Get-MpThreatDetection | Select-Object ThreatID,DetectionID,InitialDetectionTime,ActionSuccess,ThreatStatusID) } catch { $r.MpThreatDetectionError=[string]$_.Exception.Message }; try { $r.Events=@(Get-WinEvent -FilterHashtable @{LogName=''Microsoft-Windows-Windows Defender/Operational''; Id=1000,1001,1002,1005,1116,1117,2000,2001; StartTime=[DateTime]::Now.AddDays(-30)} -MaxEvents 2000 | ForEach-Object { $_.ToXml() }) } catch { if ($_.FullyQualifiedErrorId -like ''NoMatchingEventsFound*'') { $r.Events=@() } else { $r.EventsError=[string]$_.Exception.Message } }; try { $r.Services=@(Get-Service -ErrorAction SilentlyContinue | Where-Object { $_.Name -match ''^(WinDefend|ZhuDongFangYu|360rp|360sd|QHActiveDefense|HipsDaemon|HRWSCCtrl|QAXEntClient|QaxEngManager|TQClient|kxescore|kxetray|KSafeSvc|QQPCRTP|QQPCMgr|SepMasterService|McShield|mfemms|mfefire|ntrtscan|TmCCSF|SAVService|Sophos MCS Agent|SophosFS|ekrn|AVP(\d[\d.]*)?|EPSecurityService|VSSERV|CSFalconService|SentinelAgent|CbDefense|MBAMService|avast! Antivirus|AvastSvc)$'' } | Select-Object Name,DisplayName,@{n=''Status'';e={[string]$_.Status}},@{n=''StartType'';e={[string]$_.StartType}}) } catch { $r.ServicesError=[string]$_.Exception.Message }; $r | ConvertTo-Json -Depth 4 -Compress')
$null = Invoke-Recorded -Timeout 180 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference=''Stop''; $r=@{Errors=@{}}; function D($d){ if($d){ ([datetime]$d).ToString(''yyyy-MM-dd''''T''''HH:mm:ss''''Z'''''',[Globalization.CultureInfo]::InvariantCulture) } }; try { $r.QFE=@(Get-CimInstance -ClassName Win32_QuickFixEngineering | ForEach-Object { @{HotFixID=$_.HotFixID; Description=$_.Description; InstalledOn=[string]$_.InstalledOn; InstalledBy=$_.InstalledBy; ServicePackInEffect=$_.ServicePackInEffect} }) } catch { $r.Errors.QFE=[string]$_ }; try { $q=(New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher(); $n=$q.GetTotalHistoryCount(); $r.HistoryTotal=$n; $r.History=@(if($n -gt 0){ $q.QueryHistory(0,[Math]::Min($n,500)) | ForEach-Object { $c=$null; try { $c=@(@($_.Categories) | ForEach-Object { @{Name=$_.Name; Id=$_.CategoryID; Type=$_.Type} }) } catch {}; @{Title=$_.Title; Date=(D $_.Date); Operation=[int]$_.Operation; ResultCode=[int]$_.ResultCode; Categories=$c} } }) } catch { $r.Errors.History=[string]$_ }; try { $j=Start-Job -ScriptBlock { $x=(New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher().Search(''IsInstalled=0 and IsHidden=0 and Type=''''Software''''''); ConvertTo-Json -Depth 4 -Compress -InputObject @(@($x.Updates) | ForEach-Object { @{Title=$_.Title; KB=@($_.KBArticleIDs); MsrcSeverity=$_.MsrcSeverity; RebootRequired=$_.RebootRequired; Categories=@(@($_.Categories) | ForEach-Object { @{Name=$_.Name; Id=$_.CategoryID; Type=$_.Type} })} }) }; if(Wait-Job $j -Timeout 90){ $o=Receive-Job $j -ErrorVariable je -ErrorAction SilentlyContinue; if($je){ $r.Errors.Pending=[string]$je[0] } else { $r.Pending=[string]$o } } else { $r.Errors.Pending=''update search timed out after 90 s'' }; Remove-Job $j -Force } catch { $r.Errors.Pending=[string]$_ }; try { $a=(New-Object -ComObject Microsoft.Update.AutoUpdate).Results; $r.AutoUpdate=@{LastSearchSuccessDate=(D $a.LastSearchSuccessDate); LastInstallationSuccessDate=(D $a.LastInstallationSuccessDate)} } catch { $r.Errors.AutoUpdate=[string]$_ }; try { $b=@{}; $b.CBSRebootPending=Test-Path ''HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending''; $b.WURebootRequired=Test-Path ''HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired''; $p=(Get-ItemProperty ''HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager'' -ErrorAction SilentlyContinue).PendingFileRenameOperations; $b.PendingFileRenameOperations=@($p | Where-Object { $_ }).Count; try { $b.SystemInfoRebootRequired=(New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired } catch {}; $r.Reboot=$b } catch { $r.Errors.Reboot=[string]$_ }; try { $au=Get-ItemProperty ''HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU'' -ErrorAction SilentlyContinue; $wu=Get-ItemProperty ''HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate'' -ErrorAction SilentlyContinue; $r.Policy=@{NoAutoUpdate=$au.NoAutoUpdate; AUOptions=$au.AUOptions; UseWUServer=$au.UseWUServer; WUServer=$wu.WUServer} } catch { $r.Errors.Policy=[string]$_ }; $r | ConvertTo-Json -Depth 6 -Compress')
$null = Invoke-Recorded -Timeout 120 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference=''Stop''; $r=@{Computer=$env:COMPUTERNAME}; try { $r.Group=(New-Object Security.Principal.SecurityIdentifier(''S-1-5-32-544'')).Translate([Security.Principal.NTAccount]).Value } catch { $r.GroupError=$_.Exception.Message }; try { $r.LocalUser=@(Get-LocalUser | Select-Object Name,@{n=''SID'';e={$_.SID.Value}},Enabled,LastLogon,PasswordLastSet,PasswordExpires,PasswordRequired,UserMayChangePassword,AccountExpires,Description,FullName) } catch { $r.LocalUserError=$_.Exception.Message; try { $r.Win32_UserAccount=@(Get-CimInstance -ClassName Win32_UserAccount -Filter ''LocalAccount=True'' | Select-Object Name,SID,Disabled,Lockout,PasswordExpires,PasswordRequired,PasswordChangeable,Description,FullName) } catch { $r.Win32_UserAccountError=$_.Exception.Message } }; try { $r.LocalGroupMember=@(Get-LocalGroupMember -SID S-1-5-32-544 | Select-Object Name,@{n=''SID'';e={$_.SID.Value}},ObjectClass,@{n=''PrincipalSource'';e={[string]$_.PrincipalSource}}) } catch { $r.LocalGroupMemberError=$_.Exception.Message; try { $n=''Administrators''; if ($r.Group) { $n=($r.Group -split ''\\'')[-1] }; $g=[ADSI](''WinNT://''+$env:COMPUTERNAME+''/''+$n+'',group''); $r.AdsiMember=@($g.psbase.Invoke(''Members'') | ForEach-Object { $m=$_; $t=$m.GetType(); $s=''''; try { $s=(New-Object Security.Principal.SecurityIdentifier($t.InvokeMember(''objectSid'',''GetProperty'',$null,$m,$null),0)).Value } catch { }; [pscustomobject]@{ADsPath=$t.InvokeMember(''ADsPath'',''GetProperty'',$null,$m,$null);Class=$t.InvokeMember(''Class'',''GetProperty'',$null,$m,$null);SID=$s} }) } catch { $r.AdsiMemberError=$_.Exception.Message } }; $r | ConvertTo-Json -Depth 4 -Compress')
$null = Invoke-Recorded -Timeout 180 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference=''Stop''; $r=@{}; $e=@{}; function V($k,$n){ $p=''Registry::''+($k -replace ''^HKLM'',''HKEY_LOCAL_MACHINE'' -replace ''^HKU'',''HKEY_USERS''); if(-not (Test-Path -LiteralPath $p)){ return $null }; $i=Get-ItemProperty -LiteralPath $p; $o=@{}; foreach($x in ($n -split '','')){ if($null -ne $i.$x){ $o[$x]=$i.$x } }; $o }; try { $r.Firewall=@(Get-NetFirewallProfile -PolicyStore ActiveStore | Select-Object Name,@{n=''Enabled'';e={[string]$_.Enabled}},@{n=''DefaultInboundAction'';e={[string]$_.DefaultInboundAction}},@{n=''DefaultOutboundAction'';e={[string]$_.DefaultOutboundAction}}) } catch { $e.Firewall=$_.Exception.Message }; try { $r.BitLocker=@(Get-CimInstance -Namespace ''root\cimv2\Security\MicrosoftVolumeEncryption'' -ClassName Win32_EncryptableVolume | Select-Object DriveLetter,DeviceID,ProtectionStatus,ConversionStatus,EncryptionMethod,VolumeType) } catch { $e.BitLocker=$_.Exception.Message }; $r.SystemDrive=$env:SystemDrive; try { $r.Smb=Get-SmbServerConfiguration | Select-Object EnableSMB1Protocol,EnableSMB2Protocol } catch { $e.Smb=$_.Exception.Message }; try { $r.Smb1Feature=@(Get-WindowsOptionalFeature -Online -FeatureName SMB1Protocol | Select-Object FeatureName,@{n=''State'';e={[string]$_.State}}) } catch { $e.Smb1Feature=$_.Exception.Message }; $g=@{}; foreach($k in @(@(''HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System'',''InactivityTimeoutSecs''),@(''HKLM\SOFTWARE\Policies\Microsoft\Windows\Control Panel\Desktop'',''ScreenSaveTimeOut,ScreenSaverIsSecure,ScreenSaveActive,SCRNSAVE.EXE''),@(''HKLM\SYSTEM\CurrentControlSet\Services\USBSTOR'',''Start''),@(''HKLM\SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices'',''Deny_All''),@(''HKLM\SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices\{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}'',''Deny_Read,Deny_Write,Deny_Execute''),@(''HKLM\SYSTEM\CurrentControlSet\Control\StorageDevicePolicies'',''WriteProtect''),@(''HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server'',''fDenyTSConnections''),@(''HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp'',''UserAuthentication,PortNumber,SecurityLayer''),@(''HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services'',''fDenyTSConnections,UserAuthentication''),@(''HKLM\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters'',''SMB1''),@(''HKLM\SYSTEM\CurrentControlSet\Services\mrxsmb10'',''Start''),@(''HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Explorer'',''NoDriveTypeAutoRun,NoAutorun''))){ try { $g[$k[0]]=V $k[0] $k[1] } catch { $e[''registry ''+$k[0]]=$_.Exception.Message } }; $r.Registry=$g; $u=@{}; try { foreach($s in @(Get-ChildItem -LiteralPath ''Registry::HKEY_USERS'' | ForEach-Object { $_.PSChildName } | Where-Object { $_ -match ''^S-1-(5-21|12-1)-[0-9-]+$'' })) { $n=''''; try { $n=(New-Object Security.Principal.SecurityIdentifier($s)).Translate([Security.Principal.NTAccount]).Value } catch {}; $u[$s]=@{Name=$n; Desktop=(V (''HKU\''+$s+''\Control Panel\Desktop'') ''ScreenSaveTimeOut,ScreenSaverIsSecure,ScreenSaveActive,SCRNSAVE.EXE''); Policy=(V (''HKU\''+$s+''\Software\Policies\Microsoft\Windows\Control Panel\Desktop'') ''ScreenSaveTimeOut,ScreenSaverIsSecure,ScreenSaveActive,SCRNSAVE.EXE''); Explorer=(V (''HKU\''+$s+''\Software\Microsoft\Windows\CurrentVersion\Policies\Explorer'') ''NoDriveTypeAutoRun,NoAutorun'')} } } catch { $e.Users=$_.Exception.Message }; $r.Users=$u; $r.Errors=$e; $r | ConvertTo-Json -Depth 6 -Compress')
$null = Invoke-Recorded -Timeout 120 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $r=@{}; $e=@{}; try { $r.tcp=@(Get-NetTCPConnection -State Listen -ErrorAction SilentlyContinue | Select-Object LocalAddress,LocalPort,OwningProcess) } catch { $e.tcp=$_.Exception.Message; $r.netstat=(netstat.exe -ano | Out-String) }; try { $r.udp=@(Get-NetUDPEndpoint -ErrorAction SilentlyContinue | Select-Object LocalAddress,LocalPort,OwningProcess) } catch { $e.udp=$_.Exception.Message }; try { $r.processes=@(Get-Process -ErrorAction SilentlyContinue | Select-Object Id,ProcessName,Path) } catch { $e.processes=$_.Exception.Message }; try { $r.routes=@(Get-NetRoute -DestinationPrefix ''0.0.0.0/0'',''::/0'' -PolicyStore ActiveStore -ErrorAction SilentlyContinue | Select-Object DestinationPrefix,NextHop,InterfaceAlias,InterfaceIndex,RouteMetric,InterfaceMetric) } catch { $e.routes=$_.Exception.Message; $r.route_print=(route.exe print | Out-String) }; try { $r.adapters=@(Get-NetAdapter -ErrorAction Stop | Select-Object Name,InterfaceDescription,InterfaceIndex,InterfaceType,Status,MediaType,PhysicalMediaType,NdisPhysicalMedium,HardwareInterface,Virtual,MacAddress) } catch { $e.adapters=$_.Exception.Message; try { $r.wmi_adapters=@(Get-WmiObject Win32_NetworkAdapter -Filter ''PhysicalAdapter=TRUE'' | Select-Object NetConnectionID,Name,InterfaceIndex,NetConnectionStatus,MACAddress); $r.wmi_configs=@(Get-WmiObject Win32_NetworkAdapterConfiguration -Filter ''IPEnabled=TRUE'' | Select-Object InterfaceIndex,IPAddress) } catch { $e.wmi=$_.Exception.Message } }; try { $r.addresses=@(Get-NetIPAddress -ErrorAction SilentlyContinue | Select-Object InterfaceAlias,InterfaceIndex,IPAddress) } catch { $e.addresses=$_.Exception.Message }; $r.errors=$e; $r | ConvertTo-Json -Depth 4 -Compress')
$null = Invoke-Recorded -Timeout 60 -Argv @('netstat', '-ano')
$null = Invoke-Recorded -Timeout 60 -Argv @('tasklist', '/fo', 'csv', '/nh')
$null = Invoke-Recorded -Timeout 60 -Argv @('route', 'print')
$null = Invoke-Recorded -Timeout 120 -Argv @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '[Console]::OutputEncoding=[Text.Encoding]::UTF8; $r=@{now=(Get-Date).ToUniversalTime().ToString(''o''); oldest=@{}; errors=@{}; auditpol=$null; auditpol_exit=$null}; $logs=New-Object System.Collections.ArrayList; foreach($n in @(''Application'',''System'',''Security'',''Setup'',''Microsoft-Windows-Windows Defender/Operational'',''Microsoft-Windows-TerminalServices-LocalSessionManager/Operational'')){ $c=$null; try { $c=Get-WinEvent -ListLog $n -ErrorAction Stop; [void]$logs.Add(($c | Select-Object LogName,IsEnabled,@{n=''LogMode'';e={[string]$_.LogMode}},MaximumSizeInBytes,FileSize,RecordCount,LogFilePath,IsLogFull)) } catch { $r.errors[$n]=$_.Exception.Message }; if($c -and $c.RecordCount -ne 0){ try { $e=Get-WinEvent -LogName $n -MaxEvents 1 -Oldest -ErrorAction Stop; $r.oldest[$n]=$e.TimeCreated.ToUniversalTime().ToString(''o'') } catch { $r.errors[''oldest ''+$n]=$_.Exception.Message } } }; $r.logs=$logs; try { $a=& auditpol.exe /get /category:* /r 2>&1 | ForEach-Object { [string]$_ }; $r.auditpol_exit=$LASTEXITCODE; $r.auditpol=($a -join [char]10) } catch { $r.errors[''auditpol'']=$_.Exception.Message }; $r | ConvertTo-Json -Depth 4 -Compress')
$null = Export-Recorded -Key 'HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall'
$null = Export-Recorded -Key 'HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall'
$null = Export-Recorded -Key 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList'
# END GENERATED SOURCES

# The per-user Uninstall keys, as agent/probes/software_windows.py reads them:
# loaded hives under HKU, then the profiles of users not logged on, mounted one by one.
$UserSid = '^S-1-5-21-\d+(-\d+)+$'
$Uninstall = 'SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall'
$loaded = @()
foreach ($line in @(Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKU'))) {
    $t = ([string]$line).Trim()
    if ($t -match '^HKEY_USERS\\(S-1-5-21-[\d-]+)$') { $loaded += $Matches[1] }
}
foreach ($sid in $loaded) { [void](Export-Recorded -Key "HKU\$sid\$Uninstall") }
$profiles = New-Object System.Collections.ArrayList
$list = 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList'
foreach ($item in @(Get-ChildItem -Path $list -ErrorAction SilentlyContinue)) {
    $sid = $item.PSChildName
    if ($sid -notmatch $UserSid -or $loaded -contains $sid) { continue }
    $folder = [string]$item.GetValue('ProfileImagePath', $null, 'DoNotExpandEnvironmentNames')
    if (-not $folder.Trim()) { continue }
    $folder = ([regex]::Replace($folder.Trim(), '%systemdrive%', 'C:', 'IgnoreCase')).TrimEnd('\')
    [void]$profiles.Add(@($sid, $folder))
}
# The agent numbers the mounts in the ordinal (not the culture's) order of the SIDs.
$sids = New-Object 'string[]' $profiles.Count
for ($i = 0; $i -lt $profiles.Count; $i++) { $sids[$i] = $profiles[$i][0] }
[Array]::Sort($sids, [StringComparer]::Ordinal)
$number = 0
foreach ($sid in $sids) {
    $entry = $null
    foreach ($p in $profiles) { if ($p[0] -eq $sid) { $entry = $p } }
    $number++
    $mount = "HKU\WatchpostScan_$number"
    $hive = "$($entry[1])\NTUSER.DAT"
    if ($hive.Contains('%')) { continue }
    [void](Invoke-Recorded -Timeout 60 -Argv @('reg', 'load', $mount, $hive))
    if ($Commands[$Commands.Count - 1].returncode -ne 0) { continue }
    try { [void](Export-Recorded -Key "$mount\$Uninstall") }
    finally { [void](Invoke-Recorded -Timeout 60 -Argv @('reg', 'unload', $mount)) }
}

# manifest.json (written by hand: PowerShell 2 has no ConvertTo-Json)
$parts = New-Object System.Collections.ArrayList
foreach ($c in $Commands) {
    $argv = [string]::Join(", ", @($c.argv | ForEach-Object { Json-String $_ }))
    $rc = "-1"  # an integer always: the replay reads it with int()
    if ($c.returncode -ne $null) { $rc = [string]$c.returncode }
    [void]$parts.Add(('  {{"argv": [{0}], "returncode": {1}, "stdout": {2}, "stderr": {3}}}' -f $argv, $rc, (Json-String $c.stdout), (Json-String $c.stderr)))
}
$keys = New-Object System.Collections.ArrayList
foreach ($r in $Registry) { [void]$keys.Add(('  {{"key": {0}, "file": {1}}}' -f (Json-String $r.key), (Json-String $r.file))) }
$now = [DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [Globalization.CultureInfo]::InvariantCulture)
$manifest = @(
    "{",
    ' "format": 1,',
    ' "platform": "windows",',
    (' "captured_at": {0},' -f (Json-String $now)),
    (' "agent_version": {0},' -f (Json-String $CollectVersion)),
    (' "facts": {{"hostname": {0}}},' -f (Json-String $env:COMPUTERNAME)),
    ' "commands": [',
    ([string]::Join(",`n", @($parts))),
    ' ],',
    ' "registry": [',
    ([string]::Join(",`n", @($keys))),
    ' ]',
    "}"
)
$utf8 = New-Object System.Text.UTF8Encoding($false)
[System.IO.File]::WriteAllText((Join-Path $OutDir "manifest.json"), [string]::Join("`n", $manifest), $utf8)
Write-Progress -Activity "Watchpost capture" -Completed
Write-Host ("wrote {0}: {1} commands, {2} registry keys" -f $OutDir, $Commands.Count, $Registry.Count)
Write-Host "bring this folder to the collector (or: watchpost-agent scan --json --replay <folder>)"
exit 0
