"""An HTTP proxy for the tests, on 127.0.0.1: CONNECT tunnels and absolute-form requests, recorded."""

from __future__ import annotations

import http.client
import select
import socket
import urllib.parse

from tests.integration.registries import Server, _Quiet


class Proxy(Server):
    """An HTTP proxy (CONNECT tunnels and absolute-form requests) that records what it carried.

    ``names`` maps host names only the proxy knows (``registry.test``) to addresses.
    """

    def __init__(self, names: dict[str, str] | None = None) -> None:
        super().__init__(_ProxyHandler)
        self.names = names or {}
        self.seen: list[str] = []


class _ProxyHandler(_Quiet):
    server: Proxy

    def _target(self, host: str, port: int) -> tuple[str, int]:
        return self.server.names.get(host, host), port

    def do_CONNECT(self):
        host, _, port = self.path.rpartition(":")
        self.server.seen.append(f"CONNECT {self.path}")
        upstream = socket.create_connection(self._target(host, int(port)), timeout=30)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        sockets = [self.connection, upstream]
        try:
            while True:
                ready, _, _ = select.select(sockets, [], [], 30)
                if not ready:
                    break
                for s in ready:
                    data = s.recv(1 << 16)
                    if not data:
                        return
                    (upstream if s is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()

    def _forward(self):
        url = urllib.parse.urlsplit(self.path)
        self.server.seen.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        host, port = self._target(url.hostname or "", url.port or 80)
        conn = http.client.HTTPConnection(host, port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        conn.request(self.command, url.path + (f"?{url.query}" if url.query else ""), body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _forward
