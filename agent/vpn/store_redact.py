"""Field-level redaction of account stores for capture bundles (A9-T2.2: no secret leaves the host).

``watchpost-agent capture`` keeps the files a scan read. For account stores it keeps their
*structure* (accounts, groups, lock marks, hash scheme prefixes, comments) and replaces each
secret with ``<redacted>``, so a bundle still replays the inventory but holds no password,
hash or key. Files with nothing but secrets (private keys) are dropped whole. The VPN audit
tells the recorder which files it read as stores (their formats); well-known paths are
recognised by name as well (:func:`redaction_for`).
"""

from __future__ import annotations

import re

from agent.vpn.stores import split_words
from agent.vpn.xcrypt import looks_like_crypt, strip_lock

__all__ = ["MARK", "is_redacted", "redact", "redaction_for"]

MARK = "<redacted>"
_BY_PATH = (
    (re.compile(r"^/etc/(g?shadow)-?$"), "shadow"),
    (re.compile(r"^/etc/security/opasswd$"), "whole"),
    (re.compile(r"ipsec\.[^/]*secrets$"), "ipsec_secrets"),
    (re.compile(r"(chap|pap)-secrets$"), "chap_secrets"),
    (re.compile(r"ocpasswd$|^/etc/ocserv/passwd$"), "ocpasswd"),
    (re.compile(r"/swanctl/.*\.conf$"), "swanctl_conf"),
    (re.compile(r"psw-file|passwd\.(txt|db)$"), "openvpn_password_file"),
    (re.compile(r"/wireguard/[^/]*\.conf$"), "wireguard_conf"),
    (re.compile(r"^/etc/openvpn/.*\.(conf|ovpn)$"), "openvpn_conf"),
    (re.compile(r"\.key$|\.pem$|/node\.key$|\.p12$"), "whole"),
)


def redaction_for(path: str) -> str | None:
    """How a file at ``path`` is redacted: a store format, 'whole' (dropped), or None (kept)."""
    for pattern, how in _BY_PATH:
        if pattern.search(path):
            return how
    return None


def is_redacted(value: str) -> bool:
    return value.endswith(MARK)


def _crypt_field(value: str) -> str:
    """A stored hash field: lock marks and scheme prefix kept (``!$5$<redacted>``), '' kept."""
    if not value:
        return value
    bare, _locked = strip_lock(value)
    prefix = value[: len(value) - len(bare)]
    if looks_like_crypt(bare):
        return prefix + "$" + bare.split("$")[1] + "$" + MARK
    return prefix + (MARK if bare else "")


def _shadow(line: str) -> str:
    cols = line.split(":")
    if len(cols) >= 2 and not line.lstrip().startswith("#"):
        cols[1] = _crypt_field(cols[1])
    return ":".join(cols)


def _ocpasswd(line: str) -> str:
    cols = line.split(":", 2)
    if len(cols) == 3 and not line.lstrip().startswith("#"):
        cols[2] = _crypt_field(cols[2])
    return ":".join(cols)


def _password_file(line: str) -> str:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return line
    head = stripped.split(None, 1)[0]
    if ":" in head:
        user, _, rest = stripped.partition(":")
        return f"{user}:{_crypt_field(rest.split(':', 1)[0]) if looks_like_crypt(rest.split(':', 1)[0]) else MARK}"
    parts = stripped.split()
    return " ".join([parts[0], MARK, *parts[2:]]) if len(parts) >= 2 else line


def _ppp(line: str) -> str:
    words = split_words(line)
    if len(words) < 3:
        return line if not line.strip() or line.lstrip().startswith("#") else "# <redacted line>"
    quoted = [w if w and not any(c.isspace() or c in "\"'#\\" for c in w) else f'"{w}"' for w in words]
    if words[2] not in {"", "*"} and not words[2].startswith("@"):  # placeholders and file names stay
        quoted[2] = f'"{MARK}"'
    elif words[2] == "":
        quoted[2] = '""'
    return "\t".join(quoted)


def _ipsec(line: str) -> str:
    match = re.match(r"^(.*?(?:^|\s):\s*([A-Za-z0-9]+)\s+)(.*)$", line)
    if not match or match.group(2).upper() not in {"PSK", "EAP", "XAUTH", "NTLM", "PIN"}:
        return line if not line[:1].isspace() or not line.strip() else "  # <redacted continuation>"
    return match.group(1) + f'"{MARK}"'


def _key_value(keys: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"^(\s*(?:" + "|".join(keys) + r")\s*=\s*).*$", re.IGNORECASE)


_SWANCTL = re.compile(r"""(\bsecret\s*=[ \t]*)("(?:[^"\\\n]|\\.)*"?|[^#}\n]*)""", re.IGNORECASE)
_WIREGUARD = _key_value(("PrivateKey", "PresharedKey"))
_INLINE = re.compile(
    r"<(key|secret|tls-auth|tls-crypt|tls-crypt-v2|pkcs12|auth-user-pass|http-proxy-user-pass)>"
    r".*?</\1>",
    re.DOTALL,
)


def redact(how: str, data: bytes) -> bytes | None:
    """The redacted file, or None when it must be dropped whole."""
    if how == "whole":
        return None
    if how == "easyrsa_index":
        return data  # certificate subjects and dates: no secret
    text = data.decode("utf-8", errors="replace")
    if how == "openvpn_conf":
        return _INLINE.sub(lambda m: f"<{m.group(1)}>\n{MARK}\n</{m.group(1)}>", text).encode()
    if how == "swanctl_conf":
        return _SWANCTL.sub(lambda m: m.group(1) + f'"{MARK}" ', text).encode()
    if how == "wireguard_conf":
        lines = [_WIREGUARD.sub(lambda m: m.group(1) + MARK, line) for line in text.splitlines()]
        return ("\n".join(lines) + "\n").encode()
    per_line = {
        "shadow": _shadow,
        "ocpasswd": _ocpasswd,
        "openvpn_password_file": _password_file,
        "chap_secrets": _ppp,
        "pap_secrets": _ppp,
        "ipsec_secrets": _ipsec,
    }.get(how)
    if per_line is None:
        return None
    return ("\n".join(per_line(line) for line in text.splitlines()) + "\n").encode()
