"""Pages of assets without an agent, imports, duplicates and merges (issue 4)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
