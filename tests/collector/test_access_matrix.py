"""The access matrix (A9-G, issue 4): every admin endpoint x every role x an object in and out
of the caller's scope, on SQLite and PostgreSQL.

The routes come from the app's OpenAPI document. Each must be described in ROUTES (how to
build its path, query and body for an object of a given unit); a route that is not there
fails `test_route_is_in_the_matrix`, so nobody can add an endpoint without scope tests.

For every route and role (city_admin of 341000; district_admin, auditor and inspector of
341021; no login) it asserts:
- no login: 401;
- an object of 341021 (in scope): readable by every role; writable by the admins; auditors
  and inspectors get 403 on every write;
- an object of 341022 (out of scope for everyone but the city admin): the answer is the
  answer for a missing object (same status, same body once the identifier is replaced), and
  never a success;
- nothing a 341021 user gets back mentions the other county's hosts, users or name.
"""

from __future__ import annotations

import io
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pyotp
import pytest
from httpx import Response
from sqlalchemy import select

from collector.db.models import AuthSession, Host, RoleGrant, Unit, User
from collector.main import create_app
from collector.services.auth import generate_password, hash_password, hash_token, principal_for_user
from collector.services.tokens import create_token
from collector.settings import Settings
from tests.collector.test_inventory import _real_items, _sections
from tests.support.collector import CollectorUnderTest, make_report, node_auth

IN, OUT, MISSING_UNIT = "341021", "341022", "349999"
MISSING_ID = 2_000_000_000
ROLES = ("city_admin", "district_admin", "auditor", "inspector")
ROLE_UNIT = {"city_admin": "341000", "district_admin": IN, "auditor": IN, "inspector": IN}
# Names of the other county's objects: none may appear in what a 341021 user reads.
OOS_MARKERS = ("oos-xiuning-pc", "oos.xiuning", "休宁", "Xiuning")
# Endpoints with their own authentication (agents' node keys, enrollment secrets) or none.
NOT_ADMIN = {
    ("GET", "/api/v1/health"),
    ("POST", "/api/v1/enroll"),
    ("POST", "/api/v1/reports"),
    ("POST", "/api/v1/events"),
    ("GET", "/api/v1/config"),
    ("POST", "/api/v1/node-key"),
}


@dataclass
class Target:
    """One request: path parameters, query, JSON body; ``ident`` is the identifier of the
    object in the answer (replaced before an out-of-scope answer is compared with a missing one)."""

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    ident: str = ""
    files: dict[str, Any] | None = None  # a multipart form (with ``data``) instead of JSON
    data: dict[str, str] | None = None
    headers: dict[str, str] | None = None  # instead of the role's own
    on_ok: Callable[[], None] | None = None


@dataclass
class World:
    c: CollectorUnderTest
    headers: dict[str, dict[str, str]]
    passwords: dict[str, str]
    names: dict[str, str]
    counter: int = 0

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def host(self, unit: str | None, report: bool = False) -> Target:
        if unit is None:
            return Target(path={"host_id": MISSING_ID}, ident=str(MISSING_ID))
        hostname = self.fresh("oos-xiuning-pc" if unit == OUT else "she-pc")
        agent_id, key = self.c.enroll(unit, hostname=hostname)
        if report:
            report = make_report(agent_id, hostname=hostname, sections=_sections(_real_items()))
            self.c.client.post("/api/v1/reports", json=report, headers=node_auth(key))
        with self.c.sessions() as session:
            host_id = session.scalar(select(Host.id).where(Host.agent_id == agent_id))
        assert host_id is not None
        return Target(path={"host_id": host_id}, ident=str(host_id))

    def unit(self, unit: str | None) -> Target:
        code = unit or MISSING_UNIT
        return Target(path={"code": code}, ident=code)

    def user(self, unit: str | None, roles: tuple[str, ...] = ("auditor",)) -> tuple[int, list[int]]:
        if unit is None:
            return MISSING_ID, [MISSING_ID]
        name = self.fresh("oos.xiuning" if unit == OUT else "she.user")
        user = _account(self.c, name, unit, *roles)
        return user.id, [g.id for g in user.grants]

    def user_target(self, unit: str | None, **extra: Any) -> Target:
        user_id, _ = self.user(unit)
        return Target(path={"user_id": user_id}, ident=str(user_id), **extra)

    def secret(self, unit: str | None) -> Target:
        if unit is None:
            return Target(path={"secret_id": MISSING_ID}, ident=str(MISSING_ID))
        answer = self.c.client.post(
            f"/api/v1/units/{unit}/enroll-secrets",
            json={"label": "matrix"},
            headers=self.headers["city_admin"],
        )
        assert answer.status_code == 201, answer.text
        secret_id = answer.json()["info"]["id"]
        return Target(path={"secret_id": secret_id}, ident=str(secret_id))

    def relogin(self, role: str) -> dict[str, str]:
        return self.c.login(self.names[role], self.passwords[role])


@cache
def _password_hash() -> tuple[str, str]:
    """One argon2id hash for every account of the matrix (hashing per account is slow)."""
    password = generate_password()
    return password, hash_password(password)


def _account(c: CollectorUnderTest, username: str, unit: str, *roles: str) -> User:
    with c.sessions() as session:
        unit_id = session.scalar(select(Unit.id).where(Unit.code == unit))
        user = User(username=username, password_hash=_password_hash()[1])
        user.grants.extend(RoleGrant(unit_id=unit_id, role=role) for role in roles)
        session.add(user)
        session.commit()
        session.refresh(user)
        _ = user.grants
        return user


def _session_headers(c: CollectorUnderTest, user_id: int) -> dict[str, str]:
    """A login session made directly (the login itself is tested in test_admin_api.py)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with c.sessions() as session:
        session.add(
            AuthSession(
                token_hash=hash_token(token),
                user_id=user_id,
                csrf_token=secrets.token_urlsafe(24),
                expires_at=now + timedelta(hours=1),
                last_seen_at=now,
            )
        )
        session.commit()
    return {"Authorization": f"Bearer {token}"}


# -- how to exercise each route ------------------------------------------------------------
# kind: "read" (every role in scope may), "write" (admins only), "city" (city admins only:
# city-wide objects such as policy packs), "self" (the caller's own
# account: every logged-in role; its objects belong to the caller alone), "public".
# build(world, unit, role): unit is IN, OUT or None (a missing object); scoped=False: the
# route names no object (lists): only the in-scope call and the leak check apply.

Build = Callable[[World, str | None, str], Target]


@dataclass(frozen=True)
class Spec:
    kind: str
    build: Build
    ok: int = 200
    scoped: bool = True


def _none(_w: World, _u: str | None, _r: str) -> Target:
    return Target()


def _list(query: dict[str, Any] | None = None) -> Build:
    return lambda _w, _u, _r: Target(query=dict(query or {}))


def _host(w: World, u: str | None, _r: str) -> Target:
    return w.host(u)


def _unit(body: Any = None) -> Build:
    def build(w: World, u: str | None, _r: str) -> Target:
        target = w.unit(u)
        target.body = body
        return target

    return build


def _user_target(body: Callable[[str | None], Any] | None = None) -> Build:
    def build(w: World, u: str | None, _r: str) -> Target:
        return w.user_target(u, body=body(u) if body else None)

    return build


def _grant(w: World, u: str | None, _r: str) -> Target:
    user_id, grants = w.user(u, roles=("auditor", "inspector"))
    return Target(path={"user_id": user_id, "grant_id": grants[0]}, ident=str(user_id))


def _new_user(w: World, u: str | None, _r: str) -> Target:
    code = u or MISSING_UNIT
    return Target(
        body={"username": w.fresh("newuser"), "grants": [{"role": "auditor", "unit_code": code}]}, ident=code
    )


def _secret(w: World, u: str | None, _r: str) -> Target:
    return w.secret(u)


def _password_change(w: World, _u: str | None, role: str) -> Target:
    new = generate_password()

    def remember() -> None:
        w.passwords[role] = new

    return Target(body={"current_password": w.passwords[role], "new_password": new}, on_ok=remember)


def _totp_secret(w: World, role: str) -> str:
    answer = w.c.client.post("/api/v1/account/totp", headers=w.headers[role])
    assert answer.status_code == 200, answer.text
    return str(answer.json()["secret"])


def _totp_confirm(w: World, _u: str | None, role: str) -> Target:
    return Target(body={"code": pyotp.TOTP(_totp_secret(w, role)).now()})


def _totp_disable(w: World, _u: str | None, role: str) -> Target:
    totp = pyotp.TOTP(_totp_secret(w, role))
    confirmed = w.c.client.post(
        "/api/v1/account/totp/confirm", json={"code": totp.now()}, headers=w.headers[role]
    )
    assert confirmed.status_code == 200, confirmed.text
    return Target(body={"code": totp.at(totp.timecode(_now()) * 30 + 30)})


def _now() -> datetime:
    return datetime.now(UTC)


def _token(w: World, u: str | None, role: str) -> Target:
    """In scope: the caller's own token; out of scope: anybody else's (tokens are personal)."""
    if u is None:
        return Target(path={"token_id": MISSING_ID}, ident=str(MISSING_ID))
    if u == IN:
        answer = w.c.client.post("/api/v1/account/tokens", json={"name": "mine"}, headers=w.headers[role])
        assert answer.status_code == 201, answer.text
        token_id = answer.json()["info"]["id"]
    else:
        user_id, _ = w.user(OUT)
        with w.c.sessions() as session:
            owner = principal_for_user(session, session.get(User, user_id))
            token_id = create_token(session, owner, "oos-token", None).row.id
    return Target(path={"token_id": token_id}, ident=str(token_id))


def _logout(w: World, _u: str | None, role: str) -> Target:
    return Target(headers=w.relogin(role))


def _login(w: World, _u: str | None, role: str) -> Target:
    return Target(body={"username": w.names[role], "password": w.passwords[role]})


def _host_with(body: Callable[[World, str], Any]) -> Build:
    def build(w: World, u: str | None, r: str) -> Target:
        target = w.host(u)
        target.body = body(w, u or IN)
        return target

    return build


def _new_asset(w: World, u: str | None, _r: str) -> Target:
    code = u or MISSING_UNIT
    return Target(body={"hostname": w.fresh("printer-"), "unit": code}, ident=code)


def _sheet(w: World, u: str | None, _r: str) -> Target:
    from openpyxl import Workbook

    code = u or MISSING_UNIT
    book = Workbook()
    sheet = book.active
    sheet.append(["Unit", "Name", "Asset number", "Device type"])
    sheet.append([code, w.fresh("switch-"), w.fresh("ZC-"), "switch"])
    buffer = io.BytesIO()
    book.save(buffer)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Target(
        files={"file": ("assets.xlsx", buffer.getvalue(), xlsx)}, data={"dry_run": "false"}, ident=code
    )


def _bundle(w: World, u: str | None, _r: str) -> Target:
    code = u or MISSING_UNIT
    report = json.dumps(make_report(uuid.uuid4(), hostname=w.fresh("win7-"))).encode()
    return Target(files={"file": ("scan.json", report, "application/json")}, data={"unit": code}, ident=code)


def _policies_first_check(w: World) -> str:
    from collector.services.compliance import active_catalog

    with w.c.sessions() as session:
        return sorted(active_catalog(session).checks)[0]


def _policies_source(w: World) -> tuple[str, str]:
    """A shipped pack's text with a version above every stored one (a valid new version)."""
    import re as _re

    from collector.db.models_policy import PolicyPack
    from collector.policy.loader import default_policies_dir

    path = sorted((default_policies_dir() / "packs").glob("*.yaml"))[0]
    with w.c.sessions() as session:
        versions = session.scalars(select(PolicyPack.version).where(PolicyPack.name == path.stem)).all()
    text = _re.sub(r"(?m)^version: *\d+", f"version: {max(versions, default=0) + 1}", path.read_text("utf-8"))
    return path.stem, text


def _policies_upload(w: World, _u: str | None, _r: str) -> Target:
    return Target(body={"source": _policies_source(w)[1]})


def _policies_pending(w: World, _u: str | None, _r: str) -> Target:
    from collector.services.compliance import stage_pack

    name, text = _policies_source(w)
    with w.c.sessions() as session:
        admin = session.scalar(select(User).where(User.username == w.names["spare"]))
        assert admin is not None
        row, _ = stage_pack(session, principal_for_user(session, admin), text)
        session.commit()
        return Target(path={"pack": name, "version": row.version})


def _policies_version(w: World, _u: str | None, _r: str) -> Target:
    from collector.db.models_policy import PolicyPack

    with w.c.sessions() as session:
        row = session.scalars(select(PolicyPack).where(PolicyPack.status == "active")).first()
        assert row is not None
        return Target(path={"pack": row.name, "version": row.version})


def _policies_check(w: World, _u: str | None, _r: str) -> Target:
    return Target(path={"check_id": _policies_first_check(w)})


def _policies_host_check(w: World, u: str | None, r: str) -> Target:
    target = w.host(u, report=u is not None)
    target.path["check_id"] = _policies_first_check(w)
    return target


# --- vpn register (issue 6) helpers ---
def _vpn_appliance(w: World, unit: str) -> int:
    """A VPN appliance (an asset without agent) of ``unit``, made directly in the database."""
    with w.c.sessions() as session:
        unit_id = session.scalar(select(Unit.id).where(Unit.code == unit))
        name = w.fresh("oos-xiuning-pc-vpn" if unit == OUT else "she-vpn")
        host = Host(agent_id=uuid.uuid4(), unit_id=unit_id, hostname=name, source="manual",
                    device_type="vpn appliance", vendor="sangfor")  # fmt: skip
        session.add(host)
        session.commit()
        return host.id


def _vpn_account(w: World, unit: str) -> tuple[int, int]:
    """(account id, staff id) of a new appliance account and roster entry of ``unit``."""
    from collector.db.models_vpn import StaffMember, VpnAccount

    host_id = _vpn_appliance(w, unit)
    with w.c.sessions() as session:
        host = session.get(Host, host_id)
        assert host is not None
        person = StaffMember(unit_id=host.unit_id, name=w.fresh("staff-"), accounts=[])
        account = VpnAccount(host_id=host.id, unit_id=host.unit_id, source="import", server=host.hostname,
                             account=w.fresh("vpnuser"), reasons=[])  # fmt: skip
        session.add_all([person, account])
        session.commit()
        return account.id, person.id


def _vpn_account_target(with_owner: bool = False) -> Build:
    def build(w: World, u: str | None, _r: str) -> Target:
        if u is None:
            account_id, staff_id = MISSING_ID, MISSING_ID
        else:
            account_id, staff_id = _vpn_account(w, u)
        body = {"owner_id": staff_id if u else None, "note": "matrix"} if with_owner else None
        return Target(path={"account_id": account_id}, ident=str(account_id), body=body)

    return build


def _vpn_staff_sheet(w: World, u: str | None, _r: str) -> Target:
    from openpyxl import Workbook

    code = u or MISSING_UNIT
    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "单位", "状态", "VPN账号"])
    sheet.append([w.fresh("员工"), code, "在职", w.fresh("vpn")])
    buffer = io.BytesIO()
    book.save(buffer)
    files = {"file": ("名单.xlsx", buffer.getvalue(), "application/octet-stream")}
    return Target(files=files, data={"dry_run": "false"}, ident=code)


def _vpn_user_list(w: World, u: str | None, _r: str) -> Target:
    host_id = _vpn_appliance(w, u) if u else MISSING_ID
    data = "用户名,姓名,状态,密码\r\nzhangwei,张伟,启用,Sangfor@2021\r\n".encode("gbk")
    return Target(path={"host_id": host_id}, ident=str(host_id), files={"file": ("users.csv", data, "text/csv")},
                  data={"dry_run": "false"})  # fmt: skip


# --- end vpn register (issue 6) helpers ---


# --- vpn syslog (issue 6) helpers ---
_VPN_SYSLOG_SAMPLE = "用户 张伟 从 198.18.2.9 登录成功"


def _vpn_syslog_appliance(w: World, unit: str) -> int:
    """A VPN appliance of ``unit``, made by the city admin."""
    body = {"hostname": w.fresh("oos-xiuning-vpn" if unit == OUT else "she-vpn"), "unit": unit,
            "device_type": "vpn appliance", "vendor": "Sangfor", "ip_addresses": [f"198.18.9.{w.counter % 250 + 1}"]}  # fmt: skip
    answer = w.c.client.post("/api/v1/assets", json=body, headers=w.headers["city_admin"])
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _vpn_syslog_body(host_id: int) -> dict[str, Any]:
    return {"host_id": host_id, "name": "login", "result": "success",
            "template": "用户 {user} 从 {src_ip} 登录成功", "sample": _VPN_SYSLOG_SAMPLE}  # fmt: skip


def _vpn_syslog_new(w: World, u: str | None, _r: str) -> Target:
    host_id = _vpn_syslog_appliance(w, u) if u else MISSING_ID
    return Target(body=_vpn_syslog_body(host_id), ident=str(host_id))


def _vpn_syslog_template(body: Any = None) -> Build:
    def build(w: World, u: str | None, _r: str) -> Target:
        if u is None:
            return Target(path={"template_id": MISSING_ID}, ident=str(MISSING_ID), body=body)
        answer = w.c.client.post("/api/v1/vpn/templates", json=_vpn_syslog_body(_vpn_syslog_appliance(w, u)),
                                 headers=w.headers["city_admin"])  # fmt: skip
        assert answer.status_code == 201, answer.text
        template_id = answer.json()["id"]
        return Target(path={"template_id": template_id}, ident=str(template_id), body=body)

    return build


# --- end vpn syslog (issue 6) helpers ---


# --- trainings (issue 7) helpers ---
_TRAININGS_PDF = b"%PDF-1.4\n%%EOF\n"


def _trainings_make(w: World, unit: str) -> dict[str, Any]:
    """A training of ``unit`` with one attendee and one file, made by the city admin."""
    body = {"held_on": "2026-04-15", "topic": w.fresh("matrix-training-"), "unit": unit,
            "attendees": [{"name": w.fresh("attendee-"), "unit": unit}]}  # fmt: skip
    answer = w.c.client.post("/api/v1/trainings", json=body, headers=w.headers["city_admin"])
    assert answer.status_code == 201, answer.text
    training = answer.json()
    files = {"file": ("slides.pdf", _TRAININGS_PDF, "application/pdf")}
    added = w.c.client.post(
        f"/api/v1/trainings/{training['id']}/materials", files=files, headers=w.headers["city_admin"]
    )
    assert added.status_code == 201, added.text
    return {"training_id": training["id"], "attendee_id": training["attendees"][0]["id"],
            "material_id": added.json()["id"]}  # fmt: skip


def _trainings_target(*keys: str, body: Callable[[World, str], Any] | None = None, **extra: Any) -> Build:
    def build(w: World, u: str | None, _r: str) -> Target:
        missing = dict.fromkeys(("training_id", "attendee_id", "material_id"), MISSING_ID)
        ids = _trainings_make(w, u) if u else missing
        path = {k: ids[k] for k in ("training_id", *keys)}
        content = body(w, u or IN) if body else None
        return Target(path=path, ident=str(ids["training_id"]), body=content, **extra)

    return build


def _trainings_new(w: World, u: str | None, _r: str) -> Target:
    code = u or MISSING_UNIT
    return Target(body={"held_on": "2026-04-15", "topic": w.fresh("new-training-"), "unit": code}, ident=code)


def _trainings_sheet() -> dict[str, Any]:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "单位", "学时", "签到"])
    sheet.append(["张三", IN, 2, "是"])
    buffer = io.BytesIO()
    book.save(buffer)
    return {"file": ("签到表.xlsx", buffer.getvalue(), "application/octet-stream")}


def _trainings_year(_w: World, _u: str | None, _r: str) -> Target:
    return Target(path={"year": 2026})


# --- end trainings (issue 7) helpers ---


# --- findings (issue 5) helpers ---
def _findings_principal(w: World, role: str) -> Any:
    with w.c.sessions() as session:
        user = session.scalar(select(User).where(User.username == w.names[role]))
        return principal_for_user(session, user)


def _finding(body: Any = None, then: tuple[str, ...] = ()) -> Build:
    """A failing host x check in the unit; ``then``: actions the spare city admin takes first
    (claim, exempt, close)."""
    from collector.policy.meta import CheckMeta
    from collector.services import findings
    from collector.services import findings_actions as actions

    check = CheckMeta(
        "antivirus.enabled", "antivirus", "防病毒未启用", "Antivirus off", "high", "antivirus", 7
    )

    def build(w: World, u: str | None, _r: str) -> Target:
        if u is None:
            wanted = body() if callable(body) else body
            return Target(path={"finding_id": MISSING_ID}, body=wanted, ident=str(MISSING_ID))
        spare = _findings_principal(w, "spare")
        now = _now()
        with w.c.sessions() as session:
            unit_id = session.scalar(select(Unit.id).where(Unit.code == u))
            host = Host(
                agent_id=uuid.uuid4(),
                unit_id=unit_id,
                hostname=w.fresh("oos-xiuning-pc" if u == OUT else "she-pc"),
            )
            session.add(host)
            session.flush()
            found = findings.on_result(session, host=host, check=check, status="fail", evidence=[], at=now)
            assert found is not None
            session.commit()
            for action in then:
                given = actions.ActionInput(note="done", reason="legacy", expires_at=now + timedelta(days=30))
                actions.act(session, spare, found.id, action, given, at=now)
            wanted = body() if callable(body) else body
            return Target(path={"finding_id": found.id}, body=wanted, ident=str(found.id))

    return build


def _finding_assign(w: World, u: str | None, r: str) -> Target:
    target = _finding()(w, u, r)
    assignee = "district_admin" if u == IN else "spare"
    with w.c.sessions() as session:
        assignee_id = session.scalar(select(User.id).where(User.username == w.names[assignee]))
    target.body = {"assignee_id": assignee_id}
    return target


def _finding_bulk(w: World, u: str | None, r: str) -> Target:
    target = _finding()(w, u, r)
    return Target(
        body={"action": "close", "ids": [target.path["finding_id"]], "note": "x"}, ident=target.ident
    )


def _inbox_item(w: World, u: str | None, role: str) -> Target:
    """In scope: an item of the caller; out of scope: another user's item."""
    from sqlalchemy import func

    from collector.db.models_inbox import InboxItem
    from collector.services import inbox

    if u is None:
        return Target(path={"item_id": MISSING_ID}, ident=str(MISSING_ID))
    owner = w.names[role] if u == IN else w.names["spare"]
    with w.c.sessions() as session:
        user_id = session.scalar(select(User.id).where(User.username == owner))
        assert user_id is not None
        inbox.add_items(session, [user_id], kind="finding_opened", text_zh="x", text_en="x", at=_now())
        session.commit()
        item_id = session.scalar(select(func.max(InboxItem.id)))
    return Target(path={"item_id": item_id}, ident=str(item_id))


# --- end findings (issue 5) helpers ---


# --- drills and plans (issue 7) helpers ---
def _drill_api(w: World, method: str, path: str, body: Any = None) -> Any:
    """A call as the spare city admin (builders make their objects this way)."""
    answer = w.c.client.request(method, path, json=body, headers=w.headers["spare"])
    assert answer.is_success, answer.text
    return answer.json() if answer.content else None


def _drill_plan_ready(w: World, unit: str) -> dict[str, Any]:
    """The unit's plan as the API shows it, with an approved version."""
    plan = _drill_api(w, "GET", f"/api/v1/plans/{unit}")
    if plan["current"] is None:
        draft = plan["draft"] or _drill_api(w, "POST", f"/api/v1/plans/{unit}/versions", {})
        _drill_api(w, "POST", f"/api/v1/plan-versions/{draft['id']}/approve")
        plan = _drill_api(w, "GET", f"/api/v1/plans/{unit}")
    return dict(plan)


def _drill_new(w: World, unit: str, stage: str = "planned") -> int:
    _drill_plan_ready(w, unit)
    body = {"unit": unit, "title": "matrix drill", "kind": "tabletop", "coverage": "specialised",
            "scenario_key": "server-room-outage", "planned_date": "2026-06-01"}  # fmt: skip
    drill_id = int(_drill_api(w, "POST", "/api/v1/drills", body)["id"])
    kinds = {"planned": [], "running": ["start"], "finished": ["start", "finish"]}[stage]
    for kind in kinds:
        event = {"client_id": uuid.uuid4().hex, "kind": kind}
        _drill_api(w, "POST", f"/api/v1/drills/{drill_id}/events", {"events": [event]})
    return drill_id


def _drill_target(stage: str = "planned", body: Callable[[], Any] | None = None) -> Build:
    def build(w: World, u: str | None, _r: str) -> Target:
        drill_id = MISSING_ID if u is None else _drill_new(w, u, stage)
        return Target(path={"drill_id": drill_id}, body=body() if body else None, ident=str(drill_id))

    return build


def _drill_events() -> Any:
    return {
        "events": [
            {"client_id": uuid.uuid4().hex, "kind": "step", "step_key": "so-detect-1", "status": "done"}
        ]
    }


def _drill_action_target(body: Any = None) -> Build:
    def build(w: World, u: str | None, _r: str) -> Target:
        if u is None:
            return Target(path={"action_id": MISSING_ID}, body=body, ident=str(MISSING_ID))
        drill_id = _drill_new(w, u, "finished")
        action = {"problem": "matrix", "owner": "x", "due_date": "2026-12-31"}
        action_id = _drill_api(w, "POST", f"/api/v1/drills/{drill_id}/actions", action)["id"]
        return Target(path={"action_id": action_id}, body=body, ident=str(action_id))

    return build


def _drill_version(status: str, body: Any = None) -> Build:
    """The unit's approved version, or its draft (made when there is none)."""

    def build(w: World, u: str | None, _r: str) -> Target:
        if u is None:
            return Target(path={"version_id": MISSING_ID}, body=body, ident=str(MISSING_ID))
        plan = _drill_plan_ready(w, u)
        version = plan["current"] if status == "approved" else plan["draft"]
        if version is None:
            version = _drill_api(w, "POST", f"/api/v1/plans/{u}/versions", {})
        return Target(path={"version_id": version["id"]}, body=body, ident=str(version["id"]))

    return build


def _drill_no_draft(w: World, u: str | None, _r: str) -> Target:
    """A unit whose plan has no draft (a new one may be started)."""
    if u is not None:
        draft = _drill_api(w, "GET", f"/api/v1/plans/{u}")["draft"]
        if draft is not None:
            _drill_api(w, "DELETE", f"/api/v1/plan-versions/{draft['id']}")
    return Target(path={"code": u or MISSING_UNIT}, body={"note": "matrix"}, ident=u or MISSING_UNIT)


def _drill_create(w: World, u: str | None, _r: str) -> Target:
    if u is not None:
        _drill_plan_ready(w, u)
    code = u or MISSING_UNIT
    body = {"unit": code, "title": "matrix drill", "kind": "hands_on", "coverage": "comprehensive",
            "scenario_key": "vpn-account-compromise", "planned_date": "2026-07-01"}  # fmt: skip
    return Target(body=body, ident=code)


def _drill_closable(w: World, u: str | None, r: str) -> Target:
    """A finished drill with its after-action report written and no open action."""
    target = _drill_target("finished")(w, u, r)
    if u is not None:
        review = {"went_well": "m", "summary": "m"}
        _drill_api(w, "PUT", f"/api/v1/drills/{target.path['drill_id']}/review", review)
    return target


_DRILL_PATCH = {"title": "matrix drill", "kind": "tabletop", "coverage": "specialised",
                "scenario_key": "website-defacement", "planned_date": "2026-08-01"}  # fmt: skip


# --- end drills and plans (issue 7) helpers ---


def _bulletin_period() -> str:
    """Last month (Asia/Shanghai): a period that is over, so that its bulletin can be issued."""
    from collector.services.bulletin_periods import local_today, period_containing

    return period_containing("month", local_today()).previous().key


def _bulletin_new(_w: World, u: str | None, _r: str) -> Target:
    code = u or MISSING_UNIT
    return Target(body={"period": _bulletin_period(), "unit": code}, ident=code)


def _bulletin_preview(_w: World, u: str | None, _r: str) -> Target:
    code = u or MISSING_UNIT
    return Target(query={"period": _bulletin_period(), "unit": code}, ident=code)


def _bulletin(issued: bool = False, body: Any = None) -> Build:
    """A draft (or an issued bulletin) of the unit, made by the city admin."""

    def build(w: World, u: str | None, _r: str) -> Target:
        if u is None:
            return Target(path={"bulletin_id": MISSING_ID}, ident=str(MISSING_ID), body=body)
        city = w.headers["city_admin"]
        made = w.c.client.post(
            "/api/v1/bulletins", json={"period": _bulletin_period(), "unit": u}, headers=city
        )
        assert made.status_code == 201, made.text
        bulletin_id = made.json()["id"]
        if issued:
            done = w.c.client.post(f"/api/v1/bulletins/{bulletin_id}/issue", headers=city)
            assert done.status_code == 200, done.text
        return Target(path={"bulletin_id": bulletin_id}, ident=str(bulletin_id), body=body)

    return build


ROUTES: dict[tuple[str, str], Spec] = {
    ("POST", "/api/v1/auth/login"): Spec("public", _login),
    ("POST", "/api/v1/auth/logout"): Spec("self", _logout, ok=204, scoped=False),
    ("GET", "/api/v1/auth/me"): Spec("self", _none, scoped=False),
    ("GET", "/api/v1/units"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/hosts"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/units/{code}/agent-config"): Spec("read", _unit()),
    ("PUT", "/api/v1/units/{code}/agent-config"): Spec("write", _unit({"heartbeat_seconds": 1800})),
    ("POST", "/api/v1/hosts/{host_id}/revoke-keys"): Spec("write", _host),
    ("POST", "/api/v1/hosts/{host_id}/rotate-key"): Spec("write", _host, ok=202),
    # the register (collector/api/register.py)
    ("GET", "/api/v1/hosts/{host_id}"): Spec("read", _host),
    ("GET", "/api/v1/hosts/{host_id}/changes"): Spec("read", _host),
    ("GET", "/api/v1/software"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/software/versions"): Spec("read", _list({"name": "apt"}), scoped=False),
    ("GET", "/api/v1/hardware/models"): Spec("read", _list(), scoped=False),
    # exports (collector/api/exports.py)
    ("GET", "/api/v1/exports/hosts.xlsx"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/exports/hosts.csv"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/exports/software.xlsx"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/exports/software.csv"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/exports/hosts/{host_id}/software.csv"): Spec("read", _host),
    # assets without an agent, register fields, duplicates, imports (collector/api/assets.py)
    ("PATCH", "/api/v1/hosts/{host_id}"): Spec("write", _host_with(lambda _w, _u: {"owner": "王五"})),
    ("POST", "/api/v1/hosts/{host_id}/move"): Spec("write", _host_with(lambda _w, u: {"unit": u})),
    ("POST", "/api/v1/hosts/{host_id}/retire"): Spec("write", _host),
    ("POST", "/api/v1/hosts/{host_id}/reactivate"): Spec("write", _host),
    ("POST", "/api/v1/hosts/{host_id}/merge"): Spec(
        "write", _host_with(lambda w, u: {"into": w.host(u).path["host_id"]})
    ),
    ("POST", "/api/v1/assets"): Spec("write", _new_asset, ok=201),
    ("GET", "/api/v1/duplicates"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/assets/import-template.xlsx"): Spec("read", _list(), scoped=False),
    ("POST", "/api/v1/assets/import"): Spec("write", _sheet),
    ("POST", "/api/v1/assets/bundle"): Spec("write", _bundle),
    # users and roles
    ("GET", "/api/v1/users"): Spec("read", _list(), scoped=False),
    ("POST", "/api/v1/users"): Spec("write", _new_user, ok=201),
    ("GET", "/api/v1/users/{user_id}"): Spec("read", _user_target()),
    ("POST", "/api/v1/users/{user_id}/grants"): Spec(
        "write", _user_target(lambda u: {"grants": [{"role": "inspector", "unit_code": u or MISSING_UNIT}]})
    ),
    ("DELETE", "/api/v1/users/{user_id}/grants/{grant_id}"): Spec("write", _grant),
    ("POST", "/api/v1/users/{user_id}/disable"): Spec("write", _user_target()),
    ("POST", "/api/v1/users/{user_id}/enable"): Spec("write", _user_target()),
    ("POST", "/api/v1/users/{user_id}/reset-password"): Spec("write", _user_target()),
    ("POST", "/api/v1/users/{user_id}/unlock"): Spec("write", _user_target()),
    ("POST", "/api/v1/users/{user_id}/reset-totp"): Spec("write", _user_target()),
    # the caller's own account
    ("GET", "/api/v1/account"): Spec("self", _none, scoped=False),
    ("POST", "/api/v1/account/password"): Spec("self", _password_change, ok=204, scoped=False),
    ("POST", "/api/v1/account/totp"): Spec("self", _none, scoped=False),
    ("POST", "/api/v1/account/totp/confirm"): Spec("self", _totp_confirm, scoped=False),
    ("POST", "/api/v1/account/totp/disable"): Spec("self", _totp_disable, scoped=False),
    ("GET", "/api/v1/account/tokens"): Spec("self", _none, scoped=False),
    ("POST", "/api/v1/account/tokens"): Spec(
        "self", lambda _w, _u, _r: Target(body={"name": "script"}), ok=201, scoped=False
    ),
    ("DELETE", "/api/v1/account/tokens/{token_id}"): Spec("self", _token),
    # node keys and enrollment secrets
    ("GET", "/api/v1/node-keys"): Spec("read", _list({"include_revoked": "true"}), scoped=False),
    ("GET", "/api/v1/hosts/{host_id}/node-keys"): Spec("read", _host),
    ("GET", "/api/v1/units/{code}/enroll-secrets"): Spec("read", _unit()),
    ("POST", "/api/v1/units/{code}/enroll-secrets"): Spec(
        "write", _unit({"label": "m", "max_uses": 1}), ok=201
    ),
    ("POST", "/api/v1/enroll-secrets/{secret_id}/revoke"): Spec("write", _secret),
    # the audit log
    ("GET", "/api/v1/audit"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/audit.csv"): Spec("read", _list(), scoped=False),
    # --- policies (issue 5) ---
    ("GET", "/api/v1/policies"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/policies/{pack}/versions/{version}"): Spec("read", _policies_version, scoped=False),
    ("POST", "/api/v1/policies"): Spec("city", _policies_upload, ok=201, scoped=False),
    ("POST", "/api/v1/policies/{pack}/versions/{version}/apply"): Spec(
        "city", _policies_pending, scoped=False
    ),
    ("GET", "/api/v1/checks"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/checks/{check_id}"): Spec("read", _policies_check, scoped=False),
    ("GET", "/api/v1/checks/{check_id}/hosts"): Spec("read", _policies_check, scoped=False),
    ("GET", "/api/v1/compliance/units"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/hosts/{host_id}/compliance"): Spec("read", _host),
    ("GET", "/api/v1/hosts/{host_id}/compliance/{check_id}/history"): Spec("read", _policies_host_check),
    ("GET", "/api/v1/units/{code}/policy"): Spec("read", _unit()),
    ("PUT", "/api/v1/units/{code}/policy"): Spec("write", _unit({"params": {}, "checks": {}})),
    # --- end policies (issue 5) ---
    # --- findings (issue 5) ---
    ("GET", "/api/v1/findings"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/findings.csv"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/findings.xlsx"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/findings/{finding_id}"): Spec("read", _finding()),
    ("POST", "/api/v1/findings/bulk"): Spec("write", _finding_bulk),
    ("POST", "/api/v1/findings/{finding_id}/assign"): Spec("write", _finding_assign),
    ("POST", "/api/v1/findings/{finding_id}/claim"): Spec("write", _finding({"note": "更新了特征库"})),
    ("POST", "/api/v1/findings/{finding_id}/verify"): Spec("verify", _finding({}, ("claim",))),
    ("POST", "/api/v1/findings/{finding_id}/close"): Spec("write", _finding({"note": "误报"})),
    ("POST", "/api/v1/findings/{finding_id}/reopen"): Spec("write", _finding({"note": "again"}, ("close",))),
    ("POST", "/api/v1/findings/{finding_id}/exempt"): Spec(
        "write",
        _finding(lambda: {"reason": "legacy", "expires_at": (_now() + timedelta(days=90)).isoformat()}),
    ),
    ("POST", "/api/v1/findings/{finding_id}/exemption/approve"): Spec("write", _finding({}, ("exempt",))),
    ("POST", "/api/v1/findings/{finding_id}/exemption/reject"): Spec(
        "write", _finding({"note": "no"}, ("exempt",))
    ),
    ("POST", "/api/v1/findings/{finding_id}/notes"): Spec("write", _finding({"note": "phoned them"})),
    ("GET", "/api/v1/inbox"): Spec("self", _none, scoped=False),
    ("POST", "/api/v1/inbox/{item_id}/read"): Spec("self", _inbox_item),
    ("POST", "/api/v1/inbox/read-all"): Spec("self", _none, scoped=False),
    # --- end findings (issue 5) ---
    # --- bulletins (issue 5) ---
    ("GET", "/api/v1/bulletins/preview"): Spec("read", _bulletin_preview),
    ("GET", "/api/v1/bulletins"): Spec("read", _list({"status": "draft"}), scoped=False),
    ("POST", "/api/v1/bulletins"): Spec("write", _bulletin_new, ok=201),
    ("GET", "/api/v1/bulletins/{bulletin_id}"): Spec("read", _bulletin(issued=True)),
    ("PATCH", "/api/v1/bulletins/{bulletin_id}"): Spec("write", _bulletin(body={"remarks": "请按期整改。"})),
    ("DELETE", "/api/v1/bulletins/{bulletin_id}"): Spec("write", _bulletin(), ok=204),
    ("POST", "/api/v1/bulletins/{bulletin_id}/issue"): Spec("write", _bulletin()),
    ("GET", "/api/v1/bulletins/{bulletin_id}/docx"): Spec("read", _bulletin(issued=True)),
    ("GET", "/api/v1/bulletins/{bulletin_id}/xlsx"): Spec("read", _bulletin()),
    # --- end bulletins (issue 5) ---
    # --- drills and plans (issue 7) ---
    ("GET", "/api/v1/drill-templates"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/drill-templates/{key}"): Spec(
        "read", lambda _w, _u, _r: Target(path={"key": "microdata-leak"}), scoped=False
    ),
    ("GET", "/api/v1/plans"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/plans/{code}"): Spec("read", _unit()),
    ("POST", "/api/v1/plans/{code}/versions"): Spec("write", _drill_no_draft, ok=201),
    ("GET", "/api/v1/plan-versions/{version_id}"): Spec("read", _drill_version("approved")),
    ("PUT", "/api/v1/plan-versions/{version_id}"): Spec("write", _drill_version("draft", {"note": "m"})),
    ("DELETE", "/api/v1/plan-versions/{version_id}"): Spec("write", _drill_version("draft"), ok=204),
    ("POST", "/api/v1/plan-versions/{version_id}/approve"): Spec("write", _drill_version("draft")),
    ("GET", "/api/v1/plan-versions/{version_id}/diff"): Spec("read", _drill_version("approved")),
    ("GET", "/api/v1/plan-versions/{version_id}/document.docx"): Spec("read", _drill_version("approved")),
    ("GET", "/api/v1/drills/calendar"): Spec("read", _list({"year": 2026}), scoped=False),
    ("GET", "/api/v1/drills"): Spec("read", _list({"year": 2026}), scoped=False),
    ("POST", "/api/v1/drills"): Spec("write", _drill_create, ok=201),
    ("GET", "/api/v1/drills/{drill_id}"): Spec("read", _drill_target()),
    ("PUT", "/api/v1/drills/{drill_id}"): Spec("write", _drill_target(body=lambda: _DRILL_PATCH)),
    ("POST", "/api/v1/drills/{drill_id}/cancel"): Spec("write", _drill_target(body=lambda: {"reason": "m"})),
    ("GET", "/api/v1/drills/{drill_id}/state"): Spec("read", _drill_target("running")),
    ("POST", "/api/v1/drills/{drill_id}/events"): Spec("write", _drill_target("running", _drill_events)),
    ("GET", "/api/v1/drills/{drill_id}/report.docx"): Spec("read", _drill_target("finished")),
    ("PUT", "/api/v1/drills/{drill_id}/review"): Spec(
        "write", _drill_target("finished", lambda: {"went_well": "m", "summary": "m"})
    ),
    ("POST", "/api/v1/drills/{drill_id}/actions"): Spec(
        "write",
        _drill_target("finished", lambda: {"problem": "m", "owner": "m", "due_date": "2026-12-31"}),
        ok=201,
    ),
    ("PUT", "/api/v1/drill-actions/{action_id}"): Spec(
        "write", _drill_action_target({"problem": "m2", "owner": "m", "due_date": "2026-12-30"})
    ),
    ("POST", "/api/v1/drill-actions/{action_id}/resolve"): Spec(
        "write", _drill_action_target({"outcome": "waived", "note": "matrix"})
    ),
    ("POST", "/api/v1/drills/{drill_id}/revise-plan"): Spec("write", _drill_target("finished")),
    ("POST", "/api/v1/drills/{drill_id}/close"): Spec("write", _drill_closable),
    # --- end drills and plans (issue 7) ---
    # --- vpn register (issue 6) ---
    ("GET", "/api/v1/vpn/accounts"): Spec("read", _list({"zombie": "yes"}), scoped=False),
    ("GET", "/api/v1/vpn/accounts/export.xlsx"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/vpn/accounts/export.csv"): Spec("read", _list({"lang": "en"}), scoped=False),
    ("GET", "/api/v1/vpn/accounts/{account_id}"): Spec("read", _vpn_account_target()),
    ("PATCH", "/api/v1/vpn/accounts/{account_id}"): Spec("write", _vpn_account_target(with_owner=True)),
    ("GET", "/api/v1/vpn/summary"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/vpn/staff"): Spec("read", _list({"status": "active"}), scoped=False),
    ("GET", "/api/v1/vpn/staff/template.xlsx"): Spec("read", _list(), scoped=False),
    ("POST", "/api/v1/vpn/staff/import"): Spec("write", _vpn_staff_sheet),
    ("POST", "/api/v1/vpn/appliances/{host_id}/accounts/import"): Spec("write", _vpn_user_list),
    # --- end vpn register (issue 6) ---
    # --- vpn syslog (issue 6) ---
    ("GET", "/api/v1/vpn/templates"): Spec("read", _list(), scoped=False),
    ("POST", "/api/v1/vpn/templates"): Spec("write", _vpn_syslog_new, ok=201),
    ("GET", "/api/v1/vpn/templates/{template_id}"): Spec("read", _vpn_syslog_template()),
    ("PATCH", "/api/v1/vpn/templates/{template_id}"): Spec("write", _vpn_syslog_template({"enabled": False})),
    ("DELETE", "/api/v1/vpn/templates/{template_id}"): Spec("write", _vpn_syslog_template(), ok=204),
    ("POST", "/api/v1/vpn/templates/test"): Spec(
        "read",
        lambda _w, _u, _r: Target(
            body={"template": "用户 {user} 从 {src_ip} 登录成功", "sample": _VPN_SYSLOG_SAMPLE}
        ),
        scoped=False,
    ),
    ("POST", "/api/v1/vpn/templates/suggest"): Spec(
        "read", lambda _w, _u, _r: Target(body={"sample": _VPN_SYSLOG_SAMPLE, "user": "张伟"}), scoped=False
    ),
    # --- end vpn syslog (issue 6) ---
    # --- trainings (issue 7) ---
    ("GET", "/api/v1/trainings"): Spec("read", _list({"year": 2026}), scoped=False),
    ("POST", "/api/v1/trainings"): Spec("write", _trainings_new, ok=201),
    ("GET", "/api/v1/trainings/attendance-template.xlsx"): Spec("read", _list(), scoped=False),
    ("GET", "/api/v1/trainings/{training_id}"): Spec("read", _trainings_target()),
    ("PATCH", "/api/v1/trainings/{training_id}"): Spec(
        "write", _trainings_target(body=lambda _w, _u: {"hours": 2})
    ),
    ("DELETE", "/api/v1/trainings/{training_id}"): Spec("write", _trainings_target(), ok=204),
    ("POST", "/api/v1/trainings/{training_id}/attendees"): Spec(
        "write", _trainings_target(body=lambda w, u: {"name": w.fresh("new-attendee-"), "unit": u}), ok=201
    ),
    ("DELETE", "/api/v1/trainings/{training_id}/attendees/{attendee_id}"): Spec(
        "write", _trainings_target("attendee_id"), ok=204
    ),
    ("POST", "/api/v1/trainings/{training_id}/attendance/import"): Spec(
        "write",
        lambda w, u, r: _trainings_target(files=_trainings_sheet(), data={"dry_run": "false"})(w, u, r),
    ),
    ("POST", "/api/v1/trainings/{training_id}/materials"): Spec(
        "write",
        _trainings_target(files={"file": ("handout.pdf", _TRAININGS_PDF, "application/pdf")}, data={}),
        ok=201,
    ),
    ("GET", "/api/v1/trainings/{training_id}/materials/{material_id}"): Spec(
        "read", _trainings_target("material_id")
    ),
    ("DELETE", "/api/v1/trainings/{training_id}/materials/{material_id}"): Spec(
        "write", _trainings_target("material_id"), ok=204
    ),
    ("GET", "/api/v1/annual/{year}"): Spec("read", _trainings_year, scoped=False),
    ("GET", "/api/v1/annual/{year}/export.xlsx"): Spec("read", _trainings_year, scoped=False),
    # --- end trainings (issue 7) ---
}

# Known gaps, each with the fix it waits for; strict: the test fails once the gap is closed,
# so the entry is removed with the fix.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def _operations() -> list[tuple[str, str]]:
    document = create_app(Settings(database_url="sqlite://")).openapi()
    found = [(method.upper(), path) for path, item in document["paths"].items() for method in item]
    return [op for op in found if op not in NOT_ADMIN]


OPERATIONS = _operations()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_route_is_in_the_matrix(method: str, path: str) -> None:
    assert (method, path) in ROUTES, (
        f"{method} {path} is not in the access matrix: add it to ROUTES in {__file__} "
        "(how to build its path, query and body for an object of a given unit)"
    )


def test_matrix_names_no_route_that_is_gone() -> None:
    assert set(ROUTES) <= set(OPERATIONS), set(ROUTES) - set(OPERATIONS)


@pytest.fixture
def world(collector: CollectorUnderTest) -> World:
    headers, passwords, names = {}, {}, {}
    # "spare", a second city admin: the requests without login are built for this one
    for role, unit in [*ROLE_UNIT.items(), ("spare", "341000")]:
        name = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
        user = _account(collector, name, unit, "city_admin" if role == "spare" else role)
        names[role], passwords[role] = name, _password_hash()[0]
        headers[role] = _session_headers(collector, user.id)
    w = World(collector, headers, passwords, names)
    w.host(IN, report=True)
    w.host(OUT, report=True)
    w.user(OUT)
    return w


def _call(w: World, method: str, path: str, target: Target, headers: dict[str, str] | None) -> Response:
    w.c.client.cookies.clear()  # only the Authorization header authenticates
    return w.c.client.request(
        method,
        path.format(**target.path),
        params=target.query,
        json=target.body,
        files=target.files,
        data=target.data,
        headers=headers or {},
    )


def _normalised(answer: Response, ident: str) -> tuple[int, Any]:
    text = answer.text.replace(ident, "<id>") if ident else answer.text
    try:
        return answer.status_code, json.loads(text)
    except ValueError:
        return answer.status_code, text


def _no_leak(answer: Response, where: str) -> None:
    if answer.headers.get("content-type", "").startswith(("application/json", "text/")):
        text = answer.content.decode("utf-8", "replace")
        leaked = [m for m in OOS_MARKERS if m in text]
        assert not leaked, f"{where}: shows the other county's {leaked}"


def _expected_in_scope(spec: Spec, role: str) -> int:
    if spec.kind == "city" and role != "city_admin":  # city-wide objects (policy packs)
        return 403
    if spec.kind == "write" and role not in ("city_admin", "district_admin"):
        return 403
    if spec.kind == "verify" and role == "auditor":  # findings: inspectors verify rectification
        return 403
    return spec.ok


def _matrix_cases() -> list[Any]:
    return [
        pytest.param(*op, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[op]))
        if op in KNOWN_GAPS
        else op
        for op in OPERATIONS
        if op in ROUTES
    ]


@pytest.mark.parametrize(("method", "path"), _matrix_cases())
def test_scope_and_roles(method: str, path: str, world: World) -> None:
    spec = ROUTES[(method, path)]
    if spec.kind == "public":
        answer = _call(world, method, path, spec.build(world, IN, "district_admin"), None)
        assert answer.status_code == spec.ok, answer.text
        return
    anonymous = _call(world, method, path, spec.build(world, IN, "spare"), None)
    assert anonymous.status_code == 401, f"{method} {path} without login: {anonymous.status_code}"
    assert anonymous.json()["error"] == "not_authenticated"
    for role in ROLES:
        where = f"{method} {path} as {role}"
        target = spec.build(world, IN, role)
        answer = _call(world, method, path, target, target.headers or world.headers[role])
        wanted = _expected_in_scope(spec, role)
        assert answer.status_code == wanted, f"{where}, in scope: {answer.status_code} {answer.text[:300]}"
        if answer.status_code == 403:
            body = answer.json()
            assert body["error"] and body["detail"], body  # a clear message
        if answer.is_success:
            if target.on_ok:
                target.on_ok()
            if role != "city_admin":
                _no_leak(answer, where)
        if not spec.scoped:
            continue
        outside = spec.build(world, OUT, role)
        out = _call(world, method, path, outside, world.headers[role])
        if role == "city_admin" and spec.kind != "self":
            assert out.status_code == _expected_in_scope(spec, role), f"{where}, 341022: {out.text[:300]}"
            continue
        missing = spec.build(world, None, role)
        gone = _call(world, method, path, missing, world.headers[role])
        assert not out.is_success, f"{where}: reached an object out of scope: {out.text[:300]}"
        assert _normalised(out, outside.ident) == _normalised(gone, missing.ident), (
            f"{where}: out of scope answers {out.status_code} {out.text[:200]}, "
            f"a missing object {gone.status_code} {gone.text[:200]}"
        )
