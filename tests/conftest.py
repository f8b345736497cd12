"""Shared fixtures: strict mode, databases on SQLite and PostgreSQL, collector apps.

WATCHPOST_STRICT=1 (set by .ci/run) turns every skip into a failure, so a CI
machine that lacks PostgreSQL, nmap or Chromium cannot pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from tests.support.databases import postgres_copy, prepare_template, sqlite_copy
from tests.support.postgres import PostgresServer, start_postgres

STRICT = os.environ.get("WATCHPOST_STRICT") == "1"


# Property tests: the default budget in CI; WATCHPOST_HYPOTHESIS=deep searches much harder
# (run it when touching a parser: `WATCHPOST_HYPOTHESIS=deep pytest tests/agent -k garbage`).
hypothesis_settings.register_profile("deep", max_examples=3000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("WATCHPOST_HYPOTHESIS", "default"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"WATCHPOST_STRICT=1: this test would have been skipped: {reason}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except (FileNotFoundError, RuntimeError, OSError) as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    prepare_template(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    from collector.db.engine import make_engine

    engine = make_engine(postgres_server.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text('CREATE DATABASE "wp_template"'))
    engine.dispose()
    prepare_template(postgres_server.url("wp_template"))
    return "wp_template"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database with the schema and the organisation tree, on each backend."""
    if request.param == "sqlite":
        return sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return postgres_copy(server, request.getfixturevalue("postgres_template"))
