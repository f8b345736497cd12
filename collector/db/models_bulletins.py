"""ORM models of the bulletins area (see collector/db/models.py for the shared ones)."""

from __future__ import annotations

from collector.db.base import Base  # noqa: F401
