"""strongSwan secret stores: ``ipsec.secrets`` and ``swanctl.conf`` ``secrets { }`` blocks (A9-T2.2).

Pure parsers; includes are returned for the caller to resolve (globs, relative paths), so the
reading stays in the probe. EAP/XAUTH secrets are cleartext (or 0x/0s encoded), NTLM secrets
are NT hashes (MD4 of UTF-16LE), IKE/PSK secrets are group keys shared by every client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.vpn.stores import Entry, Secret, decode_ipsec_value

__all__ = ["SecretsFile", "parse_ipsec_secrets", "parse_swanctl_conf", "parse_swanctl_tree"]

_USER_TYPES = {"EAP": "user", "XAUTH": "user", "NTLM": "user", "PSK": "psk"}


@dataclass
class SecretsFile:
    entries: list[Entry] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)


def _secret_entry(kind: str, ids: list[str], raw: str, number: int) -> Entry:
    value, ok = decode_ipsec_value(raw)
    account_type = _USER_TYPES.get(kind, "psk")
    if account_type == "psk":
        account = "psk:" + (" ".join(ids) if ids else "%any")
    else:
        account = ids[-1] if ids else "%any"
    if kind == "NTLM":
        encoded = ok and raw.startswith(("0x", "0X", "0s"))  # the NT hash is binary: 0x or 0s only
        hex_value = value.encode("utf-8", errors="surrogateescape").hex() if encoded else raw
        return Entry(account, "hash", Secret(hex_value), "nt", line=number, extra={"type": kind})
    return Entry(
        account[:128],
        "cleartext" if ok else "unknown",
        Secret(value),
        account_type=account_type,
        line=number,
        extra={"type": kind},
    )


def _ipsec_value(rest: str) -> str:
    rest = rest.strip()
    if rest.startswith('"'):
        end = rest.find('"', 1)
        return rest[1:end] if end > 0 else rest[1:]
    return rest.split()[0] if rest.split() else ""


def parse_ipsec_secrets(text: str) -> SecretsFile:
    """``/etc/ipsec.secrets``: ``[selectors] : TYPE secret``, ``include <glob>``, ``#`` comments.

    Sample (ipsec.secrets(5), strongSwan 5.9.8)::

        192.168.0.1 %any : PSK "v+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL"
        alice@strongswan.org : EAP "x3.dEhgN"
        carol : XAUTH "4iChxLT3"
        : RSA moonKey.pem
        include ipsec.*.secrets

    Continuation lines (starting with whitespace) belong to the previous entry.
    """
    result = SecretsFile()
    logical: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if "\x00" in raw:
            continue
        line = raw.split("#", 1)[0] if not raw.lstrip().startswith('"') else raw
        if not line.strip():
            continue
        if raw[:1].isspace() and logical and not line.strip().startswith("include "):
            logical[-1] = (logical[-1][0], logical[-1][1] + " " + line.strip())
        else:
            logical.append((number, line.strip()))
    for number, line in logical:
        if line.startswith("include ") or line.startswith("include\t"):
            result.includes.append(line.split(None, 1)[1].strip())
            continue
        match = re.match(r"^(.*?)(?:^|\s):\s*([A-Za-z0-9]+)\s+(.*)$", line)
        if not match:
            continue
        ids, kind, rest = match.group(1).split(), match.group(2).upper(), match.group(3)
        if kind not in {"EAP", "XAUTH", "NTLM", "PSK"}:
            continue  # RSA, ECDSA, P12, PIN...: key files, not passwords
        result.entries.append(_secret_entry(kind, ids, _ipsec_value(rest), number))
    return result


def _read_value(text: str, pos: int) -> tuple[str, int]:
    """The value after ``=``: a "quoted" string (escapes kept simple) or raw text up to the end of
    the line, a ``#`` comment or a ``}``."""
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    if pos < len(text) and text[pos] == '"':
        out: list[str] = []
        pos += 1
        while pos < len(text) and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < len(text):
                pos += 1
            out.append(text[pos])
            pos += 1
        return "".join(out), pos + 1
    end = pos
    while end < len(text) and text[end] not in "\n#}":
        end += 1
    return text[pos:end].strip(), end


def parse_swanctl_tree(text: str) -> tuple[list[tuple[str, object, int]], list[str]]:
    """The settings tree of a strongSwan config file: [(name, value-or-subtree, line)], includes.

    Grammar (strongswan.conf(5)): ``name { ... }``, ``key = value`` (value to end of line or
    "quoted"), ``include glob``, ``#`` comments. Malformed input yields what could be read."""
    includes: list[str] = []
    root: list[tuple[str, object, int]] = []
    stack = [root]
    words: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "#":
            while pos < len(text) and text[pos] != "\n":
                pos += 1
            continue
        if char == "\n":
            if len(words) >= 2 and words[0] == "include":
                includes.append(words[1])
            words = []
            pos += 1
        elif char == "=":
            value, pos = _read_value(text, pos + 1)
            if words:
                stack[-1].append((words[-1], value, text.count("\n", 0, pos) + 1))
            words = []
        elif char == "{":
            child: list[tuple[str, object, int]] = []
            stack[-1].append((words[-1] if words else "", child, text.count("\n", 0, pos) + 1))
            stack.append(child)
            words = []
            pos += 1
        elif char == "}":
            if len(stack) > 1:
                stack.pop()
            words = []
            pos += 1
        elif char.isspace() or char == '"':
            pos += 1
        else:
            end = pos
            while end < len(text) and not text[end].isspace() and text[end] not in '{}=#"':
                end += 1
            words.append(text[pos:end])
            pos = end
    if len(words) >= 2 and words[0] == "include":
        includes.append(words[1])
    return root, includes


def parse_swanctl_conf(text: str) -> SecretsFile:
    """The ``secrets { }`` blocks of ``swanctl.conf`` (and ``conf.d/*.conf``).

    Sample (lab responder config, strongSwan 5.9.8)::

        secrets {
           eap-alice { id = alice
                       secret = "Alice@2024" }
           xauth-zhangwei { id = zhangwei
                            secret = zhangwei123 }
           ntlm-bob { id = bob
                      secret = 0x32ed87bdb5fdc5e9cba88547376818d4 }
           ike-group { secret = "GroupPSK2024" }   # no id: matches any peer
        }
    """
    tree, includes = parse_swanctl_tree(text)
    result = SecretsFile(includes=includes)
    for name, value, _line in tree:
        if name != "secrets" or not isinstance(value, list):
            continue
        for section, body, number in value:
            if not isinstance(body, list):
                continue
            prefix = re.match(r"(eap|xauth|ntlm|ike|ppk)", section)
            if not prefix:
                continue  # private/rsa/ecdsa/pkcs8/pkcs12/token: key files
            pairs = [(k, v) for k, v, _ in body if isinstance(v, str)]
            ids = [v for k, v in pairs if k.startswith("id") and v]
            secret = next((v for k, v in pairs if k == "secret"), None)
            if secret is None:
                continue
            kind = {"eap": "EAP", "xauth": "XAUTH", "ntlm": "NTLM", "ike": "PSK", "ppk": "PSK"}[
                prefix.group(1)
            ]
            if kind == "PSK":
                result.entries.append(_secret_entry(kind, ids, secret, number))
            else:
                for one in ids or ["%any"]:
                    result.entries.append(_secret_entry(kind, [one], secret, number))
    return result
