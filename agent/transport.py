"""HTTP(S) to the collector with the standard library (smallest resident footprint).

Bodies are JSON, gzip-compressed; TLS certificates are verified (a custom CA bundle
can be configured); plain HTTP only with ``allow_insecure_http``.
"""

from __future__ import annotations

import gzip
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from agent import __version__

__all__ = ["Transport", "TransportError"]


class TransportError(Exception):
    """A request failed. ``status`` is the HTTP status (0: no answer at all)."""

    def __init__(self, status: int, code: str, detail: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status} {code}: {detail}" if status else detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


class Transport:
    def __init__(self, server_url: str, *, ca_bundle: str = "", timeout: float = 30.0) -> None:
        if not server_url.startswith(("https://", "http://")):
            raise ValueError(f"collector URL must be https:// (got {server_url!r})")
        self.base = server_url.rstrip("/")
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_bundle or None)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        node_key: str | None = None,
        etag: str | None = None,
    ) -> Any:
        """Send a request; the decoded JSON answer, or None for an empty body or 304 Not Modified."""
        headers = {
            "Accept": "application/json",
            "User-Agent": f"watchpost-agent/{__version__}",
        }
        data = None
        if body is not None:
            data = gzip.compress(body, compresslevel=6)
            headers["Content-Type"] = "application/json"
            headers["Content-Encoding"] = "gzip"
        if node_key:
            headers["Authorization"] = f"Bearer {node_key}"
        if etag:
            headers["If-None-Match"] = f'"{etag}"'
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)  # noqa: S310 - scheme checked in __init__
        context = self._ssl if self.base.startswith("https://") else None
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=context) as resp:  # noqa: S310
                payload = resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return None
            raise _http_error(exc) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransportError(0, "unreachable", f"{self.base}: {reason}") from None
        return json.loads(payload) if payload else None


def _http_error(exc: urllib.error.HTTPError) -> TransportError:
    code, detail = "http_error", exc.reason or ""
    try:
        body = json.loads(exc.read() or b"{}")
        code = str(body.get("error", code))
        detail = str(body.get("detail", detail))
    except (ValueError, AttributeError, OSError):
        pass
    retry = exc.headers.get("Retry-After") if exc.headers else None
    try:
        retry_after = float(retry) if retry else None
    except ValueError:
        retry_after = None
    return TransportError(exc.code, code, detail, retry_after)
