"""The agent's HTTP client refuses what would leak its key or mislead it."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from agent.settings import AgentSettings, SettingsError
from agent.transport import Transport, TransportError


class _Handler(http.server.BaseHTTPRequestHandler):
    seen_auth: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.seen_auth.append(self.headers.get("Authorization", ""))
        if self.path == "/redirect":
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/elsewhere")
            self.end_headers()
        elif self.path == "/html":
            body = b"<html>captive portal</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen_auth = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_redirects_are_refused_and_the_key_goes_nowhere_else(server: str) -> None:
    with pytest.raises(TransportError) as caught:
        Transport(server).request("POST", "/redirect", b"{}", node_key="wpn_secret")
    assert caught.value.status == 307
    assert _Handler.seen_auth == ["Bearer wpn_secret"]  # only the first request carried it


def test_a_non_json_answer_is_a_transport_error(server: str) -> None:
    with pytest.raises(TransportError, match="not JSON"):
        Transport(server).request("POST", "/html", b"{}")


def test_unreachable_collector_is_a_transport_error() -> None:
    with pytest.raises(TransportError) as caught:
        Transport("http://127.0.0.1:9", timeout=5).request("GET", "/api/v1/health")
    assert caught.value.status == 0 and caught.value.code == "unreachable"


def test_missing_ca_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="CA bundle"):
        Transport("https://127.0.0.1:9", ca_bundle=str(tmp_path / "nope.pem"))


def test_plain_http_only_to_this_machine() -> None:
    AgentSettings(server_url="http://127.0.0.1:8080", allow_insecure_http=True)
    AgentSettings(server_url="http://[::1]:8080", allow_insecure_http=True)
    with pytest.raises(SettingsError, match="only to a collector on this machine"):
        AgentSettings(server_url="http://198.18.0.10:8080", allow_insecure_http=True)
    with pytest.raises(SettingsError, match="allow_insecure_http"):
        AgentSettings(server_url="http://127.0.0.1:8080")
