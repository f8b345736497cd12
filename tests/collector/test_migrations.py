"""The Alembic migrations build exactly the schema the models describe (both databases)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from collector.db.base import Base
from collector.db.engine import make_engine
from collector.db.migrate import current_revision, head_revision


def test_models_and_migrations_agree(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations differ; run 'watchpost-collector db revision': {diff}"
    finally:
        engine.dispose()
