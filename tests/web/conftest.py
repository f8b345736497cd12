from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.main import create_app
from collector.settings import Settings
from tests.support.collector import CollectorUnderTest

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Flags for a closed network: no background fetches, no first-run, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = next((p for c in CHROMIUM_CANDIDATES if (p := shutil.which(c))), None)
    if executable is None:
        pytest.skip("no Chromium on this machine (make test installs Debian's chromium as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def app(db_url: str) -> Iterator[CollectorUnderTest]:
    """A collector app on the test database, with a test client that keeps 5xx as answers."""
    settings = Settings(database_url=db_url)
    application = create_app(settings)
    with TestClient(application, raise_server_exceptions=False) as client:
        yield CollectorUnderTest(client, settings, application.state.sessionmaker)
    application.state.engine.dispose()
