"""Domain errors that routes turn into clear 4xx answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "DomainError",
    "Forbidden",
    "Invalid",
    "NotFound",
    "RowsRejected",
    "Unauthorized",
]


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class Invalid(DomainError):
    status = 422
    code = "invalid"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class RowsRejected(DomainError):
    """A spreadsheet import whose rows have errors, the admin not having asked to skip them:
    nothing was written. ``rows`` are the import's row plans (each with its ``errors``)."""

    status = 422
    code = "import_has_errors"

    def __init__(self, rows: Sequence[Any]) -> None:
        bad = [r for r in rows if r.errors]
        super().__init__(f"{len(bad)} rows have errors; nothing was imported (fix them, or skip bad rows)")
        self.rows = list(rows)
