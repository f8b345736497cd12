"""Account stores of VPN daemons: pure parsers, text in, records out (A9-T2.1, A9-T2.2).

Each parser takes a file's text and returns :class:`Entry` records. A secret is wrapped in
:class:`Secret`, whose ``repr``/``str`` never show the value, so a record may be logged or
printed by a failing test without leaking. Garbage lines are skipped, never fatal (property
tests feed random text). strongSwan and WireGuard live in stores_strongswan.py and
stores_wireguard.py; this module has the line formats and the shared types.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent.vpn.xcrypt import hash_scheme, looks_like_crypt, strip_lock

__all__ = [
    "Entry",
    "Secret",
    "classify_secret",
    "decode_ipsec_value",
    "parse_easyrsa_index",
    "parse_ocpasswd",
    "parse_openvpn_password_file",
    "parse_passwd_names",
    "parse_ppp_secrets",
    "parse_shadow",
    "split_words",
]


class Secret:
    """A password or hash held in memory only: printing it shows ``<secret>``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Entry:
    """One account of a store. ``form`` is how the secret is kept (wire SecretForm)."""

    account: str
    form: str  # cleartext | hash | none | certificate | key | external | unknown
    secret: Secret = field(default_factory=lambda: Secret(""), repr=False, compare=False)
    scheme: str = ""  # hash scheme (sha512-crypt, ...) or "sha256-hex", "sha1-b64", "nt"
    account_type: str = "user"  # user | psk | certificate | peer | system
    status: str = "active"  # active | locked | revoked | expired | disabled | unknown
    full_name: str = ""
    line: int = 0
    expires: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def classify_secret(value: str) -> tuple[str, str]:
    """(form, scheme) of a stored secret that may be cleartext or a hash.

    ``$6$...`` and the other modular crypt strings are hashes; ``{SHA}base64`` (htpasswd),
    64/40 hex digits (sha256/sha1 hex, common in home-made verify scripts) are unsalted hashes;
    everything else is cleartext.
    """
    bare, _locked = strip_lock(value)
    if looks_like_crypt(bare):
        return "hash", hash_scheme(bare) or "unknown-crypt"
    if value.startswith("{SHA}"):
        return "hash", "sha1-b64"
    if _HEX64.fullmatch(value):
        return "hash", "sha256-hex"
    if _HEX40.fullmatch(value):
        return "hash", "sha1-hex"
    return "cleartext", ""


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#") and "\x00" not in line:
            yield number, line


def parse_openvpn_password_file(text: str) -> list[Entry]:
    """The file behind an OpenVPN ``auth-user-pass-verify`` script.

    Three shapes are common::

        alice   Alice@2024          # checkpsw.sh: user<whitespace>password
        bob     123456   1          # variant with an 'enabled' column (1 on, 0 off)
        carol:$6$salt$hash          # user:hash (htpasswd-like; also {SHA}..., hex digests)
        dave:Secret                 # user:password
    """
    entries: list[Entry] = []
    for number, line in _lines(text):
        head = line.split(None, 1)[0]
        if ":" in head:
            user, _, rest = line.partition(":")
            value = rest.split(":", 1)[0] if looks_like_crypt(rest.split(":", 1)[0]) else rest
            status = "active"
        else:
            parts = line.split()
            if len(parts) < 2:
                continue
            user, value = parts[0], parts[1]
            status = "disabled" if len(parts) > 2 and parts[2] == "0" else "active"
        user = user.strip()
        if not user or any(c.isspace() for c in user):
            continue
        form, scheme = classify_secret(value)
        if form == "hash" and value.startswith(("!", "*")):
            status = "locked"
        entries.append(
            Entry(user, form if value else "none", Secret(value), scheme, status=status, line=number)
        )
    return entries


def parse_ocpasswd(text: str) -> list[Entry]:
    """ocserv's password file (``ocpasswd``): ``user:groups:hash``; ``!`` before the hash = locked.

    Sample (real ocpasswd 1.1.6 output)::

        alice:*:$5$EkvmbEwGRY7nZphn$DhgjVHi2y.qm6IDs3F9SfbMdIpPJgfQx2wcPsrXcVrB
        olduser:*:!$5$6na6WleL/1G9pgHh$VQj9p1hHh6XSY9WjThw9TgxDXkJyViEL8Z37pq6QiWD
    """
    entries: list[Entry] = []
    for number, line in _lines(text):
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[0]:
            continue
        user, groups, value = parts
        bare, locked = strip_lock(value)
        status = "locked" if locked else "active"
        if not bare:
            entries.append(Entry(user, "none", status=status, line=number, extra={"groups": groups}))
            continue
        form, scheme = classify_secret(bare)
        entries.append(
            Entry(user, form, Secret(bare), scheme, status=status, line=number, extra={"groups": groups})
        )
    return entries


def split_words(line: str) -> list[str]:
    """Words of a pppd options/secrets line: quotes ("..." '...'), backslash escapes, ``#`` comments."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    in_word = False
    chars = iter(line)
    for char in chars:
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\":
                current.append(next(chars, ""))
            else:
                current.append(char)
        elif char in "\"'":
            quote, in_word = char, True
        elif char == "\\":
            current.append(next(chars, ""))
            in_word = True
        elif char == "#":
            break
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
    if in_word:
        words.append("".join(current))
    return words


def parse_ppp_secrets(text: str, *, pap: bool = False) -> list[Entry]:
    """pppd ``chap-secrets`` / ``pap-secrets``: ``client server secret [addresses...]``.

    Sample::

        # client    server  secret          IP addresses
        jacco       *       "mysecret"      192.168.1.128/25
        alice       pptpd   Alice@2024      *

    ``*`` matches any client or server; a secret ``@/path`` is read from that file (kept as
    ``external``); PAP secrets may be crypt() hashes. Debian's default pap-secrets lists
    ``guest hostname "*" -``: the address ``-`` means the client may not connect at all
    (``disabled``) and ``"*"`` is a placeholder, not a password; an empty PAP secret with the
    ``login`` option means "check the system password" (``external``).
    """
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        words = split_words(raw)
        if len(words) < 3 or not words[0]:
            continue
        client, server, value = words[0], words[1], words[2]
        extra = {"server": server, "addresses": " ".join(words[3:8])}
        status = "disabled" if words[3:4] == ["-"] else "active"
        if value.startswith("@") or (pap and value == ""):
            entries.append(
                Entry(client, "external", status=status, line=number, extra={**extra, "file": value[1:]})
            )
            continue
        if value == "*":
            entries.append(Entry(client, "none", status=status, line=number, extra=extra))
            continue
        form, scheme = classify_secret(value) if looks_like_crypt(value) else ("cleartext", "")
        entries.append(
            Entry(
                client,
                form if value else "none",
                Secret(value),
                scheme,
                account_type="psk" if client == "*" else "user",
                status=status,
                line=number,
                extra=extra,
            )
        )
    return entries


def _easyrsa_time(text: str) -> datetime | None:
    for pattern in ("%y%m%d%H%M%SZ", "%Y%m%d%H%M%SZ"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def parse_easyrsa_index(text: str, now: datetime | None = None) -> list[Entry]:
    """easy-rsa / OpenSSL CA ``index.txt``: status, expiry, revocation, serial, file, subject (tabs).

    Sample::

        V\t360213120000Z\t\t6F1C...\tunknown\t/CN=alice
        R\t280101000000Z\t260101000000Z\t2A90...\tunknown\t/CN=bob
    """
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        cols = raw.split("\t")
        if len(cols) < 6 or cols[0] not in {"V", "R", "E"}:
            continue
        match = re.search(r"/CN=([^/]+)", cols[5])
        if not match:
            continue
        expires = _easyrsa_time(cols[1])
        status = {"V": "active", "R": "revoked", "E": "expired"}[cols[0]]
        if status == "active" and expires is not None and now is not None and expires < now:
            status = "expired"
        entries.append(
            Entry(
                match.group(1).strip(),
                "certificate",
                account_type="certificate",
                status=status,
                line=number,
                expires=expires,
                extra={"serial": cols[3][:64]},
            )
        )
    return entries


def parse_shadow(text: str) -> list[Entry]:
    """``/etc/shadow``: ``name:hash:lastchg:...``. ``!``/``*`` alone = no password logon; ``!hash`` =
    locked; empty = **no password at all**. Sample: ``alice:$y$j9T$salt$hash:20000:0:99999:7:::``."""
    entries: list[Entry] = []
    for number, line in _lines(text):
        parts = line.split(":")
        if len(parts) < 2 or not parts[0]:
            continue
        user, value = parts[0], parts[1]
        bare, locked = strip_lock(value)
        if not value:
            entries.append(Entry(user, "cleartext", Secret(""), account_type="system", line=number))
        elif not bare or (not looks_like_crypt(bare) and not hash_scheme(bare)):
            entries.append(Entry(user, "none", account_type="system", status="locked", line=number))
        else:
            entries.append(
                Entry(
                    user,
                    "hash",
                    Secret(bare),
                    hash_scheme(bare) or "unknown-crypt",
                    account_type="system",
                    status="locked" if locked else "active",
                    line=number,
                )
            )
    return entries


def parse_passwd_names(text: str) -> dict[str, tuple[int, int, str]]:
    """/etc/passwd: name -> (uid, gid, full name from GECOS). Sample: ``zw:x:1001:1001:张伟,,,:/home/zw:/bin/bash``."""
    names: dict[str, tuple[int, int, str]] = {}
    for line in text.splitlines():
        cols = line.split(":")
        if len(cols) == 7 and cols[0] and cols[2].isdigit() and cols[3].isdigit():
            names[cols[0]] = (int(cols[2]), int(cols[3]), cols[4].split(",")[0].strip())
    return names


def decode_ipsec_value(value: str) -> tuple[str, bool]:
    """A strongSwan secret as written: "quoted", 0x<hex>, 0s<base64> or a bare word.

    Returns (text, ok); binary values decode with surrogate escapes so they still compare."""
    try:
        if value.startswith(("0x", "0X")):
            raw = bytes.fromhex(value[2:])
        elif value.startswith("0s"):
            raw = base64.b64decode(value[2:], validate=True)
        else:
            return value, True
    except (ValueError, binascii.Error):
        return value, False
    return raw.decode("utf-8", errors="surrogateescape"), True
