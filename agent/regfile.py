"""A parser for `reg export` / regedit files (REGEDIT5 and REGEDIT4), pure and total.

Windows probes read the registry by exporting keys to a file and parsing it here, so the
very same code runs on captured exports from real machines in the tests. Values come out
as Python values: ``str`` (REG_SZ and REG_EXPAND_SZ), ``int`` (REG_DWORD, REG_QWORD),
``list[str]`` (REG_MULTI_SZ) and ``bytes`` (REG_BINARY and other hex types).
"""

from __future__ import annotations

import re

__all__ = ["RegValue", "decode_reg_file", "parse_reg_export"]

RegValue = str | int | list[str] | bytes

_HEX_TYPE = re.compile(r"^hex(?:\(([0-9a-fA-F]+)\))?:(.*)$", re.DOTALL)


def decode_reg_file(data: bytes) -> str:
    """`reg export` writes UTF-16LE with a BOM; REGEDIT4 files are in the ANSI code page."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")  # the ANSI code page of zh-CN Windows


def _logical_lines(text: str) -> list[str]:
    """Join the continuation lines (a trailing backslash) of hex values."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip() if pending else raw.rstrip()
        if pending:
            pending += line
        else:
            pending = line
        if pending.endswith("\\") and _HEX_TYPE.match(pending.split("=", 1)[-1].strip()):
            pending = pending[:-1]
            continue
        lines.append(pending)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """A quoted string starting at text[start] == '"'; returns (value, index after the closing quote)."""
    out = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), i


def _hex_bytes(body: str) -> bytes:
    parts = [p.strip() for p in body.replace("\\", "").split(",") if p.strip()]
    return bytes(int(p, 16) for p in parts if len(p) <= 2 and all(c in "0123456789abcdefABCDEF" for c in p))


def _utf16(data: bytes) -> str:
    return data.decode("utf-16-le", errors="replace")


def _value(raw: str) -> RegValue | None:
    raw = raw.strip()
    if raw.startswith('"'):
        return _read_quoted(raw, 0)[0]
    if raw.lower().startswith("dword:"):
        try:
            return int(raw[6:].strip(), 16)
        except ValueError:
            return None
    match = _HEX_TYPE.match(raw)
    if not match:
        return None
    kind = (match.group(1) or "3").lower()
    data = _hex_bytes(match.group(2))
    if kind == "1" or kind == "2":  # REG_SZ / REG_EXPAND_SZ written as hex
        return _utf16(data).rstrip("\x00")
    if kind == "7":  # REG_MULTI_SZ
        return [s for s in _utf16(data).split("\x00") if s]
    if kind == "4" and len(data) == 4:  # REG_DWORD
        return int.from_bytes(data, "little")
    if kind == "b" and len(data) == 8:  # REG_QWORD
        return int.from_bytes(data, "little")
    return data


def parse_reg_export(text: str) -> dict[str, dict[str, RegValue]]:
    """Keys (full path as written) -> {value name: value}; ``""`` is the default value (``@``).

    Sample input::

        Windows Registry Editor Version 5.00

        [HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\7-Zip]
        "DisplayName"="7-Zip 23.01 (x64)"
        "EstimatedSize"=dword:000015e5
        "InstallLocation"=hex(2):43,00,3a,00,5c,00,00,00
    """
    keys: dict[str, dict[str, RegValue]] = {}
    current: dict[str, RegValue] | None = None
    for line in _logical_lines(text.lstrip("\ufeff")):
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            path = stripped[1:-1]
            if path.startswith("-"):  # a deletion in a .reg to import: not data
                current = None
                continue
            current = keys.setdefault(path, {})
            continue
        if current is None:
            continue
        if stripped.startswith("@="):
            name, rest = "", stripped[2:]
        elif stripped.startswith('"'):
            name, end = _read_quoted(stripped, 0)
            if not stripped[end:].startswith("="):
                continue
            rest = stripped[end + 1 :]
        else:
            continue
        value = _value(rest)
        if value is not None:
            current[name] = value
    return keys
