"""Sortable keys for software names and versions, so that "version < Y" is an index range.

``version_key("2.10.1") > version_key("2.9")``: numbers are compared as numbers (zero-padded
to 10 digits), letters as letters, in the order they come. Debian epochs (``1:2.3-4``) lead;
a ``~`` sorts before anything, even the end (Debian's pre-release marker: ``1.0~rc1 < 1.0``). This orders
real version strings the way dpkg and Windows installers mean them in the common cases; it
is not a full implementation of every packaging system's rules.
"""

from __future__ import annotations

import re

__all__ = ["name_key", "version_key"]

_PART = re.compile(r"\d+|[A-Za-z]+|~")
_WIDTH = 10
MAX_KEY = 255


def name_key(name: str) -> str:
    """A software title as matched in searches: lower case, spaces collapsed."""
    return " ".join(name.lower().split())[:MAX_KEY]


def version_key(version: str) -> str:
    """A string whose order is the order of the versions."""
    text = version.strip()
    epoch = 0
    head, sep, rest = text.partition(":")
    if sep and head.isdecimal() and len(head) <= 9:
        epoch, text = int(head), rest
    parts = [f"{epoch:0{_WIDTH}d}"]
    for part in _PART.findall(text):
        if part == "~":
            parts.append("!")  # before digits and letters in ASCII: 1.0~rc1 < 1.0
        elif part.isdecimal():
            number = part.lstrip("0") or "0"
            parts.append(number.rjust(_WIDTH, "0") if len(number) <= _WIDTH else "9" * _WIDTH)
        else:
            parts.append("~" + part.lower())  # letters after numbers
    parts.append("#")  # the end: after "~" (pre-release), before any further part (1.0 < 1.0.1)
    return ".".join(parts)[:MAX_KEY]
