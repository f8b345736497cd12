"""libxcrypt through ctypes: verify crypt(3) hashes on the host (A9-T2.2).

The stdlib ``crypt`` module is deprecated in 3.11/3.12 and gone in 3.13 (PEP 594), so the
agent calls libxcrypt's reentrant ``crypt_rn(phrase, setting, data, size)`` itself. It returns
NULL on failure (no ``*0`` magic strings), needs a 32 768-byte ``struct crypt_data`` per
thread, and ctypes releases the GIL around the call, so threads verify on all cores.
``crypt_checksalt`` tells a legacy scheme (md5-crypt, DES) from a current one.

Nothing here logs or keeps a phrase or a hash: values pass through and are dropped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hmac
import re
import threading

__all__ = [
    "CRYPT_DATA_SIZE",
    "LEGACY",
    "XCrypt",
    "XCryptUnavailable",
    "hash_scheme",
    "looks_like_crypt",
    "strip_lock",
]

#: sizeof(struct crypt_data) in libxcrypt 4.x (checked against crypt.h when the notes were made).
CRYPT_DATA_SIZE = 32768
#: crypt_checksalt results (crypt.h): OK, INVALID, METHOD_DISABLED, METHOD_LEGACY, TOO_CHEAP.
CHECKSALT = {0: "ok", 1: "invalid", 2: "disabled", 3: "legacy", 4: "too_cheap"}
LEGACY = frozenset({"legacy", "too_cheap"})

_PREFIXES = (
    ("$y$", "yescrypt"),
    ("$gy$", "gost-yescrypt"),
    ("$7$", "scrypt"),
    ("$6$", "sha512-crypt"),
    ("$5$", "sha256-crypt"),
    ("$2b$", "bcrypt"),
    ("$2a$", "bcrypt"),
    ("$2y$", "bcrypt"),
    ("$2x$", "bcrypt"),
    ("$1$", "md5-crypt"),
    ("$apr1$", "apr1-md5"),
    ("$sha1$", "sha1-crypt"),
    ("$md5", "sun-md5"),
    ("$3$", "nt"),
)
_DES = re.compile(r"[./0-9A-Za-z]{13}")
_BSDI = re.compile(r"_[./0-9A-Za-z]{19}")
_CRYPT = re.compile(r"\$[0-9a-z]{1,6}\$[^\s:]*")


def strip_lock(value: str) -> tuple[str, bool]:
    """A stored hash without its lock marks (``!`` of ``passwd -l``/``ocpasswd -l``, ``*``)."""
    locked = value.startswith(("!", "*"))
    return value.lstrip("!*"), locked


def looks_like_crypt(value: str) -> bool:
    """A modular crypt string (``$id$...``), as opposed to a cleartext word."""
    return bool(_CRYPT.fullmatch(value))


def hash_scheme(value: str) -> str:
    """The scheme of a crypt(3) string: 'sha512-crypt', 'yescrypt', 'bcrypt', ... or '' if none."""
    for prefix, name in _PREFIXES:
        if value.startswith(prefix):
            return name
    if _DES.fullmatch(value):
        return "des-crypt"
    if _BSDI.fullmatch(value):
        return "bsdi-crypt"
    return ""


class XCryptUnavailable(Exception):
    """libxcrypt (libcrypt.so.1 with crypt_rn) is not on this host."""


class XCrypt:
    """One loaded libxcrypt; ``verify`` may be called from many threads at once."""

    def __init__(self, library: str | None = None) -> None:
        name = library or ctypes.util.find_library("crypt") or "libcrypt.so.1"
        try:
            lib = ctypes.CDLL(name)
            crypt_rn = lib.crypt_rn
        except (OSError, AttributeError) as exc:
            raise XCryptUnavailable(f"{name}: {exc}") from None
        crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
        crypt_rn.restype = ctypes.c_char_p
        self._crypt_rn = crypt_rn
        self._checksalt = getattr(lib, "crypt_checksalt", None)
        if self._checksalt is not None:
            self._checksalt.argtypes = [ctypes.c_char_p]
            self._checksalt.restype = ctypes.c_int
        self._preferred = getattr(lib, "crypt_preferred_method", None)
        if self._preferred is not None:
            self._preferred.argtypes = []
            self._preferred.restype = ctypes.c_char_p
        self.name = name
        self._local = threading.local()

    def _data(self) -> ctypes.Array[ctypes.c_char]:
        buffer: ctypes.Array[ctypes.c_char] | None = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = ctypes.create_string_buffer(CRYPT_DATA_SIZE)  # zeroed, as crypt_rn wants
            self._local.buffer = buffer
        return buffer

    def crypt(self, phrase: str, setting: str) -> str | None:
        """crypt_rn(phrase, setting); None when the setting is invalid or the phrase unusable."""
        raw = phrase.encode("utf-8", errors="surrogateescape")
        if b"\x00" in raw or not setting or "\x00" in setting:
            return None
        try:
            out = self._crypt_rn(raw, setting.encode("ascii"), self._data(), CRYPT_DATA_SIZE)
        except UnicodeEncodeError:
            return None
        if not isinstance(out, bytes) or not out or out.startswith(b"*"):
            return None
        return out.decode("ascii", errors="replace")

    def verify(self, phrase: str, stored: str) -> bool:
        """Whether ``phrase`` hashes to ``stored`` (constant-time compare of the results)."""
        computed = self.crypt(phrase, stored)
        return computed is not None and hmac.compare_digest(computed, stored)

    def checksalt(self, setting: str) -> str:
        """'ok', 'legacy', 'too_cheap', 'invalid', 'disabled' (or 'unknown' on old libxcrypt)."""
        if self._checksalt is None or "\x00" in setting:
            return "unknown"
        try:
            code = int(self._checksalt(setting.encode("ascii")))
        except UnicodeEncodeError:
            return "invalid"
        return CHECKSALT.get(code, "unknown")

    def preferred_method(self) -> str:
        """The prefix new hashes get on this host ('$y$' on Debian 12), '' if unknown."""
        if self._preferred is None:
            return ""
        value = self._preferred()
        return value.decode("ascii", errors="replace") if value else ""

    def supports(self, stored: str) -> bool:
        """Whether this library can compute hashes of ``stored``'s scheme."""
        return self.crypt("x", stored) is not None
