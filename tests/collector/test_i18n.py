"""Interface strings: zh-CN first and English, the same keys in both, every key a page uses
defined (collector/web/messages/)."""

from __future__ import annotations

import re
from pathlib import Path

from collector.web.i18n import LANGS, MESSAGES, translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "collector" / "web" / "templates"
_USED = re.compile(r"""\bt\(\s*["']([A-Za-z0-9_.]+)["']\s*[,)]""")


def test_both_languages_have_the_same_keys_and_no_empty_text() -> None:
    assert LANGS[0] == "zh-CN"
    zh, en = MESSAGES["zh-CN"], MESSAGES["en"]
    assert sorted(set(zh) ^ set(en)) == []
    assert [k for lang in LANGS for k, v in MESSAGES[lang].items() if not v.strip()] == []


def test_every_key_a_template_or_page_uses_is_defined() -> None:
    sources = [*TEMPLATES.glob("*.html"), *(ROOT / "collector" / "web").glob("*.py")]
    used = {key for path in sources for key in _USED.findall(path.read_text(encoding="utf-8"))}
    assert len(used) > 50
    assert sorted(used - set(MESSAGES["zh-CN"])) == []


def test_a_missing_key_falls_back_to_chinese_then_to_the_key() -> None:
    assert translate("en", "nav.hosts") == "Hosts" and translate("zh-CN", "nav.hosts") == "主机清单"
    assert translate("fr", "nav.hosts") == "主机清单"
    assert translate("en", "no.such.key") == "no.such.key"
