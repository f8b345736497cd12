"""Assets without an agent, register fields, tags, moves, retirement, duplicates and merges, imports (issue 4)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["assets"])
