"""Alembic environment: runs with the connection handed over by collector.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from collector.db import models  # noqa: F401 - registers the tables on Base.metadata
from collector.db.base import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through 'watchpost-collector db upgrade'")
_run(connection)
