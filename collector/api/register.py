"""The asset register's JSON API beyond the host list: host detail and timeline, software catalogue, hardware models (issue 4)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["register"])
