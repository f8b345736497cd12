"""Access control (issue 4, A9-G, A9-M3.5): accounts and roles managed within scope, the TOTP
second factor, API tokens, node keys and enrollment secrets, the audit log. SQLite and
PostgreSQL. (Every endpoint x role x scope: test_access_matrix.py.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
from sqlalchemy import select, update

from collector.db.base import utcnow
from collector.db.models import ApiToken, AuditLog, EnrollSecret, User
from tests.support.collector import CollectorUnderTest

SHE, XIUNING = "341021", "341022"


def _post(
    c: CollectorUnderTest, path: str, headers: dict[str, str], body: Any = None, status: int = 200
) -> Any:
    answer = c.client.post(path, json=body, headers=headers)
    assert answer.status_code == status, answer.text
    return answer.json() if answer.content else None


def _get(c: CollectorUnderTest, path: str, headers: dict[str, str], **params: Any) -> Any:
    answer = c.client.get(path, headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _new_user(c: CollectorUnderTest, headers: dict[str, str], name: str, *grants: tuple[str, str]) -> Any:
    body = {"username": name, "grants": [{"role": r, "unit_code": u} for r, u in grants]}
    return _post(c, "/api/v1/users", headers, body, status=201)


def _audit_actions(c: CollectorUnderTest) -> list[str]:
    with c.sessions() as session:
        return list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_a_district_admin_creates_accounts_inside_their_district_only(collector: CollectorUnderTest) -> None:
    she_admin = collector.admin_headers(SHE, "district_admin")
    created = _new_user(collector, she_admin, "she.auditor", ("auditor", SHE), ("inspector", SHE))
    assert sorted(r["role"] for r in created["user"]["roles"]) == ["auditor", "inspector"]
    # the generated password is shown once and works
    assert created["password"] and collector.login("she.auditor", created["password"])
    # another county looks like a unit that does not exist; the city role is not theirs to give
    other = collector.client.post(
        "/api/v1/users",
        json={"username": "x1", "grants": [{"role": "auditor", "unit_code": XIUNING}]},
        headers=she_admin,
    )
    assert other.status_code == 404 and other.json()["error"] == "unknown_unit"
    city_role = collector.client.post(
        "/api/v1/users",
        json={"username": "x2", "grants": [{"role": "city_admin", "unit_code": SHE}]},
        headers=she_admin,
    )
    assert city_role.status_code == 403
    listed = _get(collector, "/api/v1/users", she_admin)
    assert "she.auditor" in [u["username"] for u in listed["items"]]


def test_a_user_with_a_role_outside_the_district_is_not_theirs_to_manage(
    collector: CollectorUnderTest,
) -> None:
    city = collector.admin_headers()
    both = _new_user(collector, city, "two.counties", ("auditor", SHE), ("auditor", XIUNING))["user"]
    she_admin = collector.admin_headers(SHE, "district_admin")
    assert collector.client.get(f"/api/v1/users/{both['id']}", headers=she_admin).status_code == 404
    assert collector.client.post(f"/api/v1/users/{both['id']}/disable", headers=she_admin).status_code == 404


def test_weak_passwords_are_refused(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    for weak in ("short1A!", "alllowercaseletters", "zhang.san-Secret1"):
        answer = collector.client.post(
            "/api/v1/users",
            json={
                "username": "zhang.san",
                "password": weak,
                "grants": [{"role": "auditor", "unit_code": SHE}],
            },
            headers=city,
        )
        assert answer.status_code == 422 and answer.json()["error"] == "weak_password", weak


def test_auditors_and_inspectors_read_but_never_write(collector: CollectorUnderTest) -> None:
    for role in ("auditor", "inspector"):
        headers = collector.admin_headers(SHE, role)
        assert _get(collector, "/api/v1/users", headers)["total"] >= 1
        refused = collector.client.post(
            "/api/v1/users",
            json={"username": f"new.{role}", "grants": [{"role": "auditor", "unit_code": SHE}]},
            headers=headers,
        )
        assert refused.status_code == 403 and refused.json()["error"] == "read_only"
        assert "read-only" in refused.json()["detail"]


def test_nobody_manages_their_own_account_through_the_admin_api(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    me = _get(collector, "/api/v1/account", city)
    answer = collector.client.post(f"/api/v1/users/{me['id']}/disable", headers=city)
    assert answer.status_code == 403 and answer.json()["error"] == "own_account"


def test_roles_on_several_units_and_the_last_role_stays(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    user = _new_user(collector, city, "li.si", ("auditor", SHE))["user"]
    grown = _post(
        collector,
        f"/api/v1/users/{user['id']}/grants",
        city,
        {"grants": [{"role": "auditor", "unit_code": XIUNING}, {"role": "inspector", "unit_code": "341023"}]},
    )
    assert sorted(r["unit_code"] for r in grown["roles"]) == [SHE, XIUNING, "341023"]
    for role in grown["roles"][:2]:
        answer = collector.client.delete(f"/api/v1/users/{user['id']}/grants/{role['id']}", headers=city)
        assert answer.status_code == 200
    last = grown["roles"][2]["id"]
    answer = collector.client.delete(f"/api/v1/users/{user['id']}/grants/{last}", headers=city)
    assert answer.status_code == 409 and answer.json()["error"] == "last_role"


def test_disabling_ends_sessions_and_tokens(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    made = _new_user(collector, city, "wang.wu", ("auditor", SHE))
    session_headers = collector.login("wang.wu", made["password"])
    token = _post(collector, "/api/v1/account/tokens", session_headers, {"name": "nightly"}, status=201)[
        "token"
    ]
    token_headers = {"Authorization": f"Bearer {token}"}
    assert collector.client.get("/api/v1/hosts", headers=token_headers).status_code == 200
    _post(collector, f"/api/v1/users/{made['user']['id']}/disable", city)
    assert collector.client.get("/api/v1/hosts", headers=session_headers).status_code == 401
    assert collector.client.get("/api/v1/hosts", headers=token_headers).status_code == 401
    _post(collector, f"/api/v1/users/{made['user']['id']}/enable", city)
    assert collector.client.get("/api/v1/hosts", headers=token_headers).status_code == 200


def test_reset_password_shows_a_new_one_once_and_ends_sessions(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    made = _new_user(collector, city, "zhao.liu", ("auditor", SHE))
    old_session = collector.login("zhao.liu", made["password"])
    reset = _post(collector, f"/api/v1/users/{made['user']['id']}/reset-password", city)
    assert collector.client.get("/api/v1/hosts", headers=old_session).status_code == 401
    assert (
        collector.client.post(
            "/api/v1/auth/login", json={"username": "zhao.liu", "password": made["password"]}
        ).status_code
        == 401
    )
    assert collector.login("zhao.liu", reset["password"])
    with collector.sessions() as session:
        details = " ".join(str(d) for d in session.scalars(select(AuditLog.detail)))
    assert reset["password"] not in details and made["password"] not in details


def test_unlock_lifts_a_lockout(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    made = _new_user(collector, city, "sun.qi", ("auditor", SHE))
    for _ in range(collector.settings.lockout_threshold):
        collector.client.post("/api/v1/auth/login", json={"username": "sun.qi", "password": "wrong"})
    user = _get(collector, f"/api/v1/users/{made['user']['id']}", city)
    assert user["locked"] is True
    _post(collector, f"/api/v1/users/{made['user']['id']}/unlock", city)
    assert collector.login("sun.qi", made["password"])
    assert "user.unlock" in _audit_actions(collector)


def _enrol_totp(c: CollectorUnderTest, headers: dict[str, str]) -> pyotp.TOTP:
    started = _post(c, "/api/v1/account/totp", headers)
    assert started["uri"].startswith("otpauth://totp/Watchpost:") and started["secret"] in started["uri"]
    totp = pyotp.TOTP(started["secret"])
    account = _post(c, "/api/v1/account/totp/confirm", headers, {"code": totp.now()})
    assert account["totp_enabled"] is True and account["totp_pending"] is False
    return totp


def _next_code(totp: pyotp.TOTP, steps: int = 1) -> str:
    return totp.at(totp.timecode(utcnow()) * 30 + 30 * steps)


def test_totp_is_confirmed_before_it_is_required(collector: CollectorUnderTest) -> None:
    password = collector.add_user("zhou.ba")
    headers = collector.login("zhou.ba", password)
    started = _post(collector, "/api/v1/account/totp", headers)
    wrong = collector.client.post("/api/v1/account/totp/confirm", json={"code": "000000"}, headers=headers)
    assert wrong.status_code == 422 and wrong.json()["error"] == "invalid_totp_code"
    # not confirmed: the password alone still logs in
    assert collector.login("zhou.ba", password)
    assert started["secret"]


def test_login_with_totp_needs_a_fresh_code(collector: CollectorUnderTest) -> None:
    password = collector.add_user("wu.jiu")
    totp = _enrol_totp(collector, collector.login("wu.jiu", password))
    without = collector.client.post("/api/v1/auth/login", json={"username": "wu.jiu", "password": password})
    assert without.status_code == 401 and without.json()["error"] == "totp_required"
    code = _next_code(totp)
    ok = collector.client.post(
        "/api/v1/auth/login", json={"username": "wu.jiu", "password": password, "totp_code": code}
    )
    assert ok.status_code == 200, ok.text
    replay = collector.client.post(
        "/api/v1/auth/login", json={"username": "wu.jiu", "password": password, "totp_code": code}
    )
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_credentials"


def test_wrong_codes_count_towards_the_lockout(collector: CollectorUnderTest) -> None:
    password = collector.add_user("zheng.shi")
    totp = _enrol_totp(collector, collector.login("zheng.shi", password))
    for _ in range(collector.settings.lockout_threshold):
        collector.client.post(
            "/api/v1/auth/login", json={"username": "zheng.shi", "password": password, "totp_code": "123456"}
        )
    locked = collector.client.post(
        "/api/v1/auth/login",
        json={"username": "zheng.shi", "password": password, "totp_code": _next_code(totp)},
    )
    assert locked.status_code == 401 and locked.json()["error"] == "invalid_credentials"


def test_totp_is_disabled_with_a_code_or_reset_by_an_admin(collector: CollectorUnderTest) -> None:
    password = collector.add_user("feng.yi", "auditor", SHE)
    headers = collector.login("feng.yi", password)
    totp = _enrol_totp(collector, headers)
    refused = collector.client.post("/api/v1/account/totp/disable", json={"code": "999999"}, headers=headers)
    assert refused.status_code == 422
    off = _post(collector, "/api/v1/account/totp/disable", headers, {"code": _next_code(totp)})
    assert off["totp_enabled"] is False
    _enrol_totp(collector, headers)
    she_admin = collector.admin_headers(SHE, "district_admin")
    user_id = _get(collector, "/api/v1/account", headers)["id"]
    assert _post(collector, f"/api/v1/users/{user_id}/reset-totp", she_admin)["totp_enabled"] is False
    assert collector.login("feng.yi", password)
    assert "user.reset_totp" in _audit_actions(collector)


def test_api_tokens_are_shown_once_and_act_with_the_owners_roles(collector: CollectorUnderTest) -> None:
    password = collector.add_user("chen.er", "auditor", SHE)
    headers = collector.login("chen.er", password)
    made = _post(collector, "/api/v1/account/tokens", headers, {"name": "inventory sync"}, status=201)
    token = made["token"]
    assert token.startswith("wpt_") and made["info"]["prefix"] == token[:12]
    with collector.sessions() as session:
        row = session.scalar(select(ApiToken))
        assert row is not None and token not in (row.token_hash, row.prefix) and row.last_used_at is None
    bearer = {"Authorization": f"Bearer {token}"}
    assert [u["code"] for u in _get(collector, "/api/v1/units", bearer)] == [SHE]
    listed = _get(collector, "/api/v1/account/tokens", headers)
    assert listed[0]["last_used_at"] is not None and "token" not in listed[0]
    # a token neither mints tokens nor changes the password
    assert (
        collector.client.post("/api/v1/account/tokens", json={"name": "x"}, headers=bearer).status_code == 403
    )
    collector.client.delete(f"/api/v1/account/tokens/{made['info']['id']}", headers=headers)
    assert collector.client.get("/api/v1/units", headers=bearer).status_code == 401


def test_expired_tokens_stop_working(collector: CollectorUnderTest) -> None:
    headers = collector.admin_headers()
    token = _post(
        collector, "/api/v1/account/tokens", headers, {"name": "old", "expires_days": 1}, status=201
    )["token"]
    with collector.sessions() as session:
        session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    assert (
        collector.client.get("/api/v1/hosts", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )


def test_change_own_password(collector: CollectorUnderTest) -> None:
    password = collector.add_user("han.san", "inspector", SHE)
    headers = collector.login("han.san", password)
    other = collector.login("han.san", password)
    wrong = collector.client.post(
        "/api/v1/account/password",
        json={"current_password": "nope", "new_password": "A-much-better-one-42"},
        headers=headers,
    )
    assert wrong.status_code == 422 and wrong.json()["error"] == "wrong_password"
    body = {"current_password": password, "new_password": "A-much-better-one-42"}
    assert collector.client.post("/api/v1/account/password", json=body, headers=headers).status_code == 204
    assert collector.client.get("/api/v1/account", headers=headers).status_code == 200  # this session stays
    assert collector.client.get("/api/v1/account", headers=other).status_code == 401  # the others end
    assert collector.login("han.san", "A-much-better-one-42")


def test_enrollment_secrets_shown_once_listed_without_the_secret_and_revoked(
    collector: CollectorUnderTest,
) -> None:
    she_admin = collector.admin_headers(SHE, "district_admin")
    made = _post(
        collector,
        f"/api/v1/units/{SHE}/enroll-secrets",
        she_admin,
        {"label": "second floor", "max_uses": 1, "expires_days": 2},
        status=201,
    )
    assert made["secret"].startswith("wpe_") and made["info"]["max_uses"] == 1
    listed = _get(collector, f"/api/v1/units/{SHE}/enroll-secrets", she_admin)
    assert made["secret"] not in str(listed) and listed[0]["label"] == "second floor"
    _post(collector, f"/api/v1/enroll-secrets/{made['info']['id']}/revoke", she_admin)
    enroll = collector.client.post(
        "/api/v1/enroll",
        json={
            "enroll_secret": made["secret"],
            "agent_id": "6f1c2b1e-6a40-4d7e-9a43-7c3e1b0f2a11",
            "agent_version": "test",
            "hostname": "pc-x",
            "os_family": "linux",
        },
    )
    assert enroll.status_code == 401 and enroll.json()["error"] == "invalid_enroll_secret"
    with collector.sessions() as session:
        assert session.scalar(select(EnrollSecret.revoked_at).where(EnrollSecret.id == made["info"]["id"]))


def test_rotating_a_node_key_is_revoke_then_enroll_with_a_one_use_secret(
    collector: CollectorUnderTest,
) -> None:
    agent_id, old_key = collector.enroll(SHE, hostname="she-pc-7")
    she_admin = collector.admin_headers(SHE, "district_admin")
    keys = _get(collector, "/api/v1/node-keys", she_admin)
    host_id = keys["items"][0]["host_id"]
    assert keys["total"] == 1 and keys["items"][0]["hostname"] == "she-pc-7"
    _post(collector, f"/api/v1/hosts/{host_id}/revoke-keys", she_admin)
    one_use = _post(collector, f"/api/v1/units/{SHE}/enroll-secrets", she_admin, {"max_uses": 1}, status=201)
    body = {
        "enroll_secret": one_use["secret"],
        "agent_id": str(agent_id),
        "agent_version": "test",
        "hostname": "she-pc-7",
        "os_family": "linux",
    }
    assert collector.client.post("/api/v1/enroll", json=body).status_code == 200
    assert collector.client.post("/api/v1/enroll", json=body).json()["error"] == "exhausted_enroll_secret"
    history = _get(collector, f"/api/v1/hosts/{host_id}/node-keys", she_admin)
    assert [k["revoked_at"] is None for k in history] == [True, False]
    assert (
        collector.client.get("/api/v1/config", headers={"Authorization": f"Bearer {old_key}"}).status_code
        == 401
    )


def test_the_audit_log_is_filtered_paged_and_scoped(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    _new_user(collector, city, "she.one", ("auditor", SHE))
    _new_user(collector, city, "xiuning.one", ("auditor", XIUNING))
    _post(collector, f"/api/v1/units/{XIUNING}/enroll-secrets", city, {"label": "x"}, status=201)
    everything = _get(collector, "/api/v1/audit", city, action="user.", per_page=1)
    # the two accounts, and the city admin's own (made by the test helper as "system")
    assert everything["total"] == 3 and len(everything["items"]) == 1
    assert everything["items"][0]["target"] == "user:xiuning.one"  # newest first
    she_admin = collector.admin_headers(SHE, "district_admin")
    theirs = _get(collector, "/api/v1/audit", she_admin, per_page=500)
    targets = {e["target"] for e in theirs["items"]}
    assert "user:she.one" in targets
    assert not [t for t in targets if XIUNING in t or "xiuning" in t]
    since = _get(collector, "/api/v1/audit", city, since=(utcnow() + timedelta(hours=1)).isoformat())
    assert since["total"] == 0


def test_the_audit_log_exports_as_csv_and_the_export_is_audited(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    _new_user(collector, city, "-cmd.user", ("auditor", SHE))
    answer = collector.client.get("/api/v1/audit.csv", headers=city, params={"action": "user.create"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith("\ufeff".encode())
    lines = answer.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "id,at,actor,action,target,ip,detail"
    assert len(lines) == 3 and "user:-cmd.user" in lines[2]  # oldest first: the admin, then -cmd.user
    assert "audit.export" in _audit_actions(collector)


def test_every_action_here_is_audited(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    user = _new_user(collector, city, "qian.qi", ("auditor", SHE), ("inspector", SHE))["user"]
    uid = user["id"]
    _post(
        collector,
        f"/api/v1/users/{uid}/grants",
        city,
        {"grants": [{"role": "auditor", "unit_code": XIUNING}]},
    )
    collector.client.delete(f"/api/v1/users/{uid}/grants/{user['roles'][0]['id']}", headers=city)
    for action in ("disable", "enable", "reset-password", "unlock", "reset-totp"):
        _post(collector, f"/api/v1/users/{uid}/{action}", city)
    token = _post(collector, "/api/v1/account/tokens", city, {"name": "t"}, status=201)
    collector.client.delete(f"/api/v1/account/tokens/{token['info']['id']}", headers=city)
    secret = _post(collector, f"/api/v1/units/{SHE}/enroll-secrets", city, {}, status=201)
    _post(collector, f"/api/v1/enroll-secrets/{secret['info']['id']}/revoke", city)
    _post(collector, "/api/v1/account/totp", city)
    actions = set(_audit_actions(collector))
    assert {
        "user.create",
        "user.grant",
        "user.revoke_role",
        "user.disable",
        "user.enable",
        "user.reset_password",
        "user.unlock",
        "user.reset_totp",
        "api_token.create",
        "api_token.revoke",
        "enroll_secret.create",
        "enroll_secret.revoke",
        "totp.enrol_start",
    } <= actions
    with collector.sessions() as session:
        entries = session.scalars(select(AuditLog).where(AuditLog.action.like("user.%"))).all()
        assert all(e.ip and e.user_id for e in entries if e.action != "user.create" or e.actor != "system")
        details = " ".join(str(e.detail) for e in session.scalars(select(AuditLog)))
    assert token["token"] not in details and secret["secret"] not in details


def test_users_table_keeps_no_secret_in_clear(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    made = _new_user(collector, city, "he.er", ("auditor", SHE))
    with collector.sessions() as session:
        user = session.scalar(select(User).where(User.username == "he.er"))
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert made["password"] not in user.password_hash
