"""Reading a request body safely: size limits, gzip, JSON, then the wire model."""

from __future__ import annotations

import json
import zlib
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from collector.api.errors import ApiProblem, validation_problems
from wire.limits import MAX_COMPRESSED_BYTES, MAX_REPORT_BYTES

__all__ = ["read_model"]

M = TypeVar("M", bound=BaseModel)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise ApiProblem(413, "body_too_large", f"request body over {limit} bytes")
        except ValueError:
            raise ApiProblem(400, "bad_content_length", "Content-Length is not a number") from None
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise ApiProblem(413, "body_too_large", f"request body over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # An agent killed or switched off mid-upload (issue 8): nothing was stored, it sends again.
        raise ApiProblem(
            400, "client_disconnected", "the client left before sending the whole body"
        ) from None
    return b"".join(chunks)


def _gunzip(data: bytes, limit: int) -> bytes:
    decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = decoder.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ApiProblem(400, "bad_gzip", f"body is not valid gzip: {exc}") from None
    if len(out) > limit or decoder.unconsumed_tail:
        raise ApiProblem(413, "body_too_large", f"decompressed body over {limit} bytes")
    if not decoder.eof:
        raise ApiProblem(400, "bad_gzip", "gzip body is truncated")
    return out


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


async def read_model(request: Request, model: type[M]) -> tuple[M, int]:
    """The validated model and the size of the (decompressed) JSON body."""
    raw = await _read_limited(request, MAX_COMPRESSED_BYTES)
    encoding = request.headers.get("content-encoding", "identity").lower().strip()
    if encoding == "gzip":
        raw = _gunzip(raw, MAX_REPORT_BYTES)
    elif encoding not in ("", "identity"):
        raise ApiProblem(415, "unsupported_encoding", f"Content-Encoding {encoding!r}: use gzip or none")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json":
        raise ApiProblem(415, "unsupported_media_type", "send application/json")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiProblem(400, "invalid_json", f"body is not JSON: {exc}") from None
    except RecursionError:
        raise ApiProblem(400, "invalid_json", "body is nested too deeply") from None
    try:
        return model.model_validate(data), len(raw)
    except ValidationError as exc:
        raise ApiProblem(
            422,
            f"invalid_{model.__name__.lower()}",
            f"the {model.__name__} does not match the wire contract",
            validation_problems(exc.errors(), prefix="body"),
        ) from None
