"""Strings of the VPN area (issue 6): placeholder, filled by its owner."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {"zh-CN": {}, "en": {}}
