"""Interface strings, zh-CN first and English. A test checks both have every key."""

from __future__ import annotations

from collector.web.messages import (
    access,
    assets,
    bulletins,
    core,
    drills,
    exports,
    findings,
    policies,
    register,
    trainings,
    vpn,
    vpn_syslog,
)

__all__ = ["DEFAULT_LANG", "LANGS", "MESSAGES", "pick_lang", "translate"]

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"

MESSAGES: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
for _area in (
    core,
    register,
    access,
    assets,
    exports,
    policies,
    findings,
    bulletins,
    drills,
    trainings,
    vpn,
    vpn_syslog,
):
    for _lang in LANGS:
        _clash = set(MESSAGES[_lang]) & set(_area.MESSAGES.get(_lang, {}))
        if _clash:
            raise RuntimeError(f"interface strings defined twice: {sorted(_clash)}")
        MESSAGES[_lang].update(_area.MESSAGES.get(_lang, {}))


def translate(lang: str, key: str, **values: object) -> str:
    text = MESSAGES.get(lang, MESSAGES[DEFAULT_LANG]).get(key) or MESSAGES[DEFAULT_LANG].get(key, key)
    return text.format(**values) if values else text


def pick_lang(value: str | None) -> str:
    return value if value in LANGS else DEFAULT_LANG
