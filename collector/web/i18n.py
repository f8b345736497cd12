"""Interface strings, zh-CN first and English. A test checks both have every key."""

from __future__ import annotations

__all__ = ["DEFAULT_LANG", "LANGS", "MESSAGES", "pick_lang", "translate"]

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"

MESSAGES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "app.name": "守望 网络安全监测",
        "nav.hosts": "主机清单",
        "nav.logout": "退出登录",
        "lang.switch": "English",
        "login.title": "登录",
        "login.username": "用户名",
        "login.password": "密码",
        "login.submit": "登录",
        "login.failed": "用户名或密码错误（连续失败多次后账户将被暂时锁定）。",
        "login.csrf": "表单已过期，请重新提交。",
        "hosts.title": "主机清单（按单位）",
        "hosts.summary": "共 {hosts} 台主机，{units} 个单位",
        "hosts.none": "本单位暂无主机。",
        "col.hostname": "主机名",
        "col.ip": "IP 地址",
        "col.mac": "MAC 地址",
        "col.os": "操作系统",
        "col.memory": "内存",
        "col.cpu": "处理器",
        "col.model": "品牌型号",
        "col.status": "状态",
        "col.last_seen": "最近上报",
        "status.online": "在线",
        "status.silent": "失联",
        "status.never": "未上报",
        "status.retired": "已退役",
        "badge.simulated": "模拟",
        "time.zone": "北京时间",
    },
    "en": {
        "app.name": "Watchpost network security monitoring",
        "nav.hosts": "Hosts",
        "nav.logout": "Log out",
        "lang.switch": "中文",
        "login.title": "Log in",
        "login.username": "User name",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.failed": "Wrong user name or password (repeated failures lock the account for a while).",
        "login.csrf": "The form expired; please submit it again.",
        "hosts.title": "Hosts by unit",
        "hosts.summary": "{hosts} hosts in {units} units",
        "hosts.none": "No hosts in this unit yet.",
        "col.hostname": "Host name",
        "col.ip": "IP addresses",
        "col.mac": "MAC addresses",
        "col.os": "Operating system",
        "col.memory": "Memory",
        "col.cpu": "CPU",
        "col.model": "Make / model",
        "col.status": "Status",
        "col.last_seen": "Last report",
        "status.online": "online",
        "status.silent": "silent",
        "status.never": "no report yet",
        "status.retired": "retired",
        "badge.simulated": "simulated",
        "time.zone": "China Standard Time",
    },
}


def translate(lang: str, key: str, **values: object) -> str:
    text = MESSAGES.get(lang, MESSAGES[DEFAULT_LANG]).get(key) or MESSAGES[DEFAULT_LANG].get(key, key)
    return text.format(**values) if values else text


def pick_lang(value: str | None) -> str:
    return value if value in LANGS else DEFAULT_LANG
