"""ORM models of the training area (see collector/db/models.py for the shared ones)."""

from __future__ import annotations

from collector.db.base import Base  # noqa: F401
