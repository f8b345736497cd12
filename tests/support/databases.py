"""Fresh, migrated and seeded databases per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from sqlalchemy import text

from collector.db.engine import make_engine, make_sessionmaker
from collector.db.migrate import upgrade
from collector.services.compliance import sync_builtin_packs
from collector.services.org import seed_units
from tests.support.postgres import PostgresServer

__all__ = ["postgres_copy", "prepare_template", "sqlite_copy"]

_counter = itertools.count()


def prepare_template(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        seed_units(session)
        sync_builtin_packs(session)  # the policy packs shipped in policies/ (issue 5)
        session.commit()
    engine.dispose()


def sqlite_copy(template: Path, target_dir: Path) -> str:
    target = target_dir / "watchpost.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def postgres_copy(server: PostgresServer, template_db: str) -> str:
    name = f"wp_test_{next(_counter)}"
    engine = make_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
    engine.dispose()
    return server.url(name)
