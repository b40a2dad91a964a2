"""HTTPS plumbing for the sandboxes: a threaded server that hands each request to a callback."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from gifting.sandbox.salesforce_api import ApiResponse

logger = logging.getLogger(__name__)

_JSON_CONTENT_TYPE = "application/json;charset=UTF-8"


class RequestCallback(Protocol):
    """Serve one request: method, target (path and query string), body, Authorization header."""

    def __call__(
        self, method: str, target: str, body: bytes, *, authorization: str | None
    ) -> ApiResponse: ...


class SandboxHttpServer(ThreadingHTTPServer):
    """Threaded HTTPS server; each connection does its TLS handshake in its own thread."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handle: RequestCallback, tls: ssl.SSLContext
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.callback = handle
        self.tls = tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = self.socket.accept()
        # Deferring the handshake keeps a slow or broken client from blocking the accept loop.
        wrapped = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        with self._connections_lock:
            self._connections.add(wrapped)
        return wrapped, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down keep-alive connections, which would otherwise outlive the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # the client closed it first
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.warning("Salesforce sandbox connection failed", exc_info=True)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY each keep-alive response waits about 40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    # Seconds an idle keep-alive connection stays open.
    timeout = 60
    server: SandboxHttpServer

    def setup(self) -> None:
        super().setup()
        self.connection.do_handshake()

    def do_GET(self) -> None:
        self._respond()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

    def _respond(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.server.callback(
            self.command, self.path, body, authorization=self.headers.get("Authorization")
        )
        if isinstance(response.body, bytes):
            payload = response.body
        else:
            payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if payload and "Content-Type" not in response.headers:
            self.send_header("Content-Type", _JSON_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        logger.debug("%s %s -> %s", self.command, urlsplit(self.path).path, response.status)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip http.server's access log, which would print SOQL from the query string."""

    def log_message(self, format: str, *args: Any) -> None:
        # http.server reports here, among others, idle keep-alive connections timing out.
        logger.debug("Salesforce sandbox: " + format, *args)
