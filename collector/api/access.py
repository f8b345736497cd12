"""Administration API: users and roles, API tokens, TOTP, node keys, enrollment secrets, the audit log (issue 4)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["access"])
