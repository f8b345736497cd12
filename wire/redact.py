"""Redaction of secrets in log lines before anything parses them (A9-T2.2).

Shared by both sides: the agent redacts VPN daemons' log lines (agent/vpn/logs.py) and the
collector appliances' syslog lines (collector/services/syslog_parse.py, which adds the loose
``密码: ...`` forms on top) with the same rules.

The value of ``password=``, ``passwd=``, ``pass=``, ``pwd=``, ``secret=``, ``psk=``, ``otp=``,
``token=`` becomes ``<redacted>``: a quoted value up to the last quote of the line, a bare one up
to the next blank, comma or semicolon. pppd's ``password=<hidden>`` stays as it is.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "redact"]

REDACTED = "<redacted>"
_KEY = re.compile(r"(?<![A-Za-z0-9_])(password|passwd|pass|pwd|secret|psk|otp|token)=", re.IGNORECASE)


def redact(line: str) -> str:
    """``line`` with every secret value replaced by ``<redacted>``."""
    out: list[str] = []
    position = 0
    while True:
        match = _KEY.search(line, position)
        if match is None:
            out.append(line[position:])
            return "".join(out)
        out.append(line[position : match.end()])
        start = match.end()
        if line.startswith("<hidden>", start):
            out.append("<hidden>")
            position = start + len("<hidden>")
        elif start < len(line) and line[start] in "\"'":
            quote = line[start]
            last = line.rfind(quote)
            end = last + 1 if last > start else len(line)
            out.append(f"{quote}{REDACTED}{quote}")
            position = end
        else:
            end = start
            while end < len(line) and line[end] not in " \t,;":
                end += 1
            out.append(REDACTED)
            position = end
