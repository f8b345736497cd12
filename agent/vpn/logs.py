"""VPN log readers: login events from OpenVPN, strongSwan (charon), ocserv and pppd (A9-T2.3, A9-M3.4).

Pure parsers, no I/O: a line goes in (already redacted by agent.vpn.redact), login events come
out. The daemons' real behaviour (../shared/design/vpn-notes.md, fixtures in tests/fixtures/vpn/):

* OpenVPN logs a *login* as ``IP:port [alice] Peer Connection Initiated with [AF_INET]IP:port``;
  ``authentication succeeded for username 'alice'`` repeats at every TLS renegotiation and is
  only ``auth_ok``. A failed password carries no user name
  (``IP:port TLS Auth Error: Auth Username/Password verification failed for peer``); the name
  comes from the verify script's log (checkpsw.sh) or PAM, joined later (agent.vpn.analysis).
* strongSwan's ``IKE_SA ... established`` names the IKE identity (often an IP); the user is in
  ``received EAP identity 'alice'`` / ``XAuth authentication of 'zhangwei' successful``.
* ocserv: ``main[alice]:IP:port user logged in``; ``worker[bob]: IP ... failed authentication for 'bob'``.
* pppd: ``Peer bob failed CHAP authentication``, ``PAP peer authentication succeeded for johan``,
  ``Peer alice authenticated with MS-CHAP-v2`` (ppp >= 2.5.1 only).

Live sessions (OpenVPN status v1/v2/v3, ``occtl --json show users``, ``swanctl --list-sas``)
are parsed by the ``parse_*`` functions at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal

from agent.vpn.redact import redact

__all__ = [
    "KINDS",
    "LiveSession",
    "LogLine",
    "LogParser",
    "LoginEvent",
    "Result",
    "parse_occtl_users",
    "parse_openvpn_status",
    "parse_swanctl_list_sas",
    "split_line",
]

Result = Literal["success", "failure", "auth_ok", "logout", "replaced", "banned"]
KINDS = ("openvpn", "openvpn-verify", "pam", "strongswan", "ocserv", "pppd", "syslog")
MAX_NAME = 128
MAX_PENDING = 2000


@dataclass(frozen=True, slots=True)
class LoginEvent:
    """One authentication fact read from a log: a login, a failure, a logout."""

    ts: datetime
    server: str
    account: str | None
    result: Result
    src_ip: str | None = None
    src_port: int | None = None
    session: str | None = None
    reason: str = ""
    origin: str = ""


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A session the VPN server reports as connected right now."""

    server: str
    account: str
    src_ip: str | None
    src_port: int | None = None
    virtual_ip: str | None = None
    since: datetime | None = None
    session: str | None = None


@dataclass(frozen=True, slots=True)
class LogLine:
    ts: datetime | None
    ident: str | None
    pid: int | None
    message: str


# -- timestamps ----------------------------------------------------------------------------
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_RFC3339 = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)\s+(?P<rest>.*)$"
)
_BSD = re.compile(r"^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)\s+(?P<rest>.*)$")
_PLAIN = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d):? (?P<rest>.*)$")
_CTIME = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4}) (?P<rest>.*)$"
)
_SYSLOG_HEAD = re.compile(r"^(?P<host>\S+) (?P<ident>[^\s\[:]+)(?:\[(?P<pid>\d{1,10})\])?: ?(?P<msg>.*)$")
_IDENT_ONLY = re.compile(r"^(?P<ident>[A-Za-z][\w.-]{0,40})\[(?P<pid>\d{1,10})\]: (?P<msg>.*)$")
_CHARON_THREAD = re.compile(r"^\d{1,3}\[[A-Z]{2,4}\] ")


def _aware(year: int, month: int, day: int, hms: tuple[int, int, int], tz: tzinfo) -> datetime | None:
    try:
        return datetime(year, month, day, *hms, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _offset(text: str) -> tzinfo:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _bsd_year(month: int, day: int, reference: datetime | None) -> int:
    """The year of a BSD syslog stamp (it has none): the latest that is not after the reference."""
    ref = reference or datetime.now(UTC)
    if (month, day) > (ref.month, ref.day) and not (month == ref.month and day == ref.day + 1):
        return ref.year - 1
    return ref.year


def split_line(line: str, tz: tzinfo = UTC, reference: datetime | None = None) -> LogLine:
    """Split a log line into time (UTC), syslog ident, pid and message.

    Handles ``2026-11-27T07:18:00.337401+00:00 vm ovpn-server[11905]: msg`` (rsyslog RFC 3339),
    ``Nov 27 07:19:58 host charon: msg`` and charon's filelog ``Nov 27 07:19:58 08[IKE] msg``,
    OpenVPN's ``2026-11-27 07:14:09 msg`` and checkpsw.sh's ``2026-11-27 07:14:09: msg``
    (local time in ``tz``), OpenVPN 2.4's ``Sun Feb  5 18:57:10 2017 msg``, and lines with no
    time at all (``ocserv[8173]: main: ...`` on stderr).
    """
    line = line.rstrip("\r\n")
    if m := _RFC3339.match(line):
        frac = (m.group(7) or "0")[:6].ljust(6, "0")
        try:
            year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
            ts: datetime | None = datetime(
                year, month, day, hour, minute, second, int(frac), tzinfo=_offset(m.group(8))
            ).astimezone(UTC)
        except (ValueError, OverflowError):
            ts = None
        return _with_ident(ts, m.group("rest"), syslog=True)
    if m := _BSD.match(line):
        bsd_month = _MONTHS.get(m.group(1))
        ts = None
        if bsd_month:
            bsd_day = int(m.group(2))
            ts = _aware(_bsd_year(bsd_month, bsd_day, reference), bsd_month, bsd_day, _hms(m, 3), tz)
        rest = m.group("rest")
        if _CHARON_THREAD.match(rest):
            return LogLine(ts, "charon", None, rest)
        return _with_ident(ts, rest, syslog=True)
    if m := _PLAIN.match(line):
        ts = _aware(int(m.group(1)), int(m.group(2)), int(m.group(3)), _hms(m, 4), tz)
        return _with_ident(ts, m.group("rest"), syslog=False)
    if m := _CTIME.match(line):
        ctime_month = _MONTHS.get(m.group(1))
        ts = _aware(int(m.group(6)), ctime_month, int(m.group(2)), _hms(m, 3), tz) if ctime_month else None
        return LogLine(ts, None, None, m.group("rest"))
    return _with_ident(None, line, syslog=False)


def _hms(m: re.Match[str], first: int) -> tuple[int, int, int]:
    return int(m.group(first)), int(m.group(first + 1)), int(m.group(first + 2))


def _with_ident(ts: datetime | None, rest: str, *, syslog: bool) -> LogLine:
    head = _SYSLOG_HEAD.match(rest) if syslog else _IDENT_ONLY.match(rest)
    if head is None:
        return LogLine(ts, None, None, rest)
    pid = int(head.group("pid")) if head.group("pid") else None
    return LogLine(ts, head.group("ident"), pid, head.group("msg"))


# -- helpers -------------------------------------------------------------------------------
def _name(value: str | None) -> str | None:
    if value is None:
        return None
    value = "".join(ch for ch in value if ch.isprintable()).strip()[:MAX_NAME]
    return value or None


_ADDR_PORT = re.compile(r"^(?:\[AF_INET6?\])?(?P<ip>[0-9A-Fa-f.:]+):(?P<port>\d{1,5})$")


def _addr(text: str) -> tuple[str | None, int | None]:
    m = _ADDR_PORT.match(text)
    if m is None:
        return (text or None), None
    return m.group("ip"), int(m.group("port"))


def family_of(ident: str | None, message: str, default: str) -> str:
    """Which parser a line belongs to, from its syslog ident (or the source's declared kind)."""
    if "pam_unix(" in message or message.startswith("PLUGIN AUTH-PAM"):
        return "pam"
    if ident is None:
        return default
    low = ident.lower()
    if low.startswith(("ovpn", "openvpn")):
        return "openvpn"
    if low.startswith(("charon", "ipsec", "strongswan")):
        return "strongswan"
    if low.startswith("ocserv"):
        return "ocserv"
    if low in {"pppd", "pptpd", "xl2tpd"}:
        return "pppd"
    return default if default != "syslog" else "other"


# -- the parsers ---------------------------------------------------------------------------
@dataclass
class _Daemon:
    """Shared state handling: small JSON-able dicts, bounded."""

    server: str
    origin: str
    state: dict[str, Any] = field(default_factory=dict)

    def _map(self, name: str) -> dict[str, Any]:
        table = self.state.get(name)
        if not isinstance(table, dict):
            table = self.state[name] = {}
        if len(table) > MAX_PENDING:
            for key in list(table)[: len(table) - MAX_PENDING]:
                del table[key]
        return table

    def ev(self, ts: datetime, account: str | None, result: Result, **kw: Any) -> LoginEvent:
        return LoginEvent(ts, self.server, _name(account), result, origin=self.origin, **kw)

    def feed(self, line: LogLine) -> list[LoginEvent]:  # pragma: no cover - overridden
        raise NotImplementedError


_OVPN_PREFIX = re.compile(r"^(?:(?P<cn>[^\s/]+)/)?(?P<ip>[0-9A-Fa-f.:]+):(?P<port>\d{1,5}) (?P<rest>.*)$")
_OVPN_AUTH_OK = re.compile(r"^TLS: Username/Password authentication succeeded for username '(?P<u>.*)'")
_OVPN_LOGIN = re.compile(r"^\[(?P<u>[^\]]+)\] Peer Connection Initiated with (?P<peer>\S+)")
_OVPN_FAIL = "TLS Auth Error: Auth Username/Password verification failed for peer"
_OVPN_END = re.compile(
    r"^(?:SIG(?:TERM|USR1)\[soft,(?P<why>[^\]]*)\] received, client-instance (?:exiting|restarting))"
)
_OVPN_REPLACED = re.compile(
    r"^MULTI: new connection by client '(?P<u>.*)' will cause previous active sessions"
)
_OVPN_STOP = re.compile(
    r"^(?:SIG(?:TERM|INT|HUP|USR1)\[hard,[^\]]*\] received, process (?:exiting|restarting)|Initialization Sequence Completed)"
)


class OpenVpnParser(_Daemon):
    """OpenVPN 2.4-2.6 server lines (file, syslog or journal)."""

    def feed(self, line: LogLine) -> list[LoginEvent]:
        ts, msg = line.ts, line.message
        if ts is None:
            return []
        opened = self._map("open")  # "ip:port" -> account
        if m := _OVPN_PREFIX.match(msg):
            ip, port, rest = m.group("ip"), int(m.group("port")), m.group("rest")
            key = f"{ip}:{port}"
            if a := _OVPN_AUTH_OK.match(rest):
                return [self.ev(ts, a.group("u"), "auth_ok", src_ip=ip, src_port=port, session=key)]
            if a := _OVPN_LOGIN.match(rest):
                opened[key] = _name(a.group("u"))
                return [self.ev(ts, a.group("u"), "success", src_ip=ip, src_port=port, session=key)]
            if rest.startswith(_OVPN_FAIL):
                return [
                    self.ev(
                        ts, m.group("cn"), "failure", src_ip=ip, src_port=port, session=key, reason="auth"
                    )
                ]
            if (a := _OVPN_END.match(rest)) and key in opened:
                account = opened.pop(key)
                return [
                    self.ev(ts, account, "logout", src_ip=ip, src_port=port, session=key, reason=a["why"])
                ]
            return []
        if m := _OVPN_REPLACED.match(msg):
            user = _name(m.group("u"))
            out = []
            # the new session's login came just before: the others of this account are dropped
            mine = [k for k, v in opened.items() if v == user]
            for key in mine[:-1]:
                del opened[key]
                old_ip, old_port = _addr(key)
                out.append(self.ev(ts, user, "replaced", src_ip=old_ip, src_port=old_port, session=key))
            return out
        if _OVPN_STOP.match(msg) and opened:
            out = []
            for key, account in list(opened.items()):
                end_ip, end_port = _addr(key)
                out.append(
                    self.ev(
                        ts, account, "logout", src_ip=end_ip, src_port=end_port, session=key, reason="server"
                    )
                )
            opened.clear()
            return out
        return []


_VERIFY = re.compile(
    r"^(?P<what>Successful authentication|Incorrect password|User does not exist)"
    r': username="(?P<u>[^"]*)"(?P<rest>.*)$'
)
_IP_FIELD = re.compile(r"\bip=(?P<ip>[0-9A-Fa-f.:]+)")


class VerifyScriptParser(_Daemon):
    """checkpsw.sh-style verify script logs (``Incorrect password: username="bob", password="..."``)."""

    def feed(self, line: LogLine) -> list[LoginEvent]:
        if line.ts is None or not (m := _VERIFY.match(line.message)):
            return []
        ipm = _IP_FIELD.search(m.group("rest"))
        ip = ipm.group("ip") if ipm else None
        what = m.group("what")
        if what == "Successful authentication":
            return [self.ev(line.ts, m.group("u"), "auth_ok", src_ip=ip)]
        reason = "wrong password" if what == "Incorrect password" else "unknown user"
        return [self.ev(line.ts, m.group("u"), "failure", src_ip=ip, reason=reason)]


_PAM_FAIL = re.compile(r"pam_unix\((?P<svc>[^:)]+):auth\): authentication failure;(?P<rest>.*)$")
_PAM_UNKNOWN = re.compile(r"pam_unix\((?P<svc>[^:)]+):auth\): check pass; user unknown")
_PAM_PLUGIN = re.compile(
    r"^PLUGIN AUTH-PAM: BACKGROUND: user '(?P<u>.*)' failed to authenticate: (?P<why>.*)$"
)
_PAM_SERVICES = {
    "openvpn": "openvpn",
    "ocserv": "ocserv",
    "ppp": "pppd",
    "pppd": "pppd",
    "ipsec": "strongswan",
    "strongswan": "strongswan",
    "charon": "strongswan",
}


class PamParser(_Daemon):
    """PAM failures of VPN services: ``pam_unix(openvpn:auth): authentication failure; ... user=x``
    (origin ``pam``) and OpenVPN's PAM plugin line, which names the user but not the address
    (``PLUGIN AUTH-PAM: BACKGROUND: user 'x' failed to authenticate: ...``, origin
    ``openvpn-pam``). One failed attempt may leave both lines and OpenVPN's own; the analysis
    joins them (agent.vpn.analysis.join_attempts)."""

    def __init__(self, labels: dict[str, str]) -> None:
        super().__init__(server="pam", origin="pam")
        self.labels = labels

    def feed(self, line: LogLine) -> list[LoginEvent]:
        if line.ts is None:
            return []
        ts, msg = line.ts, line.message
        if m := _PAM_FAIL.search(msg):
            family = _PAM_SERVICES.get(m.group("svc"))
            if family is None:
                return []
            fields = dict(re.findall(r"(\w+)=(\S*)", m.group("rest")))
            user, rhost = fields.get("user") or None, fields.get("rhost") or None
            server = self.labels.get(family, family)
            return [
                LoginEvent(
                    ts, server, _name(user), "failure", src_ip=rhost, reason="wrong password", origin="pam"
                )
            ]
        if m := _PAM_UNKNOWN.search(msg):
            family = _PAM_SERVICES.get(m.group("svc"))
            if family is None:
                return []
            server = self.labels.get(family, family)
            return [LoginEvent(ts, server, None, "failure", reason="unknown user", origin="pam")]
        if m := _PAM_PLUGIN.match(msg):
            reason = "unknown user" if "not known" in m.group("why") else "wrong password"
            server = self.labels.get("openvpn", "openvpn")
            return [
                LoginEvent(ts, server, _name(m.group("u")), "failure", reason=reason, origin="openvpn-pam")
            ]
        return []


_CHARON = re.compile(r"^\d{1,3}\[[A-Z]{2,4}\] (?:<(?:[^|>]*\|)?(?P<n>\d+)> )?(?P<rest>.*)$")
_SW_INIT = re.compile(r"^(?P<ip>\S+) is initiating an? (?:Main Mode |Aggressive Mode )?IKE_SA")
_SW_ID = re.compile(
    r"^(?:received EAP identity '(?P<eap>.*)'|XAuth authentication of '(?P<xauth>.*)' successful)$"
)
_SW_NOKEY = re.compile(
    r"^(?:no EAP key found for hosts '.*' - '(?P<u>.*)'|no XAuth secret found for '.*' - '(?P<x>.*)')$"
)
_SW_FAIL = re.compile(
    r"^(?:EAP-MS-CHAPv2 verification failed(?:, retry \(\d+\)|: maximum number of retries reached)"
    r"|EAP method (?!EAP_MSCHAPV2)\S+ failed for peer \S+)$"
)
_SW_XFAIL = re.compile(r"^XAuth authentication of '(?P<u>.*)' failed$")
_SW_XNOMATCH = re.compile(r"^none of \d+ found XAuth secrets for '.*' - '(?P<u>.*)' matched$")
_SW_UP = re.compile(
    r"^IKE_SA (?P<name>[^\[\s]+)\[(?P<sa>\d+)\] established between \S+\.\.\.(?P<ip>[^\[\s]+)\[(?P<id>[^\]]*)\]"
)
_SW_DOWN = re.compile(r"^deleting IKE_SA (?P<name>[^\[\s]+)\[(?P<sa>\d+)\] between")
# charon drops a try beyond ``block_threshold`` half-open IKE_SAs per address: no user name, but
# a try from that address all the same (seen in the live lab, tests/agent/test_vpn_live_strongswan.py)
_SW_BLOCKED = re.compile(
    r"^ignoring IKE_SA setup from (?P<ip>\S+), per-IP half-open IKE_SA limit of \d+ reached$"
)


class StrongSwanParser(_Daemon):
    """charon (IKE) lines, with or without the ``<conn|N>`` prefix of ``ike_name = yes``.

    Without the prefix an identity is tied to the last peer that started an IKE_SA and to the
    ``IKE_SA ... established`` line of the same remote address (lines of concurrent
    negotiations can then be mismatched; ``ike_name = yes`` makes the join exact)."""

    def feed(self, line: LogLine) -> list[LoginEvent]:
        if line.ts is None or not (m := _CHARON.match(line.message)):
            return []
        ts, n, rest = line.ts, m.group("n"), m.group("rest")
        sas = self._map("sa")  # IKE_SA unique id -> {"ip", "user", "bad"}
        pending = self._map("pending")  # "seq" -> {"ip", "user", "ts", "bad"} (no ike_name)
        for seq in [k for k, v in pending.items() if ts.timestamp() - float(v["ts"]) > 300]:
            del pending[seq]
        if m := _SW_BLOCKED.match(rest):
            return [self.ev(ts, None, "failure", src_ip=m.group("ip"), reason="half-open limit")]
        if m := _SW_INIT.match(rest):
            if n:
                sas[n] = {"ip": m.group("ip")}
            else:
                self.state["last_ip"] = m.group("ip")
            return []
        if m := _SW_ID.match(rest):
            self._identity(n, m.group("eap") or m.group("xauth"), ts, sas, pending)
            return []
        if m := _SW_NOKEY.match(rest):
            entry = self._current(n, ts, sas, pending)
            if entry is not None:
                entry["bad"] = "unknown user"
            return []
        if m := _SW_XNOMATCH.match(rest):
            self._map("xauth_bad")[m.group("u")] = ts.timestamp()
            return []
        if m := _SW_XFAIL.match(rest):
            user = m.group("u")
            ip = sas.get(n, {}).get("ip") if n else self.state.pop("last_ip", None)
            bad = self._map("xauth_bad").pop(user, None)
            reason = "wrong password" if bad is not None else "authentication failed"
            return [self.ev(ts, user, "failure", src_ip=ip, session=n, reason=reason)]
        if _SW_FAIL.match(rest):
            entry = self._current(n, ts, sas, pending) or {}
            reason = entry.get("bad") or "wrong password"
            return [
                self.ev(ts, entry.get("user"), "failure", src_ip=entry.get("ip"), session=n, reason=reason)
            ]
        if m := _SW_UP.match(rest):
            sa, ip = m.group("sa"), m.group("ip")
            entry = sas.get(sa) if n is None else sas.get(n)
            if entry is None or not entry.get("user"):
                entry = self._resolve(ip, ts, pending) or {}
            user = entry.get("user") or m.group("id")
            sas[sa] = {"ip": ip, "user": user, "up": True}
            return [self.ev(ts, user, "success", src_ip=ip, session=f"{m.group('name')}[{sa}]")]
        if (m := _SW_DOWN.match(rest)) and (entry := sas.pop(m.group("sa"), None)) and entry.get("up"):
            return [
                self.ev(
                    ts,
                    entry.get("user"),
                    "logout",
                    src_ip=entry.get("ip"),
                    session=f"{m.group('name')}[{m.group('sa')}]",
                )
            ]
        return []

    def _identity(
        self, n: str | None, user: str, ts: datetime, sas: dict[str, Any], pending: dict[str, Any]
    ) -> None:
        if n:
            sas.setdefault(n, {})["user"] = user
            return
        seq = str(int(self.state.get("seq", 0)) + 1)
        self.state["seq"] = seq
        pending[seq] = {"user": user, "ip": self.state.pop("last_ip", None), "ts": ts.timestamp()}

    def _current(
        self, n: str | None, ts: datetime, sas: dict[str, Any], pending: dict[str, Any]
    ) -> dict[str, Any] | None:
        if n:
            entry = sas.setdefault(n, {})
            assert isinstance(entry, dict)
            return entry
        for seq in reversed(list(pending)):
            entry = pending[seq]
            if ts.timestamp() - float(entry["ts"]) <= 60:
                assert isinstance(entry, dict)
                return entry
        return None

    def _resolve(self, ip: str, ts: datetime, pending: dict[str, Any]) -> dict[str, Any] | None:
        for seq in reversed(list(pending)):
            entry = pending[seq]
            if entry.get("ip") in (ip, None) and ts.timestamp() - float(entry["ts"]) <= 60:
                del pending[seq]
                assert isinstance(entry, dict)
                return entry
        return None


_OC_MAIN = re.compile(r"^main\[(?P<u>[^\]]*)\]:(?P<ip>[0-9A-Fa-f.:]+):(?P<port>\d{1,5}) (?P<rest>.*)$")
_OC_FAIL = re.compile(r"^worker\[[^\]]*\]: (?P<ip>\S+) .*failed authentication for '(?P<u>.*)'$")
_OC_BAN = re.compile(r"^main: added IP '(?P<ip>[^']+)' \(with score \d+\) to ban list")


class OcservParser(_Daemon):
    """ocserv lines. A failure is counted from the worker's line (it has the address); the
    sec-mod's ``plain-auth: error authenticating user`` line of the same failure is not.
    One failure line stands for up to three password tries (ocserv logs no single try)."""

    def feed(self, line: LogLine) -> list[LoginEvent]:
        if line.ts is None:
            return []
        ts, msg = line.ts, line.message
        if m := _OC_MAIN.match(msg):
            ip, port, rest = m.group("ip"), int(m.group("port")), m.group("rest")
            key = f"{ip}:{port}"
            if rest == "user logged in":
                return [self.ev(ts, m.group("u"), "success", src_ip=ip, src_port=port, session=key)]
            if rest.startswith("user disconnected"):
                why = re.search(r"reason: ([^,)]*)", rest)
                reason = why.group(1) if why else ""
                return [
                    self.ev(ts, m.group("u"), "logout", src_ip=ip, src_port=port, session=key, reason=reason)
                ]
            return []
        if m := _OC_FAIL.match(msg):
            return [
                self.ev(ts, m.group("u"), "failure", src_ip=m.group("ip"), reason="authentication failed")
            ]
        if m := _OC_BAN.match(msg):
            return [self.ev(ts, None, "banned", src_ip=m.group("ip"), reason="ban score reached")]
        return []


_PPP_CHAP_FAIL = re.compile(r"^Peer (?P<u>.+) failed CHAP authentication$")
_PPP_PAP_FAIL = re.compile(r"^PAP peer authentication failed for (?P<u>.+)$")
_PPP_PAP_OK = re.compile(r"^PAP peer authentication succeeded for (?P<u>.+)$")
_PPP_AUTH_OK = re.compile(r"^Peer (?P<u>.+) authenticated with (?P<how>.+)$")
_PPP_CHAP_NAME = re.compile(r'^rcvd \[CHAP Response id=0x[0-9a-f]+ <[0-9a-f]*>, name = "(?P<u>[^"]*)"\]')
_PPP_LOGGED_IN = re.compile(r"^user (?P<u>\S+) logged in on tty")
_PPP_CALLER = re.compile(r"^peer from calling number (?P<ip>\S+) authorized$")
_PPTP_CLIENT = re.compile(r"^CTRL: Client (?P<ip>\S+) control connection started$")
_L2TP_CALL = re.compile(r"^Call established with (?P<ip>[^,]+), PID: (?P<pid>\d+),")


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


class PppParser(_Daemon):
    """pppd (with pptpd or xl2tpd) lines; per pppd PID: the peer name, the client address
    (from pptpd's ``CTRL: Client ...``/launcher PID, xl2tpd's ``Call established ..., PID:``,
    or ``peer from calling number``), and whether it authenticated. ppp 2.4.9 logs no name on
    CHAP success: the name then comes from a ``debug`` CHAP Response line, and the login is
    taken at ``remote IP address``."""

    def feed(self, line: LogLine) -> list[LoginEvent]:
        if line.ts is None:
            return []
        ts, msg, ident, pid = line.ts, line.message, (line.ident or "").lower(), str(line.pid or "")
        peers = self._map("pid")  # pppd pid -> {"ip", "user", "ok"}
        if ident == "pptpd":
            if m := _PPTP_CLIENT.match(msg):
                self.state["pptp_ip"] = m.group("ip")
            elif msg.startswith("CTRL (PPPD Launcher)") and pid and "pptp_ip" in self.state:
                peers.setdefault(pid, {})["ip"] = self.state.pop("pptp_ip")
            return []
        if ident == "xl2tpd":
            if m := _L2TP_CALL.match(msg):
                peers.setdefault(m.group("pid"), {})["ip"] = m.group("ip").strip()
            return []
        peer = peers.setdefault(pid, {}) if pid else {}
        ip = peer.get("ip")
        if (m := _PPP_CHAP_FAIL.match(msg)) or (m := _PPP_PAP_FAIL.match(msg)):
            return [
                self.ev(
                    ts,
                    _unquote(m.group("u")),
                    "failure",
                    src_ip=ip,
                    session=pid or None,
                    reason="wrong password",
                )
            ]
        if (
            (m := _PPP_PAP_OK.match(msg))
            or (m := _PPP_AUTH_OK.match(msg))
            or (m := _PPP_LOGGED_IN.match(msg))
        ):
            if peer.get("ok"):
                return []
            peer.update(ok=True, user=_unquote(m.group("u")))
            return [self.ev(ts, peer["user"], "success", src_ip=ip, session=pid or None)]
        if m := _PPP_CHAP_NAME.match(msg):
            peer["user"] = m.group("u")
        elif m := _PPP_CALLER.match(msg):
            peer["ip"] = m.group("ip")
        elif msg.startswith("remote IP address") and peer.get("user") and not peer.get("ok"):
            peer["ok"] = True
            return [self.ev(ts, peer["user"], "success", src_ip=ip, session=pid or None, reason="inferred")]
        elif msg in ("Connection terminated.", "Exit.") and pid:
            gone = peers.pop(pid, {})
            if gone.get("ok"):
                return [self.ev(ts, gone.get("user"), "logout", src_ip=gone.get("ip"), session=pid)]
        return []


class LogParser:
    """One log source: routes each line (redacted first) to its daemon's parser.

    ``kind`` is the source's declared kind (one of KINDS): ``syslog`` routes by the syslog
    ident; the others parse lines without an ident as that daemon's. ``labels`` names the
    server of each family (default: the family). The state is JSON, kept between scans.
    """

    def __init__(
        self,
        kind: str,
        labels: dict[str, str] | None = None,
        tz: tzinfo = UTC,
        state: dict[str, Any] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown log kind {kind!r}; one of {', '.join(KINDS)}")
        self.kind = kind
        self.labels = dict(labels or {})
        self.tz = tz
        self._states: dict[str, dict[str, Any]] = {
            str(k): dict(v)
            for k, v in (state if isinstance(state, dict) else {}).items()
            if isinstance(v, dict)
        }
        self._parsers: dict[str, _Daemon] = {}

    def _parser(self, family: str) -> _Daemon | None:
        if family in self._parsers:
            return self._parsers[family]
        server = self.labels.get(family.removesuffix("-verify"), family.removesuffix("-verify"))
        state = self._states.setdefault(family, {})
        made: _Daemon
        if family == "openvpn":
            made = OpenVpnParser(server, "openvpn", state)
        elif family == "openvpn-verify":
            made = VerifyScriptParser(server, "openvpn-verify", state)
        elif family == "pam":
            made = PamParser(self.labels)
            made.state = state
        elif family == "strongswan":
            made = StrongSwanParser(server, "strongswan", state)
        elif family == "ocserv":
            made = OcservParser(server, "ocserv", state)
        elif family == "pppd":
            made = PppParser(server, "pppd", state)
        else:
            return None
        self._parsers[family] = made
        return made

    def feed(self, raw: str, reference: datetime | None = None) -> list[LoginEvent]:
        line = split_line(redact(raw), self.tz, reference)
        parser = self._parser(family_of(line.ident, line.message, self.kind))
        return parser.feed(line) if parser is not None else []

    def feed_all(self, lines: Iterable[str], reference: datetime | None = None) -> list[LoginEvent]:
        return [event for raw in lines for event in self.feed(raw, reference)]

    def state(self) -> dict[str, Any]:
        return {k: v for k, v in self._states.items() if v}


# -- live sessions ---------------------------------------------------------------------------
def parse_openvpn_status(text: str, server: str = "openvpn", tz: tzinfo = UTC) -> list[LiveSession]:
    """OpenVPN's status file or management ``status`` output, versions 1, 2 and 3.

    v2 (v3 is the same with tabs)::

        HEADER,CLIENT_LIST,Common Name,Real Address,Virtual Address,...,Connected Since (time_t),Username,...
        CLIENT_LIST,alice,198.18.2.2:51076,10.8.0.2,,1379,2206,2026-11-27 07:14:29,1795763669,alice,3,1,AES-256-GCM

    Columns are taken by the HEADER row's names. Rows of half-open failed logins
    (``CLIENT_LIST,UNDEF,...`` with no virtual address) are left out.
    """
    sessions: list[LiveSession] = []
    header: list[str] | None = None
    v1 = False
    for raw in text.splitlines():
        sep = "\t" if "\t" in raw else ","
        cells = raw.rstrip("\r").split(sep)
        if cells[:2] == ["HEADER", "CLIENT_LIST"]:
            header = cells[2:]
            continue
        if cells[0] == "Common Name" and "Real Address" in cells:
            header, v1 = cells, True
            continue
        if v1 and cells[0] in ("ROUTING TABLE", "GLOBAL STATS", "END"):
            header, v1 = None, False
            continue
        if header is None or not (v1 or cells[0] == "CLIENT_LIST"):
            continue
        row = dict(zip(header, cells if v1 else cells[1:], strict=False))
        session = _status_row(row, server, tz, v1)
        if session is not None:
            sessions.append(session)
    return sessions


def _status_row(row: dict[str, str], server: str, tz: tzinfo, v1: bool) -> LiveSession | None:
    name = row.get("Username") if row.get("Username") not in (None, "", "UNDEF") else row.get("Common Name")
    account = _name(name)
    if account is None or account == "UNDEF" or (not v1 and not row.get("Virtual Address")):
        return None
    ip, port = _addr(row.get("Real Address", ""))
    since: datetime | None = None
    epoch = row.get("Connected Since (time_t)", "")
    if epoch.isdigit():
        since = datetime.fromtimestamp(int(epoch), UTC)
    elif row.get("Connected Since"):
        parsed = split_line(row["Connected Since"] + " x", tz)
        since = parsed.ts
    return LiveSession(
        server, account, ip, port, row.get("Virtual Address") or None, since, row.get("Client ID") or None
    )


_RELATIVE = re.compile(r"(\d+)\s*([dhms])")


def _lenient_json(text: str) -> Any:
    """occtl's JSON has trailing commas (``"in_use":  1,\n  },``)."""
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))


def parse_occtl_users(
    text: str, now: datetime, server: str = "ocserv", tz: tzinfo = UTC
) -> list[LiveSession]:
    """``occtl --json show users``: one object per connected session::

        {"ID": 10980, "Username": "zhangwei", "State": "connected", "Remote IP": "198.18.3.2",
         "IPv4": "10.20.0.43", "Connected at": "2026-11-27 14:06", "_Connected at": "    4s", ...}

    ``_Connected at`` (relative, to the second) is preferred to ``Connected at`` (to the minute).
    """
    try:
        rows = _lenient_json(text)
    except ValueError:
        return []
    if not isinstance(rows, list):
        return []
    sessions = []
    for row in rows:
        if not isinstance(row, dict) or str(row.get("State", "connected")) != "connected":
            continue
        account = _name(str(row.get("Username") or ""))
        if account is None:
            continue
        since: datetime | None = None
        relative = _RELATIVE.findall(str(row.get("_Connected at") or ""))
        if relative:
            unit = {"d": 86400, "h": 3600, "m": 60, "s": 1}
            since = now - timedelta(seconds=sum(int(n) * unit[u] for n, u in relative))
        elif row.get("Connected at"):
            since = split_line(f"{row['Connected at']}:00 x", tz).ts
        sessions.append(
            LiveSession(
                server,
                account,
                str(row.get("Remote IP") or "") or None,
                None,
                str(row.get("IPv4") or "") or None,
                since,
                str(row.get("ID") or "") or None,
            )
        )
    return sessions


_SAS_HEAD = re.compile(r"^(?P<name>\S+): #(?P<id>\d+), (?P<state>[A-Z_]+), ")
_SAS_REMOTE = re.compile(
    r"^\s+remote\s+'(?P<rid>[^']*)' @ (?P<ip>[^\[\s]+)\[(?P<port>\d+)\]"
    r"(?: (?:EAP|XAuth): '(?P<user>[^']*)')?(?: \[(?P<vip>[^\]]+)\])?"
)
_SAS_AGE = re.compile(r"^\s+established (?P<s>\d+)s ago")


def parse_swanctl_list_sas(text: str, now: datetime, server: str = "strongswan") -> list[LiveSession]:
    """``swanctl --list-sas``: the established IKE_SAs and their users::

    rw-xauth: #4, ESTABLISHED, IKEv1, 98cc4f14646c4139_i 87cf86b11959481e_r*
      remote '198.18.1.2' @ 198.18.1.2[4500] XAuth: 'zhangwei' [10.10.10.2]
      established 21s ago, rekeying in 13103s
    """
    sessions: list[LiveSession] = []
    current: dict[str, Any] | None = None
    for raw in [*text.splitlines(), "END: #0, END, "]:
        if m := _SAS_HEAD.match(raw):
            if current and current["state"] == "ESTABLISHED" and current.get("account"):
                sessions.append(
                    LiveSession(
                        server,
                        current["account"],
                        current.get("ip"),
                        current.get("port"),
                        current.get("vip"),
                        current.get("since"),
                        f"{current['name']}[{current['id']}]",
                    )
                )
            current = {"name": m.group("name"), "id": m.group("id"), "state": m.group("state")}
        elif current is not None and (m := _SAS_REMOTE.match(raw)):
            current.update(
                account=_name(m.group("user") or m.group("rid")),
                ip=m.group("ip"),
                port=int(m.group("port")),
                vip=m.group("vip"),
            )
        elif current is not None and (m := _SAS_AGE.match(raw)):
            current["since"] = now - timedelta(seconds=int(m.group("s")))
    return sessions
