"""The gate every HTTP request passes: request id, path and size limits, seal state, audit
(fail closed) and metrics. Pure ASGI so it adds microseconds, not a task per request."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.api.deps import presented_token
from tessera.api.errors import problem_response
from tessera.app import Container
from tessera.audit import Sensitive
from tessera.core.context import RequestContext, current_request
from tessera.core.errors import (
    AuditUnavailable,
    CrossOrigin,
    InvalidPath,
    InvalidRequest,
    NotInitialized,
    PayloadTooLarge,
    Sealed,
    TesseraError,
    Unauthenticated,
    UnsupportedMediaType,
)
from tessera.core.ids import new_ulid

# Reachable while sealed; not audited because load balancers poll them constantly.
QUIET_PATHS = frozenset({"/v1/sys/health", "/v1/sys/seal-status", "/metrics"})
# While sealed: health, seal status, unseal, and metrics (so monitoring sees `tessera_sealed`).
SEALED_OK = QUIET_PATHS | {"/v1/sys/unseal"}
UNINITIALISED_OK = QUIET_PATHS | {"/v1/sys/init", "/openapi.json", "/docs"}
_BAD_ENCODINGS = (b"%2f", b"%5c", b"%2e", b"%00")
# Public PKI endpoints (CRL, OCSP, CA certificates): no token, nothing secret, polled by every
# relying party, so not audited. OCSP GET carries base64 (with '/', '+') in its last segment.
PUBLIC_PKI = "/v1/pki/public/"
PUBLIC_SSH = "/v1/ssh/public/"
# OAuth 2 endpoints take form bodies (RFC 6749); key sets and metadata are polled by every
# resource server, so (like public PKI) they are not audited.
OAUTH = "/oauth2/"
OAUTH_PUBLIC = frozenset(
    {"/oauth2/jwks", "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}
)
OCSP_MEDIA = b"application/ocsp-request"
_CURL_DEFAULT = b"application/x-www-form-urlencoded"


class Metrics:
    """Prometheus metrics of one app, in a registry of their own (served at `/metrics`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tessera_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tessera_http_request_duration_seconds",
            "Request latency",
            ["route"],
            registry=self.registry,
        )
        self.sealed = Gauge("tessera_sealed", "1 when sealed", registry=self.registry)
        self.audit_failures = Gauge(
            "tessera_audit_sink_failures", "Failed audit writes", ["sink"], registry=self.registry
        )


class GateMiddleware:
    """The gate in front of the app: refuses what fails the prechecks (path, size, media type,
    origin, seal state), audits the request before it runs (fail closed) and records metrics."""

    def __init__(self, app: ASGIApp, container: Container, metrics: Metrics) -> None:
        self.app = app
        self.c = container
        self.metrics = metrics
        self.max_body = container.settings.max_body_bytes
        self.own_origin = container.settings.url.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        c = self.c
        started = time.perf_counter()
        request_id = new_ulid(c.clock, c.rng)
        client = scope.get("client")
        ctx = RequestContext(request_id=request_id, remote_addr=client[0] if client else "")
        reset = current_request.set(ctx)
        path: str = scope["path"]
        status = 500

        body = _BodyLimit(receive, self.max_body)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if body.exceeded and not body.answering:
                return  # the app saw a disconnect; the 413 below is the answer
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        quiet = (
            path in QUIET_PATHS or path in OAUTH_PUBLIC or path.startswith((PUBLIC_PKI, PUBLIC_SSH))
        )
        try:
            early = self._precheck(scope, path)
            if early is not None:
                await problem_response(early)(scope, receive, send_wrapper)
                return
            if not quiet:
                try:
                    c.auditor.emit("request", request_id, self._request_data(scope, ctx))
                except AuditUnavailable as exc:
                    await problem_response(exc)(scope, receive, send_wrapper)
                    return
            try:
                await self.app(scope, body.receive, send_wrapper)
            except Exception:
                if not body.exceeded:
                    raise
            if body.exceeded:
                body.answering = True
                too_large = PayloadTooLarge(f"the body limit is {self.max_body} bytes")
                await problem_response(too_large)(scope, receive, send_wrapper)
        finally:
            current_request.reset(reset)
            if not quiet:
                self._audit_response(ctx, status, started)
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)

    def _precheck(self, scope: Scope, path: str) -> TesseraError | None:
        # Browsers label cross-site requests with Origin; the API is for machines and the CLI,
        # so a foreign Origin (e.g. a page POSTing a form to /v1/sys/init) is refused.
        origin = next((v for n, v in scope["headers"] if n == b"origin"), None)
        if origin is not None and origin.decode("latin-1").rstrip("/") != self.own_origin:
            return CrossOrigin("requests from web pages of other origins are refused")
        query = scope.get("query_string", b"").lower()
        if b"%00" in query or any(b < 0x20 or b == 0x7F for b in query):
            return InvalidRequest("control characters are not allowed in query parameters")
        raw = bytes(scope.get("raw_path") or path.encode()).lower()
        ocsp_get = path.startswith(PUBLIC_PKI) and "/ocsp/" in path
        if not ocsp_get and (
            any(bad in raw for bad in _BAD_ENCODINGS) or "\\" in path or "//" in path
        ):
            return InvalidPath("encoded separators, dot segments and empty segments are refused")
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                return PayloadTooLarge(f"the body limit is {self.max_body} bytes")
        if scope["method"] in ("POST", "PUT", "PATCH"):
            ctype = next((v for n, v in scope["headers"] if n == b"content-type"), b"")
            media = ctype.split(b";")[0].strip().lower()
            if media == _CURL_DEFAULT and path.startswith(OAUTH):
                pass  # OAuth speaks forms
            elif media in (b"", _CURL_DEFAULT):
                # `curl -d` labels JSON as a form; every body we accept is JSON, so read it so
                headers = [(n, v) for n, v in scope["headers"] if n != b"content-type"]
                scope["headers"] = [*headers, (b"content-type", b"application/json")]
            elif media == OCSP_MEDIA and path.startswith(PUBLIC_PKI):
                pass
            elif not media.endswith(b"json"):
                return UnsupportedMediaType("request bodies must be application/json")
        barrier = self.c.barrier
        if barrier.sealed:
            status = barrier.status()
            if not status.initialized and path not in UNINITIALISED_OK:
                return NotInitialized("initialize Tessera first (tessera operator init)")
            if status.initialized and path not in SEALED_OK:
                return Sealed("Tessera is sealed; unseal it with the key shares")
        return None

    def _request_data(self, scope: Scope, ctx: RequestContext) -> dict[str, Any]:
        headers = Headers(scope=scope)
        try:
            token = presented_token(headers)
        except Unauthenticated:  # unusable scheme: still record (hashed) what was sent
            token = headers.get("authorization")
        return {
            "method": scope["method"],
            "path": scope["path"],
            "remote_addr": ctx.remote_addr,
            "token": Sensitive(token) if token else None,
        }

    def _audit_response(self, ctx: RequestContext, status: int, started: float) -> None:
        data = {
            "status": status,
            "auth": ctx.auth,
            "decisions": ctx.decisions,
            "error": ctx.error,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        # the request line was written; a failing sink is counted and logged by the auditor
        with contextlib.suppress(AuditUnavailable):
            self.c.auditor.emit("response", ctx.request_id, data)


class _BodyLimit:
    """Counts body bytes as they stream in; past the limit the app sees a disconnect and the
    gate answers 413 itself, so nothing past the limit is buffered or parsed."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self._seen = 0
        self.exceeded = False
        self.answering = False

    async def receive(self) -> Message:
        if self.exceeded:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            if self._seen > self._limit:
                self.exceeded = True
                return {"type": "http.disconnect"}
        return message
