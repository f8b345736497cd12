"""A small forward proxy on loopback for the agent's proxy tests: CONNECT tunnels and plain HTTP.

It records the request line and headers it saw, so a test can show what a proxy learns
(for HTTPS: only the CONNECT target, never the node key).
"""

from __future__ import annotations

import select
import socket
import socketserver
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager


class _ProxyHandler(socketserver.StreamRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        header_block, _, rest = head.partition(b"\r\n\r\n")
        lines = header_block.decode("latin-1").split("\r\n")
        self.server.seen.append(header_block.decode("latin-1"))
        method, target, _version = lines[0].split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=10)
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(upstream)
            return
        url = urllib.parse.urlsplit(target)
        upstream = socket.create_connection((url.hostname or "", url.port or 80), timeout=10)
        path = url.path + (f"?{url.query}" if url.query else "")
        kept = [line for line in lines[1:] if not line.lower().startswith(("proxy-", "connection:"))]
        request = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""])
        upstream.sendall(request.encode("latin-1") + rest)
        self._pipe(upstream)

    def _pipe(self, upstream: socket.socket) -> None:
        sockets = [self.request, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 10)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.request else self.request).sendall(data)
        finally:
            upstream.close()


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[str] = []


@contextmanager
def forward_proxy() -> Iterator[_ProxyServer]:
    """A running proxy; ``server.server_address[1]`` is its port, ``server.seen`` the request heads."""
    server = _ProxyServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
