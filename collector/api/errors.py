"""One error shape for every 4xx (wire.ApiError); no 500 for bad input."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.services.errors import DomainError
from wire import ApiError, FieldProblem

__all__ = ["ApiProblem", "error_response", "install_error_handlers", "validation_problems"]

log = logging.getLogger(__name__)


class ApiProblem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        problems: Sequence[FieldProblem] = (),
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.problems = list(problems)
        self.headers = headers


def validation_problems(errors: Iterable[Any], prefix: str = "") -> list[FieldProblem]:
    problems = []
    for err in list(errors)[:50]:
        loc = [str(p) for p in err.get("loc", ())]
        if prefix and (not loc or loc[0] != prefix):
            loc.insert(0, prefix)
        problems.append(
            FieldProblem(
                location=_printable(".".join(loc), 255) or "body",
                message=_printable(str(err.get("msg", "invalid")), 1024),
            )
        )
    return problems


def _printable(text: str, limit: int) -> str:
    """Echo client input safely: control characters escaped, length bounded."""
    cleaned = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return cleaned[:limit]


def error_response(
    status: int,
    code: str,
    detail: str,
    problems: Sequence[FieldProblem] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ApiError(error=code[:255], detail=_printable(detail, 1024), problems=list(problems)[:50])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _problem(_request: Request, exc: ApiProblem) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.detail, exc.problems, exc.headers)

    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422, "invalid_request", "the request does not validate", validation_problems(exc.errors())
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "the collector failed; the error is in its log")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        return error_response(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=getattr(exc, "headers", None),
        )
