"""Strings of administration pages (users, tokens, two-factor, keys, secrets, audit log)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {"zh-CN": {}, "en": {}}
