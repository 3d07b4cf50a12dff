"""The mutual-TLS login door: a small HTTPS listener, in a thread of the server process,
serving only `POST /v1/auth/cert/login` (uvicorn does not hand the peer certificate to the
app, so the certificate login cannot live on the main API).

The handshake asks for a client certificate (optional, so a missing one gets a typed answer)
against a bundle of every Tessera CA and every role's extra CA; time checks are left to the
login, which judges validity by Tessera's clock. A certificate OpenSSL cannot chain to that
bundle, or one whose purpose is not client authentication, fails the handshake itself: the
client sees the TLS alert and the refusal is audited. The bundle is rebuilt when CAs or roles
change, and the server certificate is re-read when its files change.

`start` loads the revocation data logins depend on and builds the TLS context before the
socket is bound: no connection is accepted before a revoked certificate can be recognised.
Every request is audited like the main API's (request line before, fail closed; response
line after); answers are JSON (problem+json for errors), never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tessera.auth.methods.cert_http import LoginHandler, LoginServer
from tessera.auth.methods.cert_models import CertLogin
from tessera.auth.models import CreatedToken
from tessera.core.clock import Clock
from tessera.core.context import RequestContext, current_request
from tessera.core.errors import (
    AuditUnavailable,
    CrossOrigin,
    InvalidRequest,
    MalformedJSON,
    NotFound,
    RateLimited,
    Sealed,
    TesseraError,
)
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness

log = logging.getLogger("tessera.auth.cert")
LOGIN_PATH = "/v1/auth/cert/login"
_NO_CHECK_TIME = 0x200000  # X509_V_FLAG_NO_CHECK_TIME: validity is judged by Tessera's clock


class CertLoginPort(Protocol):
    """What the listener needs of the cert auth service."""

    def prepare(self) -> None: ...

    def trust_digest(self) -> str: ...

    def trust_bundle_pem(self) -> str: ...

    def login(self, req: CertLogin) -> CreatedToken: ...


class AuditPort(Protocol):
    def emit(self, event_type: str, request_id: str, data: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ListenerConfig:
    """Where to listen (port 0: any free port), the server certificate and key files, and
    the bounds of one exchange: body size, per-read timeout, concurrent connections."""

    host: str
    port: int
    cert_file: Path
    key_file: Path
    max_body: int = 8 * 1024
    timeout: float = 10.0
    max_connections: int = 64

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise InvalidRequest("the TLS login port must be 0-65535")
        if self.max_body < 64 or self.timeout <= 0 or self.max_connections < 1:
            raise InvalidRequest("TLS login listener limits must be positive")


class ListenerError(TesseraError):
    """Raised when the listener cannot start (unreadable certificate or key, port in use)."""

    status, slug, title = 500, "tls-listener", "The TLS login listener cannot start"


class CertLoginListener:
    """The TLS login listener: `start` (load revocation data, build TLS, bind, serve in a
    thread), `stop`, and `address` once started."""

    def __init__(
        self,
        service: CertLoginPort,
        config: ListenerConfig,
        audit: AuditPort,
        sealed: Callable[[], bool],
        clock: Clock,
        rng: Randomness,
    ) -> None:
        self.service = service
        self.config = config
        self.audit = audit
        self.sealed = sealed
        self.clock = clock
        self.rng = rng
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._state: tuple[str, float, float] | None = None
        self._server: LoginServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise ListenerError("the TLS login listener is not running")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self.service.prepare()
        self.context()
        try:
            self._server = LoginServer(
                (self.config.host, self.config.port),
                self,
                self.config.timeout,
                self.config.max_connections,
            )
        except OSError as exc:
            raise ListenerError(
                f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror}"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tessera-cert-login", daemon=True
        )
        self._thread.start()
        log.info("TLS certificate login listening on %s:%s", *self.address)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout)
            self._thread = None

    # -- TLS context ------------------------------------------------------------------------
    def context(self) -> ssl.SSLContext:
        """The current TLS context, rebuilt when the trust material or the server
        certificate files changed since it was built."""
        digest = self.service.trust_digest()
        try:
            cert_m = os.stat(self.config.cert_file).st_mtime
            key_m = os.stat(self.config.key_file).st_mtime
        except OSError as exc:
            raise ListenerError(f"cannot read the TLS certificate or key: {exc.strerror}") from None
        with self._lock:
            if self._context is not None and self._state == (digest, cert_m, key_m):
                return self._context
        ctx = self._build(self.service.trust_bundle_pem())
        with self._lock:
            self._context, self._state = ctx, (digest, cert_m, key_m)
        return ctx

    def _build(self, bundle: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.config.cert_file, self.config.key_file)
        except (OSError, ssl.SSLError):
            raise ListenerError(
                f"cannot load the TLS certificate {self.config.cert_file} with its key"
            ) from None
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | _NO_CHECK_TIME
        if bundle:
            ctx.load_verify_locations(cadata=bundle)
        return ctx

    # -- one exchange -----------------------------------------------------------------------
    def handshake_refused(self, addr: str, reason: str) -> None:
        """A client certificate the handshake refused: audited, as a refused login."""
        rid = new_ulid(self.clock, self.rng)
        decision = {
            "path": "auth/cert/login",
            "capability": "login",
            "allowed": False,
            "reasons": [f"TLS handshake: {reason}"[:300]],
            "role": None,
        }
        try:
            self.audit.emit(
                "request",
                rid,
                {"method": "TLS", "path": LOGIN_PATH, "remote_addr": addr, "token": None},
            )
            self.audit.emit(
                "response",
                rid,
                {
                    "status": 0,
                    "auth": None,
                    "decisions": [decision],
                    "error": "tls-handshake-refused",
                },
            )
        except AuditUnavailable:
            log.error("could not audit a refused TLS handshake from %s", addr)

    def exchange(self, handler: LoginHandler) -> None:
        """Answer one request on an established TLS connection, audited like the API's."""
        ctx = RequestContext(new_ulid(self.clock, self.rng), remote_addr=handler.source)
        reset = current_request.set(ctx)
        status, body, headers = 500, {}, {}
        try:
            self.audit.emit(
                "request",
                ctx.request_id,
                {
                    "method": handler.command,
                    "path": handler.path[:256],
                    "remote_addr": ctx.remote_addr,
                    "token": None,
                },
            )
        except AuditUnavailable as exc:
            current_request.reset(reset)
            handler.answer(exc.status, exc.to_problem(), {})
            return
        try:
            status, body = 200, self._login(handler)
        except RateLimited as exc:
            status, body = exc.status, exc.to_problem()
            headers = {"Retry-After": str(exc.extra.get("retry_after", 1))}
        except TesseraError as exc:
            status, body = exc.status, exc.to_problem()
        except Exception:
            log.exception("TLS certificate login failed")  # the client gets no traceback
            status, body = 500, TesseraError("internal error").to_problem()
        finally:
            ctx.error = body.get("type", "").rsplit(":", 1)[-1] if status >= 400 else None
            with contextlib.suppress(AuditUnavailable):
                self.audit.emit(
                    "response",
                    ctx.request_id,
                    {
                        "status": status,
                        "auth": ctx.auth,
                        "decisions": ctx.decisions,
                        "error": ctx.error,
                    },
                )
            current_request.reset(reset)
        handler.answer(status, body, {"X-Request-Id": ctx.request_id, **headers})

    def _login(self, handler: LoginHandler) -> dict[str, Any]:
        if handler.command != "POST" or handler.path.split("?")[0] != LOGIN_PATH:
            raise NotFound(f"this listener serves only POST {LOGIN_PATH}")
        if handler.headers.get("Origin") is not None:
            raise CrossOrigin("requests from web pages are refused")
        if self.sealed():
            raise Sealed("Tessera is sealed; unseal it with the key shares")
        role = _role(handler.read_body(self.config.max_body))
        created = self.service.login(CertLogin(handler.peer_certificate(), role, handler.source))
        return login_body(created, self.clock.now())


def _role(raw: bytes) -> str | None:
    if not raw.strip():
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedJSON("the request body is not valid JSON") from None
    if not isinstance(doc, dict) or set(doc) - {"role"}:
        raise InvalidRequest('the body is a JSON object with at most "role"')
    role = doc.get("role")
    if role is not None and not isinstance(role, str):
        raise InvalidRequest("role must be a string")
    return role


def login_body(created: CreatedToken, now: datetime) -> dict[str, Any]:
    """The answer of a login: the token (shown once) and its properties, as the API's
    other login routes give them."""
    info = created.info
    left = max(0, int((info.expires_at - now).total_seconds())) if info.expires_at else 0

    def iso(value: datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "token": created.token,
        "info": {
            "accessor": info.accessor,
            "policies": list(info.policies),
            "display_name": info.display_name,
            "identity_id": info.identity_id,
            "meta": dict(info.meta),
            "renewable": info.renewable,
            "ttl": left,
            "creation_ttl": info.ttl_seconds,
            "created_at": iso(info.created_at),
            "expires_at": iso(info.expires_at),
            "max_expires_at": iso(info.max_expires_at),
            "parent_accessor": info.parent_accessor,
            "revoked": info.revoked_at is not None,
        },
    }


__all__ = ["LOGIN_PATH", "CertLoginListener", "ListenerConfig", "ListenerError", "login_body"]
