from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from collector.main import create_app
from collector.settings import Settings
from tests.support.collector import CollectorUnderTest


@pytest.fixture
def collector(db_url: str) -> Iterator[CollectorUnderTest]:
    settings = Settings(database_url=db_url)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield CollectorUnderTest(client, settings, app.state.sessionmaker)
    app.state.engine.dispose()
