"""HTTP/1.0 over TLS for the certificate login door, on the standard library: a threading
server whose handshakes run in a bounded number of per-connection threads, and a handler that
answers every method and every malformed request with a JSON problem document."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from tessera.core.errors import InvalidRequest, PayloadTooLarge, TesseraError, UnsupportedMediaType

log = logging.getLogger("tessera.auth.cert")
PROBLEM_JSON = "application/problem+json"
_DRAIN_LIMIT = 1024 * 1024


class Door(Protocol):
    """What the server needs of the listener: the current TLS context, the audit of a
    refused handshake, and the answer to one request."""

    def context(self) -> ssl.SSLContext: ...

    def handshake_refused(self, addr: str, reason: str) -> None: ...

    def exchange(self, handler: LoginHandler) -> None: ...


class LoginServer(ThreadingHTTPServer):
    """Accepts in the serving thread; the TLS handshake and the exchange run in a thread per
    connection, at most `max_connections` at once (more are closed at once)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], door: Door, timeout: float, max_connections: int
    ) -> None:
        self.door = door
        self.timeout_s = timeout
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, LoginHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # the base class prints a traceback to stderr; an unexpected failure goes to the log
        log.exception("TLS login connection from %s failed", client_address[0])

    def finish_request(self, request: Any, client_address: Any) -> None:
        raw: socket.socket = request
        addr = str(client_address[0])
        raw.settimeout(self.timeout_s)
        try:
            tls = self.door.context().wrap_socket(raw, server_side=True)
        except ssl.SSLCertVerificationError as exc:
            self.door.handshake_refused(addr, exc.verify_message or "certificate refused")
            return
        except (OSError, TesseraError) as exc:  # scanners, plain HTTP, resets, timeouts
            log.debug("TLS handshake with %s failed: %s", addr, exc)
            return
        try:
            LoginHandler(tls, client_address, self)
        except OSError as exc:
            log.debug("TLS login exchange with %s failed: %s", addr, exc)
        finally:
            with contextlib.suppress(OSError):
                tls.close()


class LoginHandler(BaseHTTPRequestHandler):
    """HTTP/1.0 framing: one request per connection. Every method lands in `exchange`."""

    server: LoginServer
    request: ssl.SSLSocket
    timeout = None  # the socket's own timeout, set before the handshake, stays
    consumed = False

    @property
    def source(self) -> str:
        return str(self.client_address[0])

    def version_string(self) -> str:
        return "tessera"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("cert login %s: " + format, self.source, *args)

    def peer_certificate(self) -> bytes | None:
        return self.request.getpeercert(binary_form=True)

    def read_body(self, limit: int) -> bytes:
        if self.headers.get("Transfer-Encoding") is not None:
            raise InvalidRequest("send the body with a Content-Length, not chunked")
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit():
            raise InvalidRequest("Content-Length must be a number")
        if int(length) > limit:
            raise PayloadTooLarge(f"the body limit is {limit} bytes")
        media = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        plain = ("", "application/x-www-form-urlencoded")  # `curl -d` labels JSON as a form
        if int(length) and media not in plain and not media.endswith("json"):
            raise UnsupportedMediaType("request bodies must be application/json")
        self.consumed = True
        return self.rfile.read(int(length))

    def drain(self) -> None:
        """Read an unread body (up to a bound) before answering: closing a connection with
        input pending resets it, and the client would lose the answer."""
        headers = getattr(self, "headers", None)  # unset when the request line was malformed
        length = (headers.get("Content-Length") or "0").strip() if headers else "0"
        if not self.consumed and length.isdigit() and 0 < int(length) <= _DRAIN_LIMIT:
            self.consumed = True
            with contextlib.suppress(OSError):
                self.rfile.read(int(length))

    def answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.drain()
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", PROBLEM_JSON if status >= 400 else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed request lines and headers: a problem document, not the HTML page."""
        err = InvalidRequest(message or "malformed HTTP request")
        body = {**err.to_problem(), "status": code}
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.answer(code, body, {})

    def do_POST(self) -> None:
        self.server.door.exchange(self)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST


__all__ = ["Door", "LoginHandler", "LoginServer"]
