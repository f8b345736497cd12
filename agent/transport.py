"""HTTP(S) to the collector with the standard library (smallest resident footprint).

Bodies are JSON, gzip-compressed; TLS certificates are verified (a custom CA bundle
can be configured); plain HTTP only with ``allow_insecure_http``.

Proxies: ``proxy=""`` uses the system's settings (``HTTPS_PROXY``/``NO_PROXY`` in the
environment; on Windows also the Internet Options proxy, as urllib reads it);
``proxy="none"`` always connects directly; ``proxy="http://host:port"`` goes through that
proxy. HTTPS is tunnelled through the proxy with CONNECT, so the certificate is still
checked end to end and the proxy never sees the node key.
"""

from __future__ import annotations

import gzip
import http.client
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
    def __init__(
        self, server_url: str, *, ca_bundle: str = "", proxy: str = "", timeout: float = 30.0
    ) -> None:
        if not server_url.startswith(("https://", "http://")):
            raise ValueError(f"collector URL must be https:// (got {server_url!r})")
        self.base = server_url.rstrip("/")
        self.timeout = timeout
        self._ssl = ssl.create_default_context()  # system CAs, hostname check, TLS 1.2+
        if ca_bundle:
            try:
                self._ssl.load_verify_locations(cafile=ca_bundle)  # added to the system CAs
            except (OSError, ssl.SSLError) as exc:
                raise TransportError(
                    0, "bad_ca_bundle", f"cannot load CA bundle {ca_bundle}: {exc}"
                ) from None
        # Never follow redirects: they would carry the node key elsewhere (or turn a POST into a GET).
        self._opener = urllib.request.build_opener(
            _proxy_handler(proxy), _NoRedirect(), urllib.request.HTTPSHandler(context=self._ssl)
        )

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
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return None
            raise _http_error(exc) from None
        except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransportError(0, "unreachable", f"{self.base}: {reason}") from None
        try:
            return json.loads(payload) if payload else None
        except (ValueError, RecursionError):
            raise TransportError(
                0,
                "bad_response",
                f"{self.base}{path}: the answer is not JSON (a proxy or another server in the way?)",
            ) from None


def _proxy_handler(proxy: str) -> urllib.request.ProxyHandler:
    if not proxy:
        return urllib.request.ProxyHandler()  # the environment / the system's settings
    if proxy == "none":
        return urllib.request.ProxyHandler({})
    if not proxy.startswith(("http://", "https://")):
        raise ValueError(f"proxy must be empty, 'none' or http://host:port (got {proxy!r})")
    return urllib.request.ProxyHandler({"http": proxy, "https": proxy})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


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
