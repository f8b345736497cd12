"""The audit log: every admin action, who, what, when, from which address."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from collector.db.models import AuditLog

__all__ = ["record"]


def record(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
    user_id: int | None = None,
) -> None:
    """Append one entry. Never put a secret (password, key, token) in ``detail``."""
    session.add(
        AuditLog(
            actor=actor[:64],
            action=action[:64],
            target=target[:255],
            detail=detail or {},
            ip=ip[:64],
            user_id=user_id,
        )
    )
