"""Strings of assets without an agent, imports, duplicates."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {"zh-CN": {}, "en": {}}
