"""The agent's HTTP client refuses what would leak its key or mislead it."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import trustme

from agent.settings import AgentSettings, SettingsError
from agent.transport import Transport, TransportError
from tests.support.proxy import forward_proxy


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


# -- HTTPS: certificates verified, a CA bundle trusted, proxies honoured ---------------------
@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 with a certificate from a throw-away CA; yields (port, CA file)."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen_auth = []
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield httpd.server_address[1], ca_file
    httpd.shutdown()


def test_https_certificate_of_an_unknown_ca_is_refused(tls_server: tuple[int, Path]) -> None:
    port, _ca = tls_server
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        Transport(f"https://localhost:{port}", proxy="none").request("POST", "/", b"{}", node_key="wpn_k")
    assert _Handler.seen_auth == []  # the key never left


def test_https_with_the_configured_ca_bundle_works(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    answer = Transport(f"https://localhost:{port}", ca_bundle=str(ca), proxy="none").request(
        "POST", "/", b"{}", node_key="wpn_k"
    )
    assert answer == {} and _Handler.seen_auth == ["Bearer wpn_k"]


def test_https_host_name_must_match_the_certificate(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    # the certificate names localhost, not 127.0.0.1 (the same server)
    with pytest.raises(TransportError, match=r"CERTIFICATE_VERIFY_FAILED.*mismatch"):
        Transport(f"https://127.0.0.1:{port}", ca_bundle=str(ca), proxy="none").request("POST", "/", b"{}")


def test_https_goes_through_the_configured_proxy_as_a_tunnel(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    with forward_proxy() as proxy:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        answer = Transport(f"https://localhost:{port}", ca_bundle=str(ca), proxy=url).request(
            "POST", "/", b"{}", node_key="wpn_secret_key"
        )
    assert answer == {} and _Handler.seen_auth == ["Bearer wpn_secret_key"]
    (head,) = proxy.seen
    assert head.startswith(f"CONNECT localhost:{port} ")
    assert "wpn_secret_key" not in head  # the proxy sees where, never what


def test_environment_proxy_is_used_by_default_and_none_bypasses_it(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with forward_proxy() as proxy:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.server_address[1]}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        assert Transport(server).request("POST", "/", b"{}") == {}
        assert len(proxy.seen) == 1 and proxy.seen[0].startswith(f"POST {server}/ ")
        assert Transport(server, proxy="none").request("POST", "/", b"{}") == {}
        assert len(proxy.seen) == 1  # direct this time


def test_proxy_setting_is_validated() -> None:
    AgentSettings(proxy="http://proxy.example.internal:3128")
    AgentSettings(proxy="none")
    with pytest.raises(SettingsError, match="proxy must be"):
        AgentSettings(proxy="proxy.example.internal:3128")
    with pytest.raises(ValueError, match="proxy must be"):
        Transport("https://127.0.0.1:9", proxy="socks5://127.0.0.1:1080")
