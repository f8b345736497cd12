"""WireGuard peers: wg-quick configs and ``wg show`` output (A9-T2.1, A9-T2.3: stale peers).

WireGuard has no passwords and no user names: a peer is a public key, named by a comment
(``# Name = alice`` or a ``# alice`` line right above/inside ``[Peer]``, as wg-easy/PiVPN write).
Private and preshared keys are never kept: the parsers drop them on reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from agent.vpn.stores import Entry

__all__ = ["Peer", "parse_wg_conf", "parse_wg_dump", "parse_wg_latest_handshakes", "peer_entries"]

_KEY = re.compile(r"[A-Za-z0-9+/]{42,43}=")


@dataclass(frozen=True)
class Peer:
    interface: str
    public_key: str
    name: str = ""
    latest_handshake: datetime | None = None
    endpoint: str = ""


def _comment_name(comment: str) -> str:
    match = re.match(r"#+\s*(?:(?:friendly_?)?name\s*[=:]\s*)?(.+)$", comment.strip(), re.IGNORECASE)
    name = match.group(1).strip() if match else ""
    if not name or "=" in name or name.lower().startswith(("peer", "client config")):
        return ""
    return name[:128]


def parse_wg_conf(text: str, interface: str) -> list[Peer]:
    """``[Peer]`` sections of ``/etc/wireguard/<if>.conf``.

    Sample::

        [Interface]
        PrivateKey = <never kept>
        [Peer]
        # Name = alice
        PublicKey = eHuVJQ5Yw75x8aDsfBQS4w0X2ervpM3jXnfT32DNCgI=
        AllowedIPs = 10.30.0.2/32
    """
    peers: list[Peer] = []
    in_peer = False
    name = ""
    last_comment = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            last_comment = _comment_name(line) or last_comment
            if in_peer and not name:
                name = last_comment
            continue
        if line.startswith("["):
            in_peer = line.lower() == "[peer]"
            name = last_comment if in_peer else ""
            last_comment = ""
            continue
        key, _, value = line.partition("=")
        if in_peer and key.strip().lower() == "publickey":
            public = value.strip()
            if _KEY.fullmatch(public):
                peers.append(Peer(interface, public, name))
            name = ""
        if line:
            last_comment = ""
    return peers


def _epoch(text: str) -> datetime | None:
    try:
        value = int(text)
    except ValueError:
        return None
    if value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_wg_dump(text: str, interface: str = "") -> list[Peer]:
    """``wg show <if> dump`` (or ``wg show all dump``, whose lines start with the interface).

    Interface lines (private key, public key, port, fwmark) are dropped; peer lines are
    ``public-key preshared-key endpoint allowed-ips latest-handshake rx tx keepalive``; the
    preshared key is dropped. ``latest-handshake`` 0 = never since the interface came up."""
    peers: list[Peer] = []
    for raw in text.splitlines():
        cols = raw.split("\t")
        if len(cols) == 9:
            iface, cols = cols[0], cols[1:]
        elif len(cols) == 8:
            iface = interface
        else:
            continue  # interface line (4 or 5 columns) or garbage
        if not _KEY.fullmatch(cols[0]):
            continue
        endpoint = cols[2] if cols[2] != "(none)" else ""
        peers.append(Peer(iface, cols[0], "", _epoch(cols[4]), endpoint[:64]))
    return peers


def parse_wg_latest_handshakes(text: str) -> dict[tuple[str, str], datetime | None]:
    """``wg show all latest-handshakes``: ``if<TAB>public-key<TAB>epoch`` (no secret in it)."""
    seen: dict[tuple[str, str], datetime | None] = {}
    for raw in text.splitlines():
        cols = raw.split("\t")
        if len(cols) == 3 and _KEY.fullmatch(cols[1]):
            seen[(cols[0], cols[1])] = _epoch(cols[2])
    return seen


def peer_entries(peers: list[Peer], handshakes: dict[tuple[str, str], datetime | None]) -> list[Entry]:
    """Peers as store entries: account = the name, else ``peer:<first 8 chars of the key>``."""
    entries = []
    for peer in peers:
        seen = handshakes.get((peer.interface, peer.public_key), peer.latest_handshake)
        entries.append(
            Entry(
                peer.name or f"peer:{peer.public_key[:8]}",
                "key",
                account_type="peer",
                full_name=peer.name,
                extra={
                    "interface": peer.interface,
                    "public_key": peer.public_key,
                    "handshake": seen.isoformat() if seen else "",
                },
            )
        )
    return entries
