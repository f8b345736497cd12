"""Strings of the bulletins area."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {"zh-CN": {}, "en": {}}
