"""A realistic simulated fleet for the register benchmark (issue 4, A9-M3.3, P-16).

Ten thousand office PCs spread over the city's seeded units (collector/services/org.py),
deterministic from a seed:

- operating systems: Windows 10/11 (most desks), Kylin V10 and UOS (the domestic
  replacement programme), a few Debian 12 servers and desks;
- software lists of hundreds of entries per host, drawn from a shared catalogue with a
  long-tail (Zipf-like) popularity: a handful of titles are on nearly every PC (WPS Office,
  360安全卫士, 微信, the statistics reporting clients), thousands appear on a few; each title has
  a few versions, most hosts on the latest; Windows hosts also carry KB updates;
- hardware (Lenovo, 联想开天, Dell, HP, 长城, 华为...) with serials, SMBIOS UUIDs, memory and
  disks varied; one wired adapter (sometimes Wi-Fi too) with a unique MAC and an address in
  the unit's network.

Each host's sections are built as plain dicts, normalised through the wire models, and
hashed with wire.hashing, so the reports made from them (agent/report.py report_dict) are
valid wire.Report documents the collector accepts.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from wire.hashing import content_hash
from wire.sections import HardwareFacts, NetworkFacts, OsFacts, SoftwareFacts

__all__ = ["UNIT_WEIGHTS", "Fleet", "SimHost", "Title"]

#: Seeded unit code -> share of the fleet (the city bureau and districts; the station is small).
UNIT_WEIGHTS: dict[str, float] = {
    "341000": 0.14,
    "341000-JSZ": 0.03,
    "341002": 0.17,
    "341003": 0.12,
    "341004": 0.11,
    "341021": 0.14,
    "341022": 0.11,
    "341023": 0.08,
    "341024": 0.10,
}
_UNIT_PREFIX = {
    "341000": "HSTJ",
    "341000-JSZ": "JSZ",
    "341002": "TXTJ",
    "341003": "HSQTJ",
    "341004": "HZTJ",
    "341021": "SXTJ",
    "341022": "XNTJ",
    "341023": "YXTJ",
    "341024": "QMTJ",
}


@dataclass(frozen=True)
class Title:
    """One catalogue entry: a program with its versions, oldest first."""

    name: str
    publisher: str
    versions: tuple[str, ...]
    kind: str = "application"
    architecture: str = ""
    parent: str = ""


# --- the catalogue ---------------------------------------------------------------------------

# (name, publisher, latest version) - the head of the Windows distribution, most popular first.
_WINDOWS_HEAD: tuple[tuple[str, str, str], ...] = (
    ("Microsoft Edge", "Microsoft Corporation", "131.0.2903.70"),
    ("Microsoft Edge WebView2 Runtime", "Microsoft Corporation", "131.0.2903.70"),
    ("Microsoft Visual C++ 2015-2022 Redistributable (x64)", "Microsoft Corporation", "14.40.33810.0"),
    ("Microsoft Visual C++ 2015-2022 Redistributable (x86)", "Microsoft Corporation", "14.40.33810.0"),
    ("WPS Office", "Kingsoft Corp.", "12.1.0.18608"),
    ("360安全卫士", "360安全中心", "13.1.0.1302"),
    ("微信", "腾讯科技(深圳)有限公司", "3.9.12.17"),
    ("统计联网直报平台客户端", "国家统计局", "5.2.1"),
    ("国家统计局一套表数据处理软件", "国家统计局", "2024.3.0"),
    ("火绒安全软件", "北京火绒网络科技有限公司", "5.0.76.6"),
    ("钉钉", "Alibaba (China) Network Technology Co.,Ltd.", "7.6.15"),
    ("Google Chrome", "Google LLC", "131.0.6778.86"),
    ("腾讯QQ", "腾讯科技(深圳)有限公司", "9.9.16.29271"),
    ("搜狗输入法", "Sogou.com", "14.9.0.9356"),
    ("7-Zip 24.08 (x64)", "Igor Pavlov", "24.08"),
    ("Adobe Acrobat Reader DC - Chinese Simplified", "Adobe", "24.004.20272"),
    ("WinRAR 7.01 (64-bit)", "win.rar GmbH", "7.01.0"),
    ("360压缩", "360安全中心", "4.0.0.1570"),
    ("福昕PDF阅读器", "福昕软件", "2024.3.0.26795"),
    ("腾讯会议", "腾讯科技(深圳)有限公司", "3.30.1.420"),
    ("企业微信", "腾讯科技(深圳)有限公司", "4.1.31.6017"),
    ("Microsoft Office 专业增强版 2016 - zh-cn", "Microsoft Corporation", "16.0.4266.1001"),
    ("Microsoft 365 企业应用版 - zh-cn", "Microsoft Corporation", "16.0.17928.20216"),
    ("Mozilla Firefox (x64 zh-CN)", "Mozilla", "133.0"),
    ("360极速浏览器X", "360安全中心", "22.3.3148.64"),
    ("Intel(R) Graphics Driver", "Intel Corporation", "31.0.101.5186"),
    ("Realtek High Definition Audio Driver", "Realtek Semiconductor Corp.", "6.0.9549.1"),
    ("Realtek Ethernet Controller Driver", "Realtek", "10.68.815.2023"),
    ("Lenovo Vantage Service", "Lenovo Group Ltd.", "4.2.48.0"),
    ("联想电脑管家", "联想(北京)有限公司", "5.1.110.9202"),
    ("Java 8 Update 421 (64-bit)", "Oracle Corporation", "8.0.4210.9"),
    ("Microsoft .NET Framework 4.8.1", "Microsoft Corporation", "4.8.09032"),
    ("Microsoft Update Health Tools", "Microsoft Corporation", "5.72.0.0"),
    ("Windows PC Health Check", "Microsoft Corporation", "3.7.2204.15001"),
    ("网易有道翻译", "网易有道", "10.2.8.0"),
    ("百度网盘", "北京百度网讯科技有限公司", "7.47.5.102"),
    ("迅雷", "深圳市迅雷网络技术有限公司", "12.0.16.2528"),
    ("Kingsoft PDF", "Kingsoft Corp.", "12.8.0.18608"),
    ("数科OFD阅读器", "数科网维", "3.0.22.0925"),
    ("CAJViewer 8.0", "同方知网(北京)技术有限公司", "8.0.5.0"),
    ("SPSS Statistics 26", "IBM Corp.", "26.0.0.0"),
    ("Stata 17", "StataCorp LLC", "17.0"),
    ("R for Windows 4.4.1", "R Core Team", "4.4.1"),
    ("RStudio", "Posit Software", "2024.09.1+394"),
    ("Notepad++ (64-bit x64)", "Notepad++ Team", "8.7.1"),
    ("Foxmail", "腾讯科技(深圳)有限公司", "7.2.25.375"),
    ("向日葵远程控制", "上海贝锐信息科技股份有限公司", "15.5.2.73537"),
    ("ToDesk", "海南有趣科技有限公司", "4.7.5.3"),
    ("TeamViewer", "TeamViewer", "15.59.3"),
    ("奇安信天擎终端安全管理系统", "奇安信科技集团股份有限公司", "10.0.0.3000"),
    ("深信服EDR", "深信服科技股份有限公司", "3.7.12"),
    ("EasyConnect", "Sangfor Technologies Inc.", "7.6.7.4"),
    ("HP LaserJet Pro MFP M128 驱动程序", "HP Inc.", "15.0.15247.1206"),
    ("Canon LBP2900 打印机驱动", "Canon Inc.", "3.3.0.0"),
    ("奔图打印机驱动", "珠海奔图电子有限公司", "2.5.10"),
    ("Python 3.12.7 (64-bit)", "Python Software Foundation", "3.12.7150.0"),
    ("Git", "The Git Development Community", "2.47.0"),
    ("Microsoft Visual Studio Code", "Microsoft Corporation", "1.95.3"),
    ("VLC media player", "VideoLAN", "3.0.21"),
    ("PotPlayer-64 bit", "Kakao Corp.", "241030"),
    ("Bandizip", "Bandisoft.com", "7.36"),
    ("Everything 1.4.1.1026 (x64)", "voidtools", "1.4.1.1026"),
    ("金山打字通", "Kingsoft Corp.", "2016.0.0.1"),
    ("XMind", "XMind Ltd.", "24.10.01101"),
    ("亿图图示", "亿图软件", "13.5.0"),
    ("Snipaste", "Snipaste", "2.10.3"),
    ("网络报表系统客户端", "安徽省统计局", "3.1.4"),
    ("统计执法监督系统", "国家统计局", "2.0.8"),
    ("金税盘开票软件", "航天信息股份有限公司", "3.2.0.230515"),
    ("中国银行网银助手", "中国银行", "1.2.4.2"),
    ("CFCA证书助手", "中国金融认证中心", "3.8.0.5"),
    ("UKey管理工具", "北京数字认证股份有限公司", "2.1.0.6"),
)

# Real Debian/Kylin package names, most common first (base system, desktop, then services).
_DPKG_HEAD: list[str] = [
    "base-files",
    "bash",
    "coreutils",
    "dpkg",
    "apt",
    "libc6",
    "libc-bin",
    "libgcc-s1",
    "libstdc++6",
    "zlib1g",
    "libssl3",
    "openssl",
    "ca-certificates",
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "libsystemd0",
    "libudev1",
    "util-linux",
    "mount",
    "login",
    "passwd",
    "sed",
    "grep",
    "gawk",
    "findutils",
    "tar",
    "gzip",
    "bzip2",
    "xz-utils",
    "procps",
    "iproute2",
    "iputils-ping",
    "netbase",
    "ifupdown",
    "isc-dhcp-client",
    "openssh-client",
    "openssh-server",
    "sudo",
    "vim-tiny",
    "nano",
    "less",
    "curl",
    "wget",
    "gnupg",
    "libcurl4",
    "libgnutls30",
    "libgcrypt20",
    "libglib2.0-0",
    "libpam0g",
    "libpam-modules",
    "libpam-runtime",
    "libselinux1",
    "libsemanage2",
    "libaudit1",
    "libcap2",
    "libacl1",
    "libattr1",
    "libblkid1",
    "libmount1",
    "libuuid1",
    "libsmartcols1",
    "libfdisk1",
    "libncursesw6",
    "libtinfo6",
    "libreadline8",
    "libsqlite3-0",
    "libxml2",
    "libexpat1",
    "libpcre2-8-0",
    "libzstd1",
    "liblz4-1",
    "liblzma5",
    "libbz2-1.0",
    "libffi8",
    "libdb5.3",
    "libgdbm6",
    "libkmod2",
    "kmod",
    "linux-image-amd64",
    "firmware-linux-free",
    "grub-pc",
    "grub-common",
    "initramfs-tools",
    "python3",
    "python3-minimal",
    "libpython3.11-stdlib",
    "python3-apt",
    "python3-yaml",
    "perl",
    "perl-base",
    "tzdata",
    "locales",
    "console-setup",
    "keyboard-configuration",
    "cron",
    "rsyslog",
    "logrotate",
    "anacron",
    "xserver-xorg-core",
    "xserver-xorg-video-all",
    "libx11-6",
    "libxext6",
    "libxrender1",
    "libxcb1",
    "libgtk-3-0",
    "libqt5core5a",
    "libqt5gui5",
    "libqt5widgets5",
    "fonts-noto-cjk",
    "fonts-wqy-microhei",
    "fcitx5",
    "fcitx5-chinese-addons",
    "network-manager",
    "pulseaudio",
    "cups",
    "cups-filters",
    "printer-driver-all",
    "ukui-desktop-environment",
    "ukui-control-center",
    "ukui-panel",
    "kylin-software-center",
    "kylin-update-manager",
    "kylin-os-manager",
    "peony",
    "wps-office",
    "qaxbrowser-safe",
    "sogoupinyin",
    "wechat-uos",
    "com.qq.weixin.deepin",
    "dingtalk-bin",
    "firefox-esr",
    "chromium",
    "libreoffice-writer",
    "libreoffice-calc",
    "evince",
    "eog",
    "file-roller",
    "gedit",
    "thunderbird",
    "nginx",
    "postgresql-15",
    "postgresql-client-15",
    "openjdk-17-jre-headless",
    "docker.io",
    "containerd",
    "auditd",
    "apparmor",
    "ufw",
    "fail2ban",
    "chrony",
    "ntpsec",
    "rsync",
    "unattended-upgrades",
    "libpq5",
    "libldap-2.5-0",
    "libkrb5-3",
    "libgssapi-krb5-2",
    "libsasl2-2",
    "libnss3",
    "libnspr4",
    "libjpeg62-turbo",
    "libpng16-16",
    "libtiff6",
    "libwebp7",
    "libfreetype6",
    "libfontconfig1",
    "libharfbuzz0b",
    "libcairo2",
    "libpango-1.0-0",
    "libgdk-pixbuf-2.0-0",
    "libasound2",
    "libpulse0",
    "libdrm2",
    "libgbm1",
    "mesa-vulkan-drivers",
    "libgl1-mesa-dri",
    "libegl1",
    "libgles2",
    "libwayland-client0",
    "libinput10",
    "libusb-1.0-0",
    "libpci3",
    "pciutils",
    "usbutils",
    "dmidecode",
    "lshw",
    "smartmontools",
    "hdparm",
    "e2fsprogs",
    "dosfstools",
    "ntfs-3g",
    "lvm2",
    "cryptsetup",
    "mdadm",
    "parted",
]

_WORDS = [
    "data",
    "stat",
    "report",
    "sheet",
    "census",
    "form",
    "survey",
    "audit",
    "sync",
    "office",
    "print",
    "scan",
    "mail",
    "view",
    "note",
    "chart",
    "grid",
    "table",
    "query",
    "index",
    "cloud",
    "link",
    "net",
    "secure",
    "guard",
    "shield",
    "key",
    "cert",
    "sign",
    "book",
    "flow",
    "desk",
    "task",
    "plan",
    "map",
    "geo",
    "time",
    "log",
    "trace",
    "pack",
    "zip",
    "pdf",
    "ofd",
    "image",
    "media",
    "video",
    "audio",
    "font",
    "input",
    "text",
    "code",
]
_VENDORS = (
    ("金山", "Kingsoft Corp."),
    ("腾讯", "腾讯科技(深圳)有限公司"),
    ("360", "360安全中心"),
    ("用友", "用友网络科技股份有限公司"),
    ("浪潮", "浪潮软件股份有限公司"),
    ("东方通", "北京东方通科技股份有限公司"),
    ("Adobe", "Adobe Inc."),
    ("Autodesk", "Autodesk, Inc."),
    ("Intel", "Intel Corporation"),
    ("NVIDIA", "NVIDIA Corporation"),
    ("Microsoft", "Microsoft Corporation"),
    ("Lenovo", "Lenovo Group Ltd."),
    ("HP", "HP Inc."),
    ("Dell", "Dell Inc."),
    ("统计", "国家统计局"),
    ("安徽", "安徽省统计局"),
)
_CN_PRODUCTS = (
    "数据采集工具",
    "报表助手",
    "普查登记软件",
    "调查数据录入系统",
    "电子签章客户端",
    "公文处理系统",
    "档案管理系统",
    "视频会议客户端",
    "打印机驱动",
    "扫描仪驱动",
    "网银助手",
    "证书驱动",
    "输入法",
    "PDF编辑器",
    "压缩工具",
    "远程协助",
    "安全插件",
    "运行库",
)


def _version_series(rng: random.Random, latest: str, count: int) -> tuple[str, ...]:
    """``count`` versions ending with ``latest``: earlier ones lower in the last parts."""
    parts = latest.split(".")
    versions = [latest]
    for step in range(1, count):
        older = list(parts)
        for i in range(len(older) - 1, -1, -1):
            if older[i].isdigit() and int(older[i]) >= step:
                older[i] = str(int(older[i]) - step - rng.randrange(2))
                if int(older[i]) < 0:
                    older[i] = "0"
                break
        else:
            older = [*parts[:-1], f"{parts[-1]}~{step}"] if parts[-1].isdigit() is False else [*parts, "0"]
        candidate = ".".join(older)
        if candidate not in versions:
            versions.append(candidate)
    return tuple(reversed(versions))


def _windows_catalogue(rng: random.Random, tail: int) -> list[Title]:
    titles = [
        Title(name, publisher, _version_series(rng, latest, rng.randint(2, 4)), architecture="x64")
        for name, publisher, latest in _WINDOWS_HEAD
    ]
    seen = {t.name for t in titles}
    while len(titles) < len(_WINDOWS_HEAD) + tail:
        brand, publisher = rng.choice(_VENDORS)
        if rng.random() < 0.5:
            name = f"{brand}{rng.choice(_CN_PRODUCTS)}"
        else:
            name = f"{brand} {rng.choice(_WORDS).title()}{rng.choice(_WORDS).title()}"
        if rng.random() < 0.4:
            name += f" {rng.randint(1, 12)}"
        if name in seen:
            continue
        seen.add(name)
        latest = f"{rng.randint(1, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 400)}"
        arch = rng.choice(("x64", "x64", "x86"))
        titles.append(
            Title(name, publisher, _version_series(rng, latest, rng.randint(1, 4)), architecture=arch)
        )
    return titles


def _dpkg_catalogue(rng: random.Random, tail: int) -> list[Title]:
    titles = []
    for name in _DPKG_HEAD:
        latest = f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}-{rng.randint(1, 5)}"
        arch = "all" if name.startswith(("fonts-", "base-", "tzdata", "locales", "ca-")) else "amd64"
        titles.append(Title(name, "Debian", _version_series(rng, latest, rng.randint(1, 3)), "package", arch))
    seen = set(_DPKG_HEAD)
    while len(titles) < len(_DPKG_HEAD) + tail:
        stem = rng.choice(_WORDS) + rng.choice(_WORDS)
        name = rng.choice(
            (f"lib{stem}{rng.randint(0, 9)}", f"python3-{stem}", f"{stem}-utils", f"kylin-{stem}")
        )
        if name in seen:
            continue
        seen.add(name)
        latest = f"{rng.randint(0, 5)}.{rng.randint(0, 40)}.{rng.randint(0, 12)}-{rng.randint(1, 4)}"
        titles.append(
            Title(
                name,
                rng.choice(("Debian", "KylinSoft", "UnionTech")),
                _version_series(rng, latest, 2),
                "package",
                "amd64",
            )
        )
    return titles


def _zipf_probabilities(count: int, mean: float, exponent: float, cap: float = 0.97) -> list[float]:
    """Install probability of the title at each popularity rank, so a host carries ``mean``
    titles on average: p(rank) = min(cap, a / rank**exponent), a found by bisection."""
    low, high = 0.0, float(count)
    for _ in range(60):
        a = (low + high) / 2
        expected = sum(min(cap, a / (r**exponent)) for r in range(1, count + 1))
        low, high = (a, high) if expected < mean else (low, a)
    return [min(cap, low / (r**exponent)) for r in range(1, count + 1)]


_WINDOWS_OS = (
    # weight, name, version, build, edition
    (0.52, "Windows 10 Pro", "22H2", "19045", "Professional"),
    (0.06, "Windows 10 Enterprise LTSC 2021", "21H2", "19044", "EnterpriseS"),
    (0.32, "Windows 11 Pro", "23H2", "22631", "Professional"),
    (0.06, "Windows 11 Pro", "24H2", "26100", "Professional"),
    (0.04, "Windows Server 2019 Standard", "1809", "17763", "ServerStandard"),
)
_HARDWARE = (
    # weight, vendor, model, chassis, cpu
    (0.22, "LENOVO", "ThinkCentre M720t", "desktop", "Intel(R) Core(TM) i5-9500 CPU @ 3.00GHz"),
    (0.14, "LENOVO", "开天M740Z", "desktop", "ZHAOXIN KaiXian KX-U6780A@2.7GHz"),
    (0.10, "Dell Inc.", "OptiPlex 7090", "desktop", "11th Gen Intel(R) Core(TM) i7-11700 @ 2.50GHz"),
    (0.10, "HP", "HP ProDesk 400 G7 Microtower PC", "desktop", "Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz"),
    (0.10, "长城", "世恒TD120A2", "desktop", "Phytium,FT-2000/4"),
    (0.06, "HUAWEI", "MateStation B515", "desktop", "AMD Ryzen 5 4600G with Radeon Graphics"),
    (0.12, "LENOVO", "ThinkPad E14 Gen 4", "laptop", "12th Gen Intel(R) Core(TM) i5-1235U"),
    (0.06, "HP", "HP ProBook 440 G9", "laptop", "12th Gen Intel(R) Core(TM) i5-1235U"),
    (
        0.05,
        "VMware, Inc.",
        "VMware Virtual Platform",
        "virtual machine",
        "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
    ),
    (0.05, "Inspur", "NF5280M6", "server", "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz"),
)


def _pick(rng: random.Random, weighted: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    roll = rng.random() * sum(w[0] for w in weighted)
    for entry in weighted:
        roll -= entry[0]
        if roll <= 0:
            return entry
    return weighted[-1]


def _normalised(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_validate(data).model_dump(mode="json")
    return dumped


def _ok(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    data = _normalised(model, data)
    return {"status": "ok", "content_hash": content_hash(data), "data": data, "duration_ms": 12}


@dataclass
class SimHost:
    """One simulated PC: identity, unit, and its current sections (valid wire section results)."""

    index: int
    unit: str
    hostname: str
    os_family: str
    agent_id: uuid.UUID
    system_uuid: str
    serial: str
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    software: list[tuple[Title, str]] = field(default_factory=list)


class Fleet:
    """``hosts`` simulated PCs; host ``i`` is the same for the same seed on any machine."""

    def __init__(self, hosts: int, seed: int = 20261127) -> None:
        self.size = hosts
        self.seed = seed
        rng = random.Random(seed)
        self.windows_titles = _windows_catalogue(rng, tail=2400)
        self.dpkg_titles = _dpkg_catalogue(rng, tail=3000)
        # Windows desks carry ~180 programs (+ KB updates); Linux desks ~700 packages.
        self.windows_p = _zipf_probabilities(len(self.windows_titles), mean=180, exponent=0.9)
        self.dpkg_p = _zipf_probabilities(len(self.dpkg_titles), mean=700, exponent=0.6)
        units = list(UNIT_WEIGHTS)
        weights = list(UNIT_WEIGHTS.values())
        self.units = [rng.choices(units, weights)[0] for _ in range(hosts)]
        self._number_in_unit: list[int] = []
        counters: dict[str, int] = {}
        for unit in self.units:
            counters[unit] = counters.get(unit, 0) + 1
            self._number_in_unit.append(counters[unit])

    # --- building hosts -----------------------------------------------------------------

    def host(self, index: int) -> SimHost:
        rng = random.Random(f"{self.seed}/{index}")
        unit = self.units[index]
        number = self._number_in_unit[index]
        roll = rng.random()
        family = "windows" if roll < 0.68 else "linux"
        linux_flavour = "kylin" if roll < 0.90 else ("uos" if roll < 0.95 else "debian")
        hostname = f"{_UNIT_PREFIX[unit]}-{'PC' if family == 'windows' else 'KY'}{number:04d}"
        sim = SimHost(
            index=index,
            unit=unit,
            hostname=hostname,
            os_family=family,
            agent_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            system_uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            serial="",
        )
        hardware = self._hardware(rng, sim)
        sim.sections["os"] = _ok(OsFacts, self._os(rng, sim, linux_flavour))
        sim.sections["hardware"] = _ok(HardwareFacts, hardware)
        sim.sections["network"] = _ok(NetworkFacts, self._network(rng, sim, hardware))
        if family == "windows":
            sim.software = [
                (t, self._version(rng, t))
                for t, p in zip(self.windows_titles, self.windows_p, strict=True)
                if rng.random() < p
            ]
        else:
            sim.software = [
                (t, self._version(rng, t))
                for t, p in zip(self.dpkg_titles, self.dpkg_p, strict=True)
                if rng.random() < p
            ]
        sim.sections["software"] = self._software_section(sim)
        return sim

    @staticmethod
    def _version(rng: random.Random, title: Title) -> str:
        versions = title.versions
        roll = rng.random()
        if roll < 0.72 or len(versions) == 1:
            return versions[-1]
        if roll < 0.92:
            return versions[-2]
        return versions[rng.randrange(len(versions) - 2)] if len(versions) > 2 else versions[0]

    def _os(self, rng: random.Random, sim: SimHost, flavour: str) -> dict[str, Any]:
        boot = f"2026-11-{rng.randint(20, 27):02d}T0{rng.randint(0, 9)}:{rng.randint(10, 59)}:00Z"
        if sim.os_family == "windows":
            _w, name, version, build, edition = _pick(rng, _WINDOWS_OS)
            return {
                "family": "windows",
                "name": name,
                "version": version,
                "pretty_name": f"{name} {version}",
                "build": f"{build}.{rng.randint(3000, 5200)}",
                "architecture": "x86_64",
                "kernel": f"10.0.{build}",
                "hostname": sim.hostname,
                "domain": "TJJ" if rng.random() < 0.7 else "WORKGROUP",
                "domain_kind": "ad" if rng.random() < 0.7 else "workgroup",
                "machine_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "install_date": f"20{rng.randint(19, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T08:00:00Z",
                "last_boot": boot,
                "timezone": "China Standard Time",
                "edition": edition,
            }
        names = {
            "kylin": ("Kylin", "V10 (SP1)", "Kylin V10 SP1", ["debian"], "5.4.18-85-generic"),
            "uos": (
                "UnionTech OS Desktop",
                "20",
                "UnionTech OS Desktop 20 Pro",
                ["debian"],
                "5.10.0-amd64-desktop",
            ),
            "debian": ("Debian GNU/Linux", "12", "Debian GNU/Linux 12 (bookworm)", [], "6.1.0-27-amd64"),
        }
        name, version, pretty, like, kernel = names[flavour]
        return {
            "family": "linux",
            "name": name,
            "version": version,
            "pretty_name": pretty,
            "distribution_id": flavour,
            "like": like,
            "architecture": "aarch64" if rng.random() < 0.25 and flavour == "kylin" else "x86_64",
            "kernel": kernel,
            "hostname": sim.hostname,
            "machine_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "last_boot": boot,
            "timezone": "Asia/Shanghai",
        }

    def _hardware(self, rng: random.Random, sim: SimHost) -> dict[str, Any]:
        _w, vendor, model, chassis, cpu = _pick(rng, _HARDWARE)
        sim.serial = f"{vendor[:2].upper()}{rng.getrandbits(40):010X}" if chassis != "virtual machine" else ""
        cores = rng.choice((4, 6, 8))
        disk_gb = rng.choice((256, 512, 512, 1024, 2048 if chassis == "server" else 1024))
        disks = [
            {
                "name": "\\\\.\\PHYSICALDRIVE0" if sim.os_family == "windows" else "nvme0n1",
                "model": rng.choice(
                    ("Samsung SSD 980 500GB", "WDC PC SN730", "致态 TiPlus5000", "KIOXIA EXCERIA")
                ),
                "serial": f"S{rng.getrandbits(48):012X}",
                "size_bytes": disk_gb * 1_000_000_000,
                "bus": "nvme",
                "rotational": False,
            }
        ]
        if rng.random() < 0.2:
            disks.append(
                {
                    "name": "\\\\.\\PHYSICALDRIVE1" if sim.os_family == "windows" else "sda",
                    "model": "ST1000DM010-2EP102",
                    "serial": f"Z{rng.getrandbits(32):08X}",
                    "size_bytes": 1_000_204_886_016,
                    "bus": "sata",
                    "rotational": True,
                }
            )
        mac = f"02:57:50:{(sim.index >> 16) & 0xFF:02x}:{(sim.index >> 8) & 0xFF:02x}:{sim.index & 0xFF:02x}"
        adapters = [
            {
                "name": "以太网" if sim.os_family == "windows" else "enp3s0",
                "mac": mac,
                "kind": "wired",
                "driver": "rt640x64" if sim.os_family == "windows" else "r8169",
                "vendor": "Realtek",
                "speed_mbps": 1000,
            }
        ]
        if chassis == "laptop":
            adapters.append(
                {
                    "name": "WLAN" if sim.os_family == "windows" else "wlp2s0",
                    "mac": f"06:57:50:{(sim.index >> 16) & 0xFF:02x}:{(sim.index >> 8) & 0xFF:02x}:{sim.index & 0xFF:02x}",
                    "kind": "wireless",
                    "driver": "Netwtw10" if sim.os_family == "windows" else "iwlwifi",
                    "vendor": "Intel",
                }
            )
        return {
            "vendor": vendor,
            "model": model,
            "chassis_type": chassis,
            "serial": sim.serial,
            "system_uuid": sim.system_uuid,
            "bios_vendor": "LENOVO" if vendor == "LENOVO" else "American Megatrends Inc.",
            "bios_version": f"M{rng.randint(1, 9)}{rng.choice('ABCDE')}KT{rng.randint(10, 99)}A",
            "virtual": chassis == "virtual machine",
            "cpu": {"model": cpu, "vendor": "", "packages": 1, "cores": cores, "threads": cores * 2},
            "memory_bytes": rng.choice((8, 16, 16, 16, 32)) * 1024**3,
            "disks": disks,
            "adapters": adapters,
        }

    def _network(self, rng: random.Random, sim: SimHost, hardware: dict[str, Any]) -> dict[str, Any]:
        unit_no = list(UNIT_WEIGHTS).index(sim.unit) + 1
        number = self._number_in_unit[sim.index]
        subnet = number // 250
        address = f"10.{unit_no}.{subnet}.{number % 250 + 2}"
        wired = hardware["adapters"][0]
        interfaces = [
            {
                "name": wired["name"],
                "mac": wired["mac"],
                "kind": "wired",
                "up": True,
                "mtu": 1500,
                "addresses": [
                    {"address": address, "prefix_length": 24, "scope": "global"},
                    {
                        "address": f"fe80::57:50ff:fe00:{sim.index & 0xFFFF:x}",
                        "prefix_length": 64,
                        "scope": "link",
                    },
                ],
            }
        ]
        for adapter in hardware["adapters"][1:]:
            interfaces.append(
                {"name": adapter["name"], "mac": adapter["mac"], "kind": "wireless", "up": False}
            )
        if sim.os_family == "linux":
            interfaces.append(
                {
                    "name": "lo",
                    "kind": "loopback",
                    "up": True,
                    "mtu": 65536,
                    "addresses": [{"address": "127.0.0.1", "prefix_length": 8, "scope": "host"}],
                }
            )
        return {
            "interfaces": interfaces,
            "default_routes": [
                {
                    "destination": "0.0.0.0/0",
                    "gateway": f"10.{unit_no}.{subnet}.1",
                    "interface": wired["name"],
                }
            ],
            "dns_servers": [f"10.{unit_no}.0.53", "223.5.5.5"],
            "dns_search": ["tjj.local"] if rng.random() < 0.5 else [],
        }

    def _software_section(self, sim: SimHost) -> dict[str, Any]:
        """The software section of a host's current list: install dates, registry keys and
        KB updates depend only on the seed, the host and the title, so an upgrade changes
        one entry and an install adds one."""
        items: list[dict[str, Any]] = []
        windows = sim.os_family == "windows"
        for title, version in sim.software:
            digest = hashlib.sha256(f"{self.seed}/{sim.index}/{title.name}".encode()).digest()
            item: dict[str, Any] = {
                "name": title.name,
                "version": version,
                "publisher": title.publisher,
                "source": "registry" if windows else "dpkg",
                "kind": title.kind,
                "architecture": title.architecture,
            }
            if windows:
                item["install_date"] = (
                    f"202{2 + digest[0] % 5}-{1 + digest[1] % 12:02d}-{1 + digest[2] % 28:02d}"
                )
                item["key"] = "{" + str(uuid.UUID(bytes=digest[:16])).upper() + "}"
            items.append(item)
        if windows:
            for kb in range(8 + sim.index % 23):
                items.append(
                    {
                        "name": f"Security Update for Microsoft Windows (KB50{40000 + kb * 37:05d})",
                        "publisher": "Microsoft Corporation",
                        "source": "registry",
                        "kind": "update",
                        "parent": "Windows",
                    }
                )
        items.sort(key=lambda i: str(i["name"]).lower())
        data = {
            "items": items,
            "sources": ["HKLM 64-bit", "HKLM 32-bit"] if windows else ["dpkg"],
        }
        return _ok(SoftwareFacts, data)

    # --- changes ------------------------------------------------------------------------

    def changed(self, sim: SimHost, round_no: int = 1) -> dict[str, dict[str, Any]]:
        """The host's sections after one upgrade (a title moved to a newer version) and one
        install (a title it did not have); only the software section changes."""
        rng = random.Random(f"{self.seed}/{sim.index}/change/{round_no}")
        software = list(sim.software)
        upgradable = [i for i, (t, v) in enumerate(software) if v != t.versions[-1]]
        if upgradable:
            i = rng.choice(upgradable)
            software[i] = (software[i][0], software[i][0].versions[-1])
        else:
            i = rng.randrange(len(software))
            title = software[i][0]
            software[i] = (title, title.versions[-1] + ".1")
        have = {t.name for t, _v in software}
        catalogue = self.windows_titles if sim.os_family == "windows" else self.dpkg_titles
        for _ in range(1000):
            candidate = catalogue[rng.randrange(len(catalogue))]
            if candidate.name not in have:
                software.append((candidate, candidate.versions[-1]))
                break
        changed = SimHost(
            sim.index,
            sim.unit,
            sim.hostname,
            sim.os_family,
            sim.agent_id,
            sim.system_uuid,
            sim.serial,
            dict(sim.sections),
            software,
        )
        changed.sections["software"] = self._software_section(changed)
        return changed.sections

    # --- picking query targets ----------------------------------------------------------

    def popular_title(self) -> Title:
        """A head title with several versions in use (WPS Office): the typical search."""
        return next(t for t in self.windows_titles if t.name == "WPS Office")

    def rare_title(self) -> Title:
        """A long-tail title few hosts carry."""
        return self.windows_titles[len(self.windows_titles) * 3 // 4]
