"""Redaction of secrets in VPN log lines before anything parses them (A9-T2.2): the shared rules
of wire/redact.py, which the collector applies to appliances' syslog too."""

from __future__ import annotations

from wire.redact import REDACTED, redact

__all__ = ["REDACTED", "redact"]
