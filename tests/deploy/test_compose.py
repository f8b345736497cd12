"""deploy/compose (issue 4, P-16): the production setup's files agree with each other and with
the collector. There is no Docker on the test machine, so these checks read the files: the
compose document, the nginx template, the Dockerfile and .env.example, and hold them against
the collector's real CLI and settings.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from collector.cli import _parser
from collector.db.models import AuthSession
from collector.settings import Settings
from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "deploy" / "compose"
COMPOSE = HERE / "compose.yaml"
ENV_EXAMPLE = HERE / ".env.example"
PROXY_TEMPLATE = HERE / "proxy" / "watchpost.conf.template"

#: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PASSPHRASE")


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


def variables(text: str) -> list[tuple[str, str, str]]:
    """(name, operator, default-or-message) of every ${...} in a text."""
    return [(m.group(1), m.group(2) or "", m.group(3) or "") for m in _VAR.finditer(text)]


def interpolate(text: str, values: dict[str, str]) -> str:
    return _VAR.sub(
        lambda m: values.get(m.group(1)) or (m.group(3) if m.group(2) in (":-", "-") else ""), text
    )


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def volume_parts(volume: str) -> list[str]:
    """source:target[:mode] of a short volume entry; colons inside ${...} do not split."""
    parts, depth, current = [], 0, ""
    for char in volume:
        depth += char == "{"
        depth -= char == "}"
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def networks_of(service: dict[str, Any]) -> set[str]:
    nets = service.get("networks", [])
    return set(nets)  # a list, or a mapping of name -> options


# --- nginx ---------------------------------------------------------------------------------


def nginx_tree(text: str) -> list[Any]:
    """A minimal nginx config parser: a list of (directive, args) and (directive, args, children)."""
    tokens = re.findall(
        r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|#[^\n]*|[{};]|(?:\$\{[^}\s]*\}|[^\s{};$]|\$(?!\{))+', text
    )
    tokens = [t for t in tokens if not t.startswith("#")]
    position = 0

    def block() -> list[Any]:
        nonlocal position
        items: list[Any] = []
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                items.append((words[0], words[1:]))
                words = []
            elif token == "{":
                items.append((words[0], words[1:], block()))
                words = []
            elif token == "}":
                assert not words, f"nginx: unterminated directive {words}"
                return items
            else:
                words.append(token.strip("\"'"))
        assert not words, f"nginx: unterminated directive {words}"
        return items

    tree = block()
    assert position == len(tokens), "nginx: unbalanced braces"
    return tree


def directives(items: list[Any], name: str) -> list[Any]:
    return [item for item in items if item[0] == name]


def servers() -> list[list[Any]]:
    return [item[2] for item in directives(nginx_tree(PROXY_TEMPLATE.read_text(encoding="utf-8")), "server")]


def listens(server: list[Any]) -> set[str]:
    return {item[1][0] for item in directives(server, "listen")}


# --- the compose document ------------------------------------------------------------------


def test_compose_has_postgres_collector_init_and_proxy() -> None:
    services = compose()["services"]
    assert {"postgres", "collector-init", "collector", "proxy"} <= set(services)
    image = services["postgres"]["image"]
    major = int(re.search(r":(\d+)", image).group(1))  # type: ignore[union-attr]
    assert major >= 15, image
    volumes = services["postgres"]["volumes"]
    assert any(
        v.split(":")[0] in compose()["volumes"] and v.endswith("/var/lib/postgresql/data") for v in volumes
    )


def test_every_reference_between_services_resolves() -> None:
    document = compose()
    services = document["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s health"
            elif condition == "service_completed_successfully":
                assert services[dependency].get("restart", "no") == "no", f"{dependency} is one-shot"
            else:
                assert condition == "service_started", condition
        for network in networks_of(service):
            assert network in document["networks"], f"{name} uses undefined network {network}"
        for volume in service.get("volumes", []):
            source = volume_parts(volume)[0]
            if not source.startswith(("/", ".", "$")):
                assert source in document["volumes"], f"{name} uses undefined volume {source}"
            elif source.startswith("."):
                assert (HERE / source).exists(), f"{name} mounts missing file {source}"


def test_services_that_run_long_have_healthchecks() -> None:
    for name, service in compose()["services"].items():
        if service.get("restart", "no") != "no":
            assert "healthcheck" in service, f"{name} has no healthcheck"


def test_collector_starts_after_the_database_and_the_one_shot_init() -> None:
    services = compose()["services"]
    init, collector = services["collector-init"], services["collector"]
    assert init["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert collector["depends_on"]["collector-init"] == {"condition": "service_completed_successfully"}
    assert collector["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["proxy"]["depends_on"]["collector"] == {"condition": "service_healthy"}


def test_commands_are_ones_the_collector_cli_accepts() -> None:
    services = compose()["services"]
    init = _parser().parse_args(services["collector-init"]["command"][1:])
    assert init.command == "init"
    assert services["collector-init"]["command"][0] == "watchpost-collector"
    serve = _parser().parse_args(services["collector"]["command"][1:])
    assert serve.command == "serve" and serve.host == "0.0.0.0"
    upstream = directives(nginx_tree(PROXY_TEMPLATE.read_text(encoding="utf-8")), "upstream")
    assert len(upstream) == 1
    targets = [item[1][0] for item in directives(upstream[0][2], "server")]
    assert targets == [f"collector:{serve.port}"]


def test_collector_can_run_as_several_replicas() -> None:
    collector = compose()["services"]["collector"]
    assert "container_name" not in collector, "a fixed container name allows one replica only"
    assert "ports" not in collector, "replicas are reached through the proxy, not published"
    replicas = interpolate(str(collector["deploy"]["replicas"]), {})
    assert int(replicas) >= 2
    upstream = directives(nginx_tree(PROXY_TEMPLATE.read_text(encoding="utf-8")), "upstream")[0][2]
    # nginx re-resolves the service name, so replicas added with --scale join the pool
    assert "resolve" in directives(upstream, "server")[0][1]
    assert directives(upstream, "zone")
    resolver = directives(nginx_tree(PROXY_TEMPLATE.read_text(encoding="utf-8")), "resolver")
    assert resolver and resolver[0][1][0] == "127.0.0.11"


def test_only_the_proxy_is_reachable_and_the_database_only_by_collectors() -> None:
    document = compose()
    services = document["services"]
    published = [name for name, s in services.items() if s.get("ports")]
    assert published == ["proxy"]
    for port in services["proxy"]["ports"]:
        assert interpolate(port, {}).split(":")[-1] in {"443", "80"}
    database_nets = networks_of(services["postgres"])
    assert all(document["networks"][n].get("internal") is True for n in database_nets)
    assert not database_nets & networks_of(services["proxy"]), "the proxy must not reach PostgreSQL"
    assert database_nets & networks_of(services["collector"])
    assert database_nets & networks_of(services["collector-init"])
    shared = networks_of(services["proxy"]) & networks_of(services["collector"])
    assert shared and all(document["networks"][n].get("internal") is True for n in shared)


def test_database_url_points_at_the_postgres_service() -> None:
    example = {**env_example(), "POSTGRES_PASSWORD": "0123456789abcdef"}
    services = compose()["services"]
    for name in ("collector", "collector-init"):
        url = make_url(interpolate(environment(services[name])["WATCHPOST_DATABASE_URL"], example))
        assert url.drivername == "postgresql"
        assert url.host == "postgres" and url.port == 5432
        assert (url.username, url.password, url.database) == (
            example["POSTGRES_USER"],
            "0123456789abcdef",
            example["POSTGRES_DB"],
        )
        assert Settings(database_url=str(url)).database_url  # the collector accepts it
    postgres_env = environment(services["postgres"])
    assert variables(postgres_env["POSTGRES_PASSWORD"])[0][0] == "POSTGRES_PASSWORD"


def test_collector_environment_names_real_settings() -> None:
    known = {f"WATCHPOST_{name.upper()}" for name in Settings.model_fields}
    for name in ("collector", "collector-init"):
        for key in environment(compose()["services"][name]):
            assert key in known or key == "FORWARDED_ALLOW_IPS", f"{name}: {key} is not a collector setting"


# --- .env and secrets ----------------------------------------------------------------------


def test_every_variable_is_documented_in_env_example_and_every_documented_one_used() -> None:
    documented = env_example()
    used = {name for name, _op, _rest in variables(COMPOSE.read_text(encoding="utf-8"))}
    assert used - set(documented) == set(), "used in compose.yaml but not in .env.example"
    assert set(documented) - used == set(), "in .env.example but used nowhere"
    # each one is explained: its paragraph (the lines since the last blank one) has a comment
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if line.strip() and not line.startswith("#"):
            paragraph: list[str] = []
            for before in reversed(lines[:number]):
                if not before.strip():
                    break
                paragraph.append(before)
            assert any(p.startswith("# ") for p in paragraph), f".env.example: {line} is not explained"


def test_no_secret_has_a_default() -> None:
    documented = env_example()
    secrets = {name for name in documented if _SECRET_NAME.search(name)}
    assert "POSTGRES_PASSWORD" in secrets
    for name in secrets:
        assert documented[name] == "", f".env.example must not suggest a value for {name}"
    for name, operator, _rest in variables(COMPOSE.read_text(encoding="utf-8")):
        if name in secrets:
            assert operator in (":?", "?"), f"${{{name}}} must be required (:?), not defaulted"
    # no literal secret anywhere in the services' environments
    for service_name, service in compose()["services"].items():
        for key, value in environment(service).items():
            if _SECRET_NAME.search(key):
                assert variables(value), f"{service_name}: {key} is a literal"
    # and required settings the admin must make are marked so, not silently defaulted
    for required in (
        "POSTGRES_USER",
        "POSTGRES_DB",
        "WATCHPOST_SERVER_NAME",
        "TLS_CERT_FILE",
        "TLS_KEY_FILE",
    ):
        operators = {op for name, op, _ in variables(COMPOSE.read_text(encoding="utf-8")) if name == required}
        assert operators == {":?"}, required


def test_compose_refuses_to_run_without_the_password() -> None:
    """What `docker compose` does with ${VAR:?msg} when VAR is empty: stop with the message."""
    text = COMPOSE.read_text(encoding="utf-8")
    example = env_example()
    missing = [
        name
        for name, operator, _ in variables(text)
        if operator == ":?" and not example.get(name)  # the admin has to fill these in
    ]
    assert missing == ["POSTGRES_PASSWORD"] * len(missing) and missing


# --- the proxy -----------------------------------------------------------------------------


def test_http_only_redirects_to_https() -> None:
    plain = [s for s in servers() if any(listen in {"80", "[::]:80"} for listen in listens(s))]
    assert len(plain) == 1
    names = {item[0] for item in plain[0]}
    assert names <= {"listen", "server_name", "return"}, names
    (ret,) = directives(plain[0], "return")
    assert ret[1][0] in {"301", "308"} and ret[1][1].startswith("https://")


def test_tls_uses_the_certificate_files_the_admin_mounts() -> None:
    proxy = compose()["services"]["proxy"]
    mounted = {volume_parts(v)[1]: volume_parts(v)[0] for v in proxy["volumes"]}
    assert all(volume_parts(v)[2:] == ["ro"] for v in proxy["volumes"]), "the proxy mounts read-only"
    (tls,) = [s for s in servers() if any(listen.startswith("443") for listen in listens(s))]
    assert "ssl" in directives(tls, "listen")[0][1]
    cert = directives(tls, "ssl_certificate")[0][1][0]
    key = directives(tls, "ssl_certificate_key")[0][1][0]
    assert variables(mounted[cert])[0][:2] == ("TLS_CERT_FILE", ":?")
    assert variables(mounted[key])[0][:2] == ("TLS_KEY_FILE", ":?")
    protocols = set(directives(tls, "ssl_protocols")[0][1])
    assert protocols <= {"TLSv1.2", "TLSv1.3"} and protocols
    template_mount = [t for t, s in mounted.items() if s.endswith("watchpost.conf.template")]
    assert template_mount and template_mount[0].startswith("/etc/nginx/templates/")
    assert template_mount[0].endswith(".conf.template")


def test_template_variables_come_from_the_proxy_environment() -> None:
    proxy_env = environment(compose()["services"]["proxy"])
    for name, _op, _rest in variables(PROXY_TEMPLATE.read_text(encoding="utf-8")):
        # the nginx image substitutes only variables defined in its environment
        assert name in proxy_env, f"${{{name}}} in the template is not in the proxy's environment"


def test_proxy_forwards_client_address_and_scheme_and_the_collector_trusts_only_it() -> None:
    (tls,) = [s for s in servers() if any(listen.startswith("443") for listen in listens(s))]
    locations = directives(tls, "location")
    assert locations
    for location in locations:
        body = location[2]
        assert directives(body, "proxy_pass")[0][1][0] == "http://watchpost_collectors"
        headers = {item[1][0].lower(): item[1][1] for item in directives(body, "proxy_set_header")}
        # the address nginx saw, not one a client put in its own X-Forwarded-For
        assert headers["x-forwarded-for"] == "$remote_addr", location[1]
        assert headers["x-forwarded-proto"] == "$scheme", location[1]
        assert headers["host"] == "$host"

    document = compose()
    collector_env = environment(document["services"]["collector"])
    settings = Settings(
        _env_file=None, **{"trust_proxy_headers": collector_env["WATCHPOST_TRUST_PROXY_HEADERS"]}
    )
    assert settings.trust_proxy_headers is True
    assert Settings(secure_cookies=collector_env["WATCHPOST_SECURE_COOKIES"]).secure_cookies is True
    # uvicorn trusts forwarded headers only from FORWARDED_ALLOW_IPS: exactly the proxy's address
    trusted = collector_env["FORWARDED_ALLOW_IPS"]
    proxy_nets = document["services"]["proxy"]["networks"]
    shared = set(proxy_nets) & networks_of(document["services"]["collector"])
    (network,) = shared
    assert proxy_nets[network]["ipv4_address"] == trusted
    subnet = ipaddress.ip_network(document["networks"][network]["ipam"]["config"][0]["subnet"])
    assert ipaddress.ip_address(trusted) in subnet


# --- the image -----------------------------------------------------------------------------


def test_dockerfile_copies_what_exists_and_installs_the_collector() -> None:
    build = compose()["services"]["collector"]["build"]
    context = (HERE / build["context"]).resolve()
    assert context == ROOT
    dockerfile = context / build["dockerfile"]
    text = dockerfile.read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (context / source).exists(), source
    assert '".[collector]"' in text
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE), "the collector must not run as root"
    ignore = (dockerfile.parent / (dockerfile.name + ".dockerignore")).read_text(encoding="utf-8")
    assert "!collector/" in ignore and "!wire/" in ignore and "!agent/" in ignore
    assert compose()["services"]["collector-init"]["build"] == build
    assert compose()["services"]["collector-init"]["image"] == compose()["services"]["collector"]["image"]


# --- what "trust the proxy" does in the real collector -------------------------------------


def _login_through(trusted: str, tmp_path: Path) -> tuple[str, httpx.Response]:
    """Start `watchpost-collector serve` with the compose settings, log in with forwarded
    headers, and return the address the session was recorded with and the answer."""
    url = f"sqlite:///{tmp_path}/wp.sqlite3"
    env = {
        **os.environ,
        "WATCHPOST_DATABASE_URL": url,
        "WATCHPOST_TRUST_PROXY_HEADERS": "true",
        "FORWARDED_ALLOW_IPS": trusted,
    }
    collector = str(Path(sys.executable).parent / "watchpost-collector")
    creds = tmp_path / "creds"
    subprocess.run(
        [collector, "init", "--admin", "proxyadmin", "--credentials-file", str(creds)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    server = subprocess.Popen(
        [collector, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "collector did not start"
                time.sleep(0.2)
        user, password = creds.read_text().split()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            json={"username": user, "password": password},
            headers={"X-Forwarded-For": "203.0.113.77", "X-Forwarded-Proto": "https"},
        )
        assert answer.status_code == 200, answer.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    engine = create_engine(url)
    with Session(engine) as session:
        ip = session.scalars(select(AuthSession.ip)).one()
    engine.dispose()
    return ip, answer


def test_collector_takes_address_and_scheme_from_the_trusted_proxy(tmp_path: Path) -> None:
    ip, answer = _login_through("127.0.0.1", tmp_path)
    assert ip == "203.0.113.77"
    assert "secure" in answer.headers["set-cookie"].lower()  # the browser's side was HTTPS


@pytest.mark.parametrize("trusted", ["172.30.0.2"])
def test_collector_ignores_forwarded_headers_from_anyone_else(trusted: str, tmp_path: Path) -> None:
    ip, answer = _login_through(trusted, tmp_path)
    assert ip == "127.0.0.1"
    assert "secure" not in answer.headers["set-cookie"].lower()
