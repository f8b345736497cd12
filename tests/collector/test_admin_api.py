"""Admin API: login with argon2id and lockout, sessions, district scope (A9-G)."""

from __future__ import annotations

from sqlalchemy import select

from collector.db.models import AuditLog, User
from tests.support.collector import CollectorUnderTest, make_report, node_auth


def test_passwords_are_stored_as_argon2id(collector: CollectorUnderTest) -> None:
    password = collector.add_user("zhangwei")
    with collector.sessions() as session:
        user = session.scalar(select(User).where(User.username == "zhangwei"))
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert password not in user.password_hash


def test_login_returns_token_and_httponly_cookie(collector: CollectorUnderTest) -> None:
    password = collector.add_user("liqiang")
    answer = collector.client.post("/api/v1/auth/login", json={"username": "liqiang", "password": password})
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"]
    assert "wp_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    body = answer.json()
    assert body["user"]["city_wide"] is True
    me = collector.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["username"] == "liqiang"


def test_wrong_password_and_unknown_user_look_the_same(collector: CollectorUnderTest) -> None:
    collector.add_user("wangfang")
    wrong = collector.client.post("/api/v1/auth/login", json={"username": "wangfang", "password": "nope"})
    unknown = collector.client.post("/api/v1/auth/login", json={"username": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_lockout_after_repeated_failures(collector: CollectorUnderTest) -> None:
    password = collector.add_user("chenjing")
    for _ in range(collector.settings.lockout_threshold):
        collector.client.post("/api/v1/auth/login", json={"username": "chenjing", "password": "bad"})
    locked = collector.client.post("/api/v1/auth/login", json={"username": "chenjing", "password": password})
    # a locked account answers exactly like a wrong password: nobody learns that it exists
    wrong = collector.client.post("/api/v1/auth/login", json={"username": "nobody", "password": "bad"})
    assert locked.status_code == 401 and locked.json() == wrong.json()
    with collector.sessions() as session:
        actions = session.scalars(select(AuditLog.action).where(AuditLog.actor == "chenjing")).all()
    assert actions.count("auth.login_failed") == collector.settings.lockout_threshold
    assert "auth.login_locked" in actions


def test_logout_ends_the_session(collector: CollectorUnderTest) -> None:
    headers = collector.admin_headers()
    assert collector.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert collector.client.get("/api/v1/hosts", headers=headers).status_code == 401


def test_hosts_need_login(collector: CollectorUnderTest) -> None:
    answer = collector.client.get("/api/v1/hosts")
    assert answer.status_code == 401 and answer.json()["error"] == "not_authenticated"


def test_cookie_writes_need_csrf_header(collector: CollectorUnderTest) -> None:
    password = collector.add_user("zhaolei")
    login = collector.client.post("/api/v1/auth/login", json={"username": "zhaolei", "password": password})
    csrf = login.json()["csrf_token"]
    # the TestClient keeps the session cookie; no Authorization header
    refused = collector.client.post("/api/v1/auth/logout")
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_failed"
    assert collector.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204


def test_district_admin_sees_only_their_district(collector: CollectorUnderTest) -> None:
    for unit, name in [("341021", "she-01"), ("341022", "xiuning-01"), ("341000-JSZ", "jsz-01")]:
        agent_id, key = collector.enroll(unit, hostname=name)
        collector.client.post(
            "/api/v1/reports", json=make_report(agent_id, hostname=name), headers=node_auth(key)
        )
    city = collector.client.get("/api/v1/hosts", headers=collector.admin_headers()).json()
    assert {h["hostname"] for h in city["items"]} == {"she-01", "xiuning-01", "jsz-01"}
    she = collector.client.get("/api/v1/hosts", headers=collector.admin_headers("341021", "district_admin"))
    assert [h["hostname"] for h in she.json()["items"]] == ["she-01"]
    units = collector.client.get("/api/v1/units", headers=collector.admin_headers("341021", "district_admin"))
    assert [u["code"] for u in units.json()] == ["341021"]


def test_host_list_shows_the_reported_facts(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll("341000-JSZ", hostname="jsz-02")
    report = make_report(agent_id, hostname="jsz-02")
    collector.client.post("/api/v1/reports", json=report, headers=node_auth(key))
    hosts = collector.client.get("/api/v1/hosts", headers=collector.admin_headers()).json()["items"]
    (host,) = hosts
    assert host["unit_code"] == "341000-JSZ" and host["status"] == "online"
    assert host["memory_bytes"] == report["sections"]["hardware"]["data"]["memory_bytes"]
    assert host["os_family"] == "linux" and host["simulated"] is False
    assert "192.0.2.2" in host["ip_addresses"]


def test_login_validates_input(collector: CollectorUnderTest) -> None:
    answer = collector.client.post("/api/v1/auth/login", json={"username": "", "password": "x", "x": 1})
    assert answer.status_code == 422
    locations = {p["location"] for p in answer.json()["problems"]}
    assert "body.username" in locations and "body.x" in locations


def test_parallel_guesses_cannot_slip_under_the_lockout(collector: CollectorUnderTest) -> None:
    """Thirty wrong passwords at once: the account still locks, and the right password is then refused."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    password = collector.add_user("sunli")
    transport = httpx.ASGITransport(app=collector.client.app)  # type: ignore[arg-type]

    async def guess() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
            answer = await client.post("/api/v1/auth/login", json={"username": "sunli", "password": "wrong"})
            return answer.status_code

    import anyio

    def one(_: int) -> int:
        return anyio.run(guess)

    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(one, range(30)))
    assert set(codes) == {401}
    after = collector.client.post("/api/v1/auth/login", json={"username": "sunli", "password": password})
    assert after.status_code == 401
    with collector.sessions() as session:
        user = session.scalar(select(User).where(User.username == "sunli"))
        assert user is not None and user.locked_until is not None


def test_csrf_header_with_any_text_is_refused_not_crashed(collector: CollectorUnderTest) -> None:
    password = collector.add_user("hewei")
    collector.client.post("/api/v1/auth/login", json={"username": "hewei", "password": password})
    answer = collector.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "é中".encode()})
    assert answer.status_code == 403


def test_login_refuses_nul_characters(collector: CollectorUnderTest) -> None:
    answer = collector.client.post("/api/v1/auth/login", json={"username": "a\u0000b", "password": "x"})
    assert answer.status_code in (401, 422)
