"""Strings of the asset register pages (host list, detail, software, hardware)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {"zh-CN": {}, "en": {}}
