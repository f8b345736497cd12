"""Domain errors that routes turn into clear 4xx answers."""

from __future__ import annotations

__all__ = ["BadRequest", "Conflict", "DomainError", "Forbidden", "Invalid", "NotFound", "Unauthorized"]


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
