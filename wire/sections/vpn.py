"""Section ``vpn``: VPN servers on this host, their accounts, weak-password verdicts (A9-T2.1, A9-T2.2, A9-T2.3).

The agent reads the account stores of the VPN daemons it finds (OpenVPN, strongSwan, ocserv,
pppd, WireGuard, local accounts used through PAM) and judges every password **on the host**.
Only verdicts cross the wire: account, server, store path and a reason category. No password,
no hash, no key is ever part of this section (a test checks every payload for them).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire._base import LongText, Name, ShortText, UtcDatetime, WireModel

__all__ = [
    "PASSWORD_CATEGORIES",
    "STORAGE_CATEGORIES",
    "HashAudit",
    "VerdictCategory",
    "VpnAccount",
    "VpnCounts",
    "VpnFacts",
    "VpnServer",
    "VpnStore",
    "VpnVerdict",
]

VpnKind = Literal["openvpn", "strongswan", "ocserv", "ppp", "wireguard", "pam"]
StoreFormat = Literal[
    "openvpn_password_file",
    "easyrsa_index",
    "ipsec_secrets",
    "swanctl_conf",
    "ocpasswd",
    "chap_secrets",
    "pap_secrets",
    "wireguard_conf",
    "wireguard_runtime",
    "shadow",
]
SecretForm = Literal["cleartext", "hash", "none", "certificate", "key", "external", "unknown"]
AccountType = Literal["user", "psk", "certificate", "peer", "system"]
AccountStatus = Literal["active", "locked", "revoked", "expired", "disabled", "unknown"]
CheckStatus = Literal["checked", "partial", "not_checked", "not_applicable"]
VerdictCategory = Literal[
    # the password itself is weak (cleartext compared, or a hash matched a candidate)
    "empty_password",
    "too_short",
    "few_char_classes",
    "low_zxcvbn",
    "common_list",
    "user_name",
    "name_pinyin",
    "pattern_digits",
    "pattern_keyboard",
    "pattern_date",
    "pattern_love_number",
    "pattern_role_word",
    "pattern_unit_year",
    "hash_cracked",
    # how the secret is kept
    "cleartext_store",
    "store_readable_by_others",
    "legacy_hash_scheme",
    "shared_secret",
]
#: Categories that make an account's password weak.
PASSWORD_CATEGORIES: frozenset[str] = frozenset(
    {
        "empty_password",
        "too_short",
        "few_char_classes",
        "low_zxcvbn",
        "common_list",
        "user_name",
        "name_pinyin",
        "pattern_digits",
        "pattern_keyboard",
        "pattern_date",
        "pattern_love_number",
        "pattern_role_word",
        "pattern_unit_year",
        "hash_cracked",
    }
)
#: Categories about storage (findings of their own, not a weak password).
STORAGE_CATEGORIES: frozenset[str] = frozenset(
    {"cleartext_store", "store_readable_by_others", "legacy_hash_scheme", "shared_secret"}
)


class VpnServer(WireModel):
    """One VPN service found on the host (a daemon, or one OpenVPN instance)."""

    kind: VpnKind = Field(
        description="Which VPN software: openvpn, strongswan, ocserv, ppp (pptpd/xl2tpd), "
        "wireguard; pam = local accounts reached through PAM."
    )
    name: ShortText = Field(
        description="The instance, e.g. 'openvpn-server@server' (from /etc/openvpn/server/server.conf), "
        "'strongswan', 'ocserv', 'pptpd', 'xl2tpd', 'wg0'."
    )
    installed: bool = Field(description="The daemon's program is present on the host.")
    configured: bool = Field(description="A server configuration was found (not only the package defaults).")
    running: bool | None = Field(
        default=None, description="A process of the daemon runs now (None: could not be told)."
    )
    enabled: bool | None = Field(
        default=None, description="A systemd unit of it is enabled at boot (None: no systemd answer)."
    )
    units: list[ShortText] = Field(default_factory=list, max_length=16, description="systemd units of it.")
    config_files: list[ShortText] = Field(
        default_factory=list, max_length=64, description="Configuration files read."
    )
    auth_methods: list[ShortText] = Field(
        default_factory=list,
        max_length=16,
        description="How clients authenticate: password_file (auth-user-pass-verify script), pam, "
        "certificate, eap, xauth, psk, plain (ocpasswd), chap, pap, radius, ldap, key (WireGuard).",
    )
    stores: list[ShortText] = Field(
        default_factory=list, max_length=64, description="Paths of the account stores it uses."
    )
    status_files: list[ShortText] = Field(
        default_factory=list,
        max_length=16,
        description="Live-session status files it writes (OpenVPN status).",
    )
    log_files: list[ShortText] = Field(
        default_factory=list, max_length=16, description="Log files named in its configuration or scripts."
    )


class VpnStore(WireModel):
    """One account store (a file) and how it keeps secrets."""

    path: ShortText = Field(description="Absolute path of the file.")
    format: StoreFormat = Field(description="Which parser read it.")
    servers: list[ShortText] = Field(
        default_factory=list, max_length=16, description="Names of the servers (VpnServer.name) using it."
    )
    read: bool = Field(description="The file could be read and parsed.")
    accounts: int = Field(default=0, ge=0, description="Entries found in it.")
    cleartext_secrets: int = Field(
        default=0, ge=0, description="Entries whose password or key is stored in clear (or 0x/0s encoded)."
    )
    mode: ShortText = Field(default="", description="File permission bits, octal (e.g. '0600').")
    readable_by_others: bool | None = Field(
        default=None, description="Any user on the host may read it (the 'other' read bit)."
    )
    problem: ShortText = Field(default="", description="Why it could not be read or parsed, if so.")


class VpnAccount(WireModel):
    """One account (or peer, certificate, pre-shared key) of a VPN store, with its verdict."""

    server: ShortText = Field(description="VpnServer.name of the server it belongs to.")
    store: ShortText = Field(description="Path of the store it was read from.")
    account: Name = Field(
        description="The user name; for a certificate its CN; for a WireGuard peer its name from the "
        "config comment, else 'peer:<first 8 chars of the public key>'; for a PSK 'psk:<ids>'."
    )
    account_type: AccountType = Field(
        description="user, psk (group pre-shared key), certificate, peer, system."
    )
    full_name: ShortText = Field(
        default="", description="Owner's name where the store gives one (GECOS, comments)."
    )
    status: AccountStatus = Field(
        default="unknown",
        description="active; locked ('!' in ocpasswd or shadow); revoked/expired (certificates); disabled "
        "(a 0 'enabled' column in checkpsw-style files); unknown.",
    )
    secret_form: SecretForm = Field(
        description="How the secret is stored: cleartext, hash, none, certificate, "
        "key, external (RADIUS/LDAP/another file), unknown."
    )
    hash_scheme: ShortText = Field(
        default="", description="For hashes: sha512-crypt, sha256-crypt, md5-crypt, yescrypt, bcrypt, nt ..."
    )
    weak: bool | None = Field(
        default=None,
        description="True: the password is weak (see reasons); False: every check passed (for a hash: the "
        "whole candidate list was tried); None: not determined (see check and check_note).",
    )
    reasons: list[VerdictCategory] = Field(
        default_factory=list, max_length=32, description="Verdict categories of this account (sorted)."
    )
    check: CheckStatus = Field(
        default="not_applicable",
        description="checked: fully judged; partial: the hash budget ran out before the candidate list "
        "did; not_checked: nothing could be tried (see check_note); not_applicable: no password.",
    )
    check_note: ShortText = Field(
        default="", description="Why not (fully) checked, e.g. 'not checked: budget'."
    )
    candidates_tried: int | None = Field(
        default=None, ge=0, description="For a hash: candidates tried against it (None for cleartext)."
    )
    candidates_total: int | None = Field(
        default=None, ge=0, description="For a hash: size of its candidate list."
    )
    expires: UtcDatetime | None = Field(default=None, description="Certificate expiry (easy-rsa index).")
    last_handshake: UtcDatetime | None = Field(
        default=None, description="WireGuard: latest handshake seen by `wg show` (None: never since start)."
    )
    last_login: UtcDatetime | None = Field(
        default=None, description="Last successful login the agent recorded from the VPN logs, if known."
    )


class VpnVerdict(WireModel):
    """One finding: what, where, why. Never the secret."""

    server: ShortText = Field(description="VpnServer.name.")
    store: ShortText = Field(description="Path of the store.")
    account: ShortText = Field(default="", description="The account; '' for a finding about the whole store.")
    category: VerdictCategory = Field(description="The reason category (docs/probes/vpn.md lists them).")


class HashAudit(WireModel):
    """How the hashed secrets were tried against their candidate lists."""

    budget_seconds: float = Field(default=0.0, ge=0, description="Wall-clock budget of the hash checks.")
    workers: int = Field(default=0, ge=0, description="Parallel workers used (one per core).")
    elapsed_seconds: float = Field(default=0.0, ge=0, description="Time the hash checks took (rounded).")
    hashes: int = Field(default=0, ge=0, description="Accounts with a hashed secret.")
    checked: int = Field(
        default=0, ge=0, description="Hashes whose whole candidate list was tried (or cracked)."
    )
    partial: int = Field(default=0, ge=0, description="Hashes tried in part before the budget ran out.")
    not_checked: int = Field(
        default=0, ge=0, description="Hashes not tried at all (budget, unsupported scheme, no libxcrypt)."
    )
    candidates_tried: int = Field(default=0, ge=0, description="Candidate checks done in total.")
    schemes: dict[ShortText, int] = Field(
        default_factory=dict, max_length=32, description="Hashed accounts per scheme."
    )
    library: ShortText = Field(default="", description="The crypt library used (libxcrypt), '' if none.")


class VpnCounts(WireModel):
    servers: int = Field(default=0, ge=0, description="VPN servers found (installed or configured).")
    servers_running: int = Field(default=0, ge=0, description="Servers with a running process.")
    accounts: int = Field(default=0, ge=0, description="Accounts listed.")
    weak: int = Field(default=0, ge=0, description="Accounts with weak True.")
    not_checked: int = Field(default=0, ge=0, description="Accounts with a password not (fully) checked.")
    cleartext_stores: int = Field(default=0, ge=0, description="Stores holding cleartext secrets.")
    locked: int = Field(default=0, ge=0, description="Accounts locked, revoked, expired or disabled.")


class VpnFacts(WireModel):
    servers: list[VpnServer] = Field(
        default_factory=list, max_length=64, description="VPN servers found, sorted by kind and name."
    )
    stores: list[VpnStore] = Field(default_factory=list, max_length=256, description="Account stores read.")
    accounts: list[VpnAccount] = Field(
        default_factory=list, max_length=20000, description="Every account, sorted by server, store, name."
    )
    verdicts: list[VpnVerdict] = Field(
        default_factory=list,
        max_length=50000,
        description="Every finding (weak password, cleartext store...).",
    )
    hash_audit: HashAudit = Field(default_factory=HashAudit, description="How hashes were tried.")
    counts: VpnCounts = Field(default_factory=VpnCounts, description="Totals.")
    sources: list[ShortText] = Field(default_factory=list, max_length=64, description="What was read.")
    note: LongText = Field(default="", description="What could not be read or checked, for the admin.")
