"""One syslog message from a VPN appliance, parsed (issue 6: A9-T2.3, A9-T1, A9-M3.4).

Both wire formats appliances send are understood, with the tolerance real devices need:

* RFC 5424: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD...] MSG``, e.g.
  ``<134>1 2026-11-27T10:01:02.123+08:00 sslvpn-she SSLVPN - LOGIN - \ufeffUser alice logged in``
  (``-`` for an absent field; the MSG may start with a UTF-8 BOM);
* RFC 3164 (BSD): ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[pid]: MSG``, e.g.
  ``<86>Nov 27 10:01:02 sslvpn-she sslvpn[311]: User alice logged in``. The year is not in the
  line: the latest one that does not put the stamp after ``now`` (plus a day of clock skew). The
  hostname may be missing (``<86>Nov 27 10:01:02 sslvpn[311]: ...``), and appliances write odd
  stamps: ``Nov 27 2026 10:01:02`` (Huawei), ``2026-11-27 10:01:02``, ``2026/11/27 10:01:02``,
  ``2026-11-27T10:01:02+08:00`` without the version field. A stamp without a zone is local time
  of ``tz`` (Asia/Shanghai by default); every ``ts`` returned is UTC.

Bytes are decoded as UTF-8, else GB18030 (a superset of GBK: Chinese appliances log GBK), else
UTF-8 with replacement characters. Nothing here raises anything but a clear ``ValueError``
(empty message, bad PRI); everything else parses as well as it can.

``redact`` applies the shared ``password=``-style rules (wire/redact.py, the agent's too) and
then the looser ``密码: ...`` forms appliances write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from wire.redact import REDACTED
from wire.redact import redact as _redact_keys

__all__ = ["REDACTED", "SHANGHAI", "SyslogMessage", "decode", "parse_stamp", "parse_syslog", "redact"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_BYTES = 8192
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_PRI = re.compile(r"<(\d{1,3})>")
_BSD_STAMP = re.compile(
    r"(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})(?:\s+(?P<year>\d{4}))?\s+"
    r"(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})(?P<frac>\.\d{1,9})?(?P<zone>\s*(?:Z|[+-]\d{2}:?\d{2}))?"
    r"(?=\s|$)"
)
_ISO_STAMP = re.compile(
    r"(?P<year>\d{4})[-/](?P<mon>\d{1,2})[-/](?P<day>\d{1,2})[T ]+"
    r"(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})(?P<frac>[.,]\d{1,9})?(?P<zone>\s*(?:Z|[+-]\d{2}:?\d{2}))?"
    r"(?=\s|$|[^\d])"
)
_TAG = re.compile(r"(?P<tag>[^\s:\[\]]{1,64})(?:\[(?P<pid>[^\]\s]{0,32})\])?:(?:\s|$)")
# 密码 / 口令 / password / pwd followed by ":", "：", "=" or blanks (issue 6 review S5)
_LOOSE = re.compile(r"(?:(?<![A-Za-z0-9_])(?:password|pwd)|密码|口令)(?:\s*[:：=]\s*|\s+)", re.IGNORECASE)
_LOOSE_END = " \t\r\n,;，；"
# words that follow "password" in messages about passwords, not a password
# fmt: off
_NOT_VALUES = frozenset((
    "for", "of", "is", "was", "has", "had", "must", "not", "and", "or", "to", "too", "from", "by",
    "in", "on", "at", "with", "cannot", "can't", "does", "did", "will", "incorrect", "invalid",
    "wrong", "bad", "error", "failed", "failure", "fail", "mismatch", "expired", "expires", "change",
    "changed", "reset", "check", "authentication", "auth", "login", "policy", "required", "accepted",
    "rejected", "denied", "ok", "错误", "不正确", "无效", "过期", "已过期", "验证失败", "失败", "不匹配", "错", "修改", "重置",
    "正确", "已修改", "为空",
))
# fmt: on


@dataclass(frozen=True)
class SyslogMessage:
    """What one syslog message says. ``msg`` is the text after the tag; ``content`` is all the
    text after the header (tag included), for templates that were made from a whole line."""

    facility: int | None
    severity: int | None
    ts: datetime | None
    hostname: str
    app: str
    msg: str
    content: str
    rfc: str  # "5424", "3164" or "" (no header recognised)


# -- bytes and secrets ----------------------------------------------------------------------
def decode(data: bytes) -> str:
    """UTF-8, else GB18030 (GBK), else UTF-8 with replacement characters; NULs dropped."""
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("utf-8", "replace")
    return text.replace("\x00", "")


def redact(line: str) -> str:
    """``line`` with every ``password=``-style value replaced by ``<redacted>`` (a quoted value
    up to the last same quote of the line, a bare one up to the next blank, comma or semicolon;
    pppd's ``password=<hidden>`` stays) - the agent's rules (wire/redact.py) - and then
    every value after ``密码``, ``口令``, ``password`` or ``pwd`` followed by ``:``, ``：``, ``=``
    or blanks (a quoted value up to the same quote, a bare one up to the next blank, comma or
    semicolon, also full-width ``，；``), except a word that describes the password
    (``password incorrect``, ``密码 错误``), a ``key=`` that follows (``password: user=bob``) and
    what is already redacted."""
    return _redact_loose(_redact_keys(line))


def _redact_loose(line: str) -> str:
    out: list[str] = []
    position = 0
    for found in _LOOSE.finditer(line):
        start = found.end()
        if start < position or start >= len(line):
            continue
        if line[start] in "\"'“‘":
            close = {"“": "”", "‘": "’"}.get(line[start], line[start])
            last = line.find(close, start + 1)
            end = last + 1 if last > start else len(line)
            value = line[start + 1 : end - 1]
            replacement = f"{line[start]}{REDACTED}{close}"
        else:
            end = start
            while end < len(line) and line[end] not in _LOOSE_END:
                end += 1
            value = line[start:end]
            replacement = REDACTED
        bare = value.strip().rstrip(".!。").lower()
        if not bare or "=" in value or value.startswith(("<redacted>", "<hidden>")) or bare in _NOT_VALUES:
            continue
        out.append(line[position:start])
        out.append(replacement)
        position = end
    out.append(line[position:])
    return "".join(out)


# -- time stamps ----------------------------------------------------------------------------
def _zone(text: str | None, default: tzinfo) -> tzinfo:
    text = (text or "").strip()
    if not text:
        return default
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))
    if offset > timedelta(hours=18):
        raise ValueError("zone offset out of range")
    return timezone(sign * offset)


def _build(year: int, month: int, day: int, groups: dict[str, str | None], tz: tzinfo) -> datetime:
    frac = (groups.get("frac") or "")[1:]
    micro = int((frac + "000000")[:6]) if frac else 0
    local = datetime(
        year, month, day, int(groups["h"] or 0), int(groups["m"] or 0), int(groups["s"] or 0), micro
    )
    return local.replace(tzinfo=_zone(groups.get("zone"), tz)).astimezone(UTC)


def _bsd_year(month: int, day: int, groups: dict[str, str | None], tz: tzinfo, now: datetime) -> datetime:
    """The latest year that does not put the stamp after now (a day of clock skew allowed)."""
    for year in (now.year + 1, now.year, now.year - 1, now.year - 2, now.year - 4):
        try:
            stamp = _build(year, month, day, groups, tz)
        except ValueError:  # 29 February of a common year
            continue
        if stamp <= now + timedelta(days=1):
            return stamp
    raise ValueError("no year fits the stamp")


def parse_stamp(text: str, now: datetime, tz: tzinfo = SHANGHAI) -> tuple[datetime, int] | None:
    """A time stamp at the start of ``text``: (UTC time, characters used), or None."""
    match = _ISO_STAMP.match(text)
    try:
        if match:
            groups = match.groupdict()
            stamp = _build(
                int(groups["year"] or 0), int(groups["mon"] or 0), int(groups["day"] or 0), groups, tz
            )
            return stamp, match.end()
        match = _BSD_STAMP.match(text)
        if match:
            groups = match.groupdict()
            month = _MONTHS.get((groups["mon"] or "").lower())
            if month is None:
                return None
            day = int(groups["day"] or 0)
            if groups["year"]:
                return _build(int(groups["year"]), month, day, groups, tz), match.end()
            return _bsd_year(month, day, groups, tz, now), match.end()
    except (ValueError, OverflowError):
        return None
    return None


# -- the two formats ------------------------------------------------------------------------
def _word(text: str) -> tuple[str, str]:
    """The first space-separated word and the rest (one separating space removed)."""
    head, _, rest = text.partition(" ")
    return head, rest


def _skip_sd(text: str) -> str:
    """``text`` after the STRUCTURED-DATA field ('-' or [id k="v"]... with \\] \\" escapes)."""
    if text.startswith("-"):
        return text[2:] if text[1:2] == " " else text[1:]
    position = 0
    while position < len(text) and text[position] == "[":
        quoted = False
        position += 1
        while position < len(text):
            char = text[position]
            if char == "\\" and quoted:
                position += 2
                continue
            if char == '"':
                quoted = not quoted
            elif char == "]" and not quoted:
                position += 1
                break
            position += 1
    rest = text[position:]
    return rest[1:] if rest.startswith(" ") else rest


def _pri(pri: tuple[int, int] | None) -> tuple[int | None, int | None]:
    return pri if pri is not None else (None, None)


def _nil(value: str) -> str:
    return "" if value == "-" else value[:255]


def _rfc5424(pri: tuple[int, int] | None, text: str, now: datetime, tz: tzinfo) -> SyslogMessage:
    stamp_text, rest = _word(text)
    ts = None if stamp_text == "-" else (parse_stamp(stamp_text, now, tz) or (None, 0))[0]
    hostname, rest = _word(rest)
    app, rest = _word(rest)
    _procid, rest = _word(rest)
    _msgid, rest = _word(rest)
    msg = _skip_sd(rest).removeprefix("\ufeff")
    return SyslogMessage(
        *_pri(pri), ts=ts, hostname=_nil(hostname), app=_nil(app), msg=msg, content=msg, rfc="5424"
    )


def _looks_like_host(word: str) -> bool:
    return (
        bool(word) and not _TAG.fullmatch(word + " ") and re.fullmatch(r"[\w.\-:%]{1,255}", word) is not None
    )


def _rfc3164(pri: tuple[int, int] | None, text: str, now: datetime, tz: tzinfo) -> SyslogMessage:
    found = parse_stamp(text, now, tz)
    if found is None:  # no stamp: the whole text is the message
        rfc = "3164" if pri else ""
        return SyslogMessage(*_pri(pri), ts=None, hostname="", app="", msg=text, content=text, rfc=rfc)
    ts, used = found
    rest = text[used:].lstrip(" ")
    hostname = ""
    word, after = _word(rest)
    if _looks_like_host(word) and after:
        hostname, rest = word, after
    content = rest
    tag = _TAG.match(rest)
    app, msg = ("", rest) if tag is None else (tag["tag"], rest[tag.end() :])
    return SyslogMessage(
        *_pri(pri), ts=ts, hostname=hostname[:255], app=app, msg=msg, content=content, rfc="3164"
    )


def parse_syslog(data: bytes | str, now: datetime, tz: tzinfo = SHANGHAI) -> SyslogMessage:
    """Parse one syslog message (one datagram or one framed TCP message).

    >>> parse_syslog(b"<86>Nov 27 10:01:02 vpn sslvpn[1]: User alice logged in", now).msg
    'User alice logged in'

    Raises ValueError for an empty message or a PRI outside 0..191.
    """
    text = decode(data) if isinstance(data, bytes) else data.replace("\x00", "")
    text = text.removeprefix("\ufeff").rstrip("\r\n").strip()
    if not text:
        raise ValueError("empty syslog message")
    pri: tuple[int, int] | None = None
    match = _PRI.match(text)
    if match:
        value = int(match[1])
        if value > 191:
            raise ValueError(f"syslog PRI {value} is out of range (0..191)")
        pri = (value >> 3, value & 7)
        text = text[match.end() :]
    if re.match(r"1 (?:-|\d{4}-)", text):
        return _rfc5424(pri, text[2:], now, tz)
    return _rfc3164(pri, text.lstrip(" "), now, tz)
