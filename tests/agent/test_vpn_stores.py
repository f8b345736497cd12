"""VPN account stores: parsers on real samples, garbage, redaction for bundles (A9-T2.1, A9-T2.2).

The samples are copies of ../shared/fixtures/vpn/ files (real ocpasswd 1.1.6 output, the lab's
swanctl.conf and psw-file, xl2tpd's example chap-secrets, wg-quick/`wg show dump` shapes;
origin in ../shared/fixtures/vpn/SOURCES.md), inlined so the tests stand alone.
"""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.vpn.store_redact import MARK, redact, redaction_for
from agent.vpn.stores import (
    Secret,
    parse_easyrsa_index,
    parse_ocpasswd,
    parse_openvpn_password_file,
    parse_ppp_secrets,
    parse_shadow,
    split_words,
)
from agent.vpn.stores_strongswan import parse_ipsec_secrets, parse_swanctl_conf, parse_swanctl_tree
from agent.vpn.stores_wireguard import parse_wg_conf, parse_wg_dump, parse_wg_latest_handshakes

OCPASSWD = """alice:*:$5$EkvmbEwGRY7nZphn$DhgjVHi2y.qm6IDs3F9SfbMdIpPJgfQx2wcPsrXcVrB
bob:staff,it:$5$Lq8KIQm82eF.3Rcd$b/aEbC3XzZ3Aj62BJFWCpiHM3P0RGLmpve3mf2egDm.
zhangwei:*:$5$Lp/QazutiFsonQZx$TlzZ6NJPOJFZaf6eUpH.QhHLFbihWVWQOcHXazfUif/
olduser:*:!$5$6na6WleL/1G9pgHh$VQj9p1hHh6XSY9WjThw9TgxDXkJyViEL8Z37pq6QiWD
otponly:*:
"""
PSW_FILE = """# username password   (plaintext, checkpsw.sh style)
alice   Alice@2024
bob     123456
carol   S3cure!Passphrase-long
dave    Dave#2023   0
erin:$6$salt$hash.value
frank:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=
"""
SWANCTL = """connections {
   rw-eap {
      remote {
         auth = eap-mschapv2
      }
   }
}
secrets {
   eap-alice {
      id = alice
      secret = "Alice@2024"
   }
   xauth-zhangwei { id = zhangwei
                    secret = zhangwei123 }
   ntlm-bob { id = bob
              secret = 0x32ed87bdb5fdc5e9cba88547376818d4 }
   eap-two { id1 = carol
             id2 = "dave x"
             secret = 0sUGFzc3dvcmQ= }   # base64 of Password
   ike-group {
      secret = "GroupPSK2024"
   }
   private-key { file = server.key }
}
include conf.d/*.conf
"""
IPSEC_SECRETS = """# /etc/ipsec.secrets
192.168.0.1 %any : PSK "v+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL"
: RSA moonKey.pem
alice@strongswan.org : EAP "x3.dEhgN"
carol : XAUTH "4iChxLT3"
vpn.example.org dave : XAUTH 0x5365637265743132
erin : EAP
   "continued-secret"
include ipsec.*.secrets
"""
CHAP = """# Secrets for authentication using CHAP
# client\tserver\tsecret\t\t\tIP addresses
jacco\t\t*\t"mysecret"\t\t192.168.1.128/25 # Dynamic IP
sam\t\t*\t"rumpelstiltskin"\t192.168.1.5\t # Static IP
"wang wei"\tpptpd\t"with space"\t*
*\t\tjacco\t"mysecret"
olga\t\t*\t@/etc/ppp/olga.secret
"""
EASYRSA = (
    "V\t360213120000Z\t\t6F1C\tunknown\t/CN=alice\nR\t280101000000Z\t260101000000Z\t2A90\tunknown\t/CN=bob\n"
)
WG_CONF = """[Interface]
PrivateKey = oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=
ListenPort = 51820
[Peer]
# Name = alice
PublicKey = eHuVJQ5Yw75x8aDsfBQS4w0X2ervpM3jXnfT32DNCgI=
PresharedKey = FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=
AllowedIPs = 10.30.0.2/32
# bob laptop
[Peer]
PublicKey = AngWQsDSqbTm1W/noIbD+5+FKjHpvs8Xj+LncmjEYCc=
AllowedIPs = 10.30.0.3/32
[Peer]
PublicKey = bTfhPujJZsvJU82TOlvZ6FOlAj1b6FKhHZpUhoaikCQ=
"""
WG_DUMP = (
    "<redacted-private-key-srv>\tB4MQ8yelKBK+vwv/t7IXwHI6snigEbrux9y+ckVfrgY=\t51820\toff\n"
    "eHuVJQ5Yw75x8aDsfBQS4w0X2ervpM3jXnfT32DNCgI=\tFpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=\t"
    "198.18.1.2:58007\t10.30.0.2/32\t1795764216\t244\t188\toff\n"
    "bTfhPujJZsvJU82TOlvZ6FOlAj1b6FKhHZpUhoaikCQ=\t(none)\t(none)\t10.30.0.4/32\t0\t0\t0\toff\n"
)


def test_ocpasswd_users_groups_locks_and_otp_only_accounts() -> None:
    entries = {e.account: e for e in parse_ocpasswd(OCPASSWD)}
    assert list(entries) == ["alice", "bob", "zhangwei", "olduser", "otponly"]
    assert entries["bob"].extra["groups"] == "staff,it"
    assert (entries["alice"].form, entries["alice"].scheme, entries["alice"].status) == (
        "hash",
        "sha256-crypt",
        "active",
    )
    assert entries["olduser"].status == "locked"
    assert entries["olduser"].secret.reveal().startswith("$5$")  # lock mark stripped before verifying
    assert entries["otponly"].form == "none"


def test_openvpn_password_file_shapes() -> None:
    entries = {e.account: e for e in parse_openvpn_password_file(PSW_FILE)}
    assert entries["alice"].form == "cleartext" and entries["alice"].secret.reveal() == "Alice@2024"
    assert entries["dave"].status == "disabled"  # checkpsw variant: third column 0
    assert (entries["erin"].form, entries["erin"].scheme) == ("hash", "sha512-crypt")
    assert (entries["frank"].form, entries["frank"].scheme) == ("hash", "sha1-b64")


def test_swanctl_secrets_blocks() -> None:
    parsed = parse_swanctl_conf(SWANCTL)
    found = {(e.account, e.form, e.extra["type"]): e.secret.reveal() for e in parsed.entries}
    assert found == {
        ("alice", "cleartext", "EAP"): "Alice@2024",
        ("zhangwei", "cleartext", "XAUTH"): "zhangwei123",
        ("bob", "hash", "NTLM"): "32ed87bdb5fdc5e9cba88547376818d4",
        ("carol", "cleartext", "EAP"): "Password",
        ("dave x", "cleartext", "EAP"): "Password",
        ("psk:%any", "cleartext", "PSK"): "GroupPSK2024",
    }
    assert parsed.includes == ["conf.d/*.conf"]
    tree, _ = parse_swanctl_tree('a { b = c d # comment\n e = "q # r" }\n')
    assert tree == [("a", [("b", "c d", 1), ("e", "q # r", 2)], 1)]


def test_ipsec_secrets_types_encodings_continuations_includes() -> None:
    parsed = parse_ipsec_secrets(IPSEC_SECRETS)
    found = {(e.account, e.account_type): e.secret.reveal() for e in parsed.entries}
    assert found == {
        ("psk:192.168.0.1 %any", "psk"): "v+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL",
        ("alice@strongswan.org", "user"): "x3.dEhgN",
        ("carol", "user"): "4iChxLT3",
        ("dave", "user"): "Secret12",
        ("erin", "user"): "continued-secret",
    }
    assert parsed.includes == ["ipsec.*.secrets"]


def test_ppp_secrets_quotes_wildcards_and_secret_files() -> None:
    entries = parse_ppp_secrets(CHAP)
    assert [(e.account, e.form, e.account_type) for e in entries] == [
        ("jacco", "cleartext", "user"),
        ("sam", "cleartext", "user"),
        ("wang wei", "cleartext", "user"),
        ("*", "cleartext", "psk"),
        ("olga", "external", "user"),
    ]
    assert entries[0].extra == {"server": "*", "addresses": "192.168.1.128/25"}
    assert entries[2].secret.reveal() == "with space"
    assert split_words(r'a "b c" d\ e #x') == ["a", "b c", "d e"]


def test_easyrsa_index_status_and_expiry() -> None:
    entries = parse_easyrsa_index(EASYRSA)
    assert [(e.account, e.status, e.form) for e in entries] == [
        ("alice", "active", "certificate"),
        ("bob", "revoked", "certificate"),
    ]
    assert entries[0].expires is not None and entries[0].expires.year == 2036


def test_shadow_hashes_locks_and_empty_passwords() -> None:
    text = (
        "root:!:20000::::::\nalice:$y$j9T$abc$def:20000:0:99999:7:::\nbob::20000::::::\nold:!$6$s$h:1::::::\n"
    )
    entries = {e.account: e for e in parse_shadow(text)}
    assert entries["root"].form == "none"
    assert (entries["alice"].form, entries["alice"].scheme) == ("hash", "yescrypt")
    assert entries["bob"].form == "cleartext" and entries["bob"].secret.reveal() == ""  # no password at all
    assert entries["old"].status == "locked"


def test_wireguard_peers_names_and_handshakes_without_keys() -> None:
    peers = parse_wg_conf(WG_CONF, "wg0")
    assert [(p.name, p.public_key[:8]) for p in peers] == [
        ("alice", "eHuVJQ5Y"),
        ("bob laptop", "AngWQsDS"),
        ("", "bTfhPujJ"),
    ]
    dump = parse_wg_dump(WG_DUMP, "wgsrv")
    assert [(p.public_key[:8], p.latest_handshake is not None) for p in dump] == [
        ("eHuVJQ5Y", True),
        ("bTfhPujJ", False),
    ]
    assert "FpCyhws9" not in repr(dump)  # the preshared key is dropped
    seen = parse_wg_latest_handshakes("wg0\teHuVJQ5Yw75x8aDsfBQS4w0X2ervpM3jXnfT32DNCgI=\t1795764216\n")
    assert list(seen) == [("wg0", "eHuVJQ5Yw75x8aDsfBQS4w0X2ervpM3jXnfT32DNCgI=")]


def test_a_secret_never_shows_in_repr_or_str() -> None:
    entry = parse_openvpn_password_file("alice Alice@2024\n")[0]
    assert "Alice@2024" not in repr(entry) and "Alice@2024" not in str(entry.secret)
    assert repr(Secret("x")) == "<secret>"


# -- redaction for capture bundles ---------------------------------------------------------------

SECRETS = [
    "Alice@2024",
    "123456",
    "S3cure!Passphrase-long",
    "zhangwei123",
    "32ed87bdb5fdc5e9cba88547376818d4",
    "UGFzc3dvcmQ=",
    "GroupPSK2024",
    "v+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL",
    "x3.dEhgN",
    "4iChxLT3",
    "0x5365637265743132",
    "continued-secret",
    "mysecret",
    "rumpelstiltskin",
    "with space",
    "DhgjVHi2y.qm6IDs3F9SfbMdIpPJgfQx2wcPsrXcVrB",
    "EkvmbEwGRY7nZphn",
    "oK56DE9Ue9zK76rAc8pBl6opph",
    "FpCyhws9cxwWoV4xELtfJvjJN",
    "W6ph5Mm5Pz8GgiULbPgzG37mj9g",
    "salt$hash.value",
]


def test_redaction_keeps_the_structure_and_drops_every_secret() -> None:
    cases = {
        "/etc/ocserv/ocpasswd": OCPASSWD,
        "/etc/openvpn/psw-file": PSW_FILE,
        "/etc/swanctl/conf.d/lab.conf": SWANCTL,
        "/etc/ipsec.secrets": IPSEC_SECRETS,
        "/etc/ppp/chap-secrets": CHAP,
        "/etc/wireguard/wg0.conf": WG_CONF,
    }
    for path, text in cases.items():
        how = redaction_for(path)
        assert how is not None, path
        out = redact(how, text.encode())
        assert out is not None
        clean = out.decode()
        assert not [s for s in SECRETS if s in clean], path
        assert MARK in clean
    ocp = parse_ocpasswd(redact("ocpasswd", OCPASSWD.encode()).decode())  # type: ignore[union-attr]
    assert [(e.account, e.status, e.scheme) for e in ocp][:4] == [
        ("alice", "active", "sha256-crypt"),
        ("bob", "active", "sha256-crypt"),
        ("zhangwei", "active", "sha256-crypt"),
        ("olduser", "locked", "sha256-crypt"),
    ]
    chap = parse_ppp_secrets(redact("chap_secrets", CHAP.encode()).decode())  # type: ignore[union-attr]
    assert [e.account for e in chap] == ["jacco", "sam", "wang wei", "*", "olga"]
    swan = parse_swanctl_conf(redact("swanctl_conf", SWANCTL.encode()).decode())  # type: ignore[union-attr]
    assert sorted(e.account for e in swan.entries) == [
        "alice",
        "bob",
        "carol",
        "dave x",
        "psk:%any",
        "zhangwei",
    ]
    assert redact("whole", b"-----BEGIN PRIVATE KEY-----") is None
    conf = b"dev tun\n<tls-crypt>\n-----BEGIN OpenVPN Static key V1-----\nabcdef\n</tls-crypt>\nverb 3\n"
    assert b"abcdef" not in (redact("openvpn_conf", conf) or b"") and b"verb 3" in (
        redact("openvpn_conf", conf) or b""
    )
    assert base64.b64decode("UGFzc3dvcmQ=") == b"Password"


# -- garbage: every parser survives anything ---------------------------------------------------

PARSERS = [
    parse_ocpasswd,
    parse_openvpn_password_file,
    parse_ppp_secrets,
    parse_shadow,
    parse_easyrsa_index,
    lambda t: parse_ipsec_secrets(t).entries,
    lambda t: parse_swanctl_conf(t).entries,
    lambda t: parse_wg_conf(t, "wg0"),
    lambda t: parse_wg_dump(t, "wg0"),
    lambda t: list(parse_wg_latest_handshakes(t)),
]
REAL = [OCPASSWD, PSW_FILE, SWANCTL, IPSEC_SECRETS, CHAP, EASYRSA, WG_CONF, WG_DUMP]
LINES = st.sampled_from([line for text in REAL for line in text.splitlines()])
TEXT = st.one_of(
    st.text(max_size=400),
    st.lists(
        st.one_of(LINES, st.text(alphabet=":\"'{}=#\\ \t$!*@0123456789abcXYZ\n", max_size=40)), max_size=30
    ).map("\n".join),
)


@settings(max_examples=150, deadline=None)
@given(TEXT, st.sampled_from(range(len(PARSERS))))
def test_every_store_parser_survives_garbage(text: str, which: int) -> None:
    for entry in PARSERS[which](text):
        assert entry is not None


@settings(max_examples=150, deadline=None)
@given(
    TEXT,
    st.sampled_from(
        [
            "shadow",
            "ocpasswd",
            "openvpn_password_file",
            "chap_secrets",
            "ipsec_secrets",
            "swanctl_conf",
            "wireguard_conf",
            "openvpn_conf",
        ]
    ),
)
def test_redaction_survives_garbage(text: str, how: str) -> None:
    redact(how, text.encode("utf-8", errors="surrogatepass"))
