"""Property test of the whole HTTP API from its OpenAPI document (schemathesis), on SQLite
and PostgreSQL: whatever a client sends, authenticated or not, the answer is never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from collector.main import create_app
from collector.settings import Settings
from tests.support.collector import CollectorUnderTest, make_report, node_auth


@dataclass
class FuzzTarget:
    app: FastAPI
    admin: dict[str, str]
    node: dict[str, str]


@pytest.fixture
def fuzz_target(db_url: str) -> Iterator[FuzzTarget]:
    settings_ = Settings(database_url=db_url, lockout_threshold=1000)
    app = create_app(settings_)
    with TestClient(app, raise_server_exceptions=False) as client:
        under_test = CollectorUnderTest(client, settings_, app.state.sessionmaker)
        agent_id, key = under_test.enroll()
        client.post("/api/v1/reports", json=make_report(agent_id), headers=node_auth(key))
        yield FuzzTarget(app, under_test.admin_headers(), node_auth(key))
    app.state.engine.dispose()


def _operations() -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document (building it needs no database)."""
    document = create_app(Settings(database_url="sqlite://")).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


@pytest.mark.parametrize(("method", "path"), _operations())
def test_no_input_makes_a_server_error(method: str, path: str, fuzz_target: FuzzTarget) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", fuzz_target.app)
    operation = schema[path][method]
    headers = (
        fuzz_target.node
        if path in ("/api/v1/reports", "/api/v1/events", "/api/v1/config")
        else fuzz_target.admin
    )

    @given(case=operation.as_strategy())
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        response = case.call(headers={**(case.headers or {}), **headers})
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text[:500]}"
        if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
            body = response.json()
            assert "error" in body and "detail" in body, body

    check()
