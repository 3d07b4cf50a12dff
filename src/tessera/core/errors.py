"""Typed errors. Each maps to an HTTP status and a stable RFC 9457 problem `type` URI.

The API answers `application/problem+json`; the CLI prints `title: detail`, exits non-zero.
Messages never contain secret material.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "urn:tessera:problem:"


class TesseraError(Exception):
    """Base for every failure a caller can cause or must handle."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_BASE + cls.slug

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class InvalidRequest(TesseraError):
    """Raised when a request's input is invalid."""

    status, slug, title = 400, "invalid-request", "Invalid request"


class MalformedJSON(TesseraError):
    """Raised when a request body cannot be parsed as JSON."""

    status, slug, title = 400, "malformed-json", "Malformed JSON body"


class InvalidPath(TesseraError):
    """Raised for a malformed request path or policy path pattern."""

    status, slug, title = 400, "invalid-path", "Invalid path"


class Unauthenticated(TesseraError):
    """Raised when no usable token is presented."""

    status, slug, title = 401, "unauthenticated", "Missing, invalid, expired or revoked token"


class PermissionDenied(TesseraError):
    """Raised when policy does not allow the request."""

    status, slug, title = 403, "permission-denied", "Permission denied"


class CrossOrigin(TesseraError):
    """Raised when a request carries an `Origin` other than the server's own."""

    status, slug, title = 403, "cross-origin", "Cross-origin requests are refused"


class NotFound(TesseraError):
    """Raised when the named object does not exist."""

    status, slug, title = 404, "not-found", "Not found"


class Conflict(TesseraError):
    """Raised when the object exists already or its state does not allow the change."""

    status, slug, title = 409, "conflict", "Conflict"


class AlreadyInitialized(TesseraError):
    """Raised by init when Tessera is initialized or an init is in progress."""

    status, slug, title = 409, "already-initialized", "Already initialized"


class PayloadTooLarge(TesseraError):
    """Raised when a request body exceeds the configured limit."""

    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(TesseraError):
    """Raised when a request body is not JSON."""

    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class RateLimited(TesseraError):
    """Raised when a caller exceeds a request rate limit."""

    status, slug, title = 429, "rate-limited", "Too many requests"


class Sealed(TesseraError):
    """Raised when the request needs keys and Tessera is sealed."""

    status, slug, title = 503, "sealed", "Tessera is sealed"


class NotInitialized(TesseraError):
    """Raised when the request needs Tessera to be initialized first."""

    status, slug, title = 503, "not-initialized", "Tessera is not initialized"


class AuditUnavailable(TesseraError):
    """Raised when no audit sink can record the request (audit fails closed)."""

    status, slug, title = 503, "audit-unavailable", "No audit sink can record this request"


class UnsealFailed(TesseraError):
    """Raised when an unseal share is invalid or repeated, or the shares do not combine."""

    status, slug, title = 400, "unseal-failed", "Unseal failed"


class BarrierError(TesseraError):
    """Ciphertext that does not decrypt under the keyring and its associated data."""

    status, slug, title = 500, "barrier-integrity", "Stored ciphertext failed authentication"


class StorageUnavailable(TesseraError):
    """Raised when the database cannot be reached or is too busy."""

    status, slug, title = 503, "storage-unavailable", "The database cannot be reached"
