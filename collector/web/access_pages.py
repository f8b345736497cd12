"""Pages of administration: users and roles, API tokens, two-factor sign-in, node keys, enrollment secrets, the audit log (issue 4)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
