"""Errors of the secrets domain."""

from __future__ import annotations

from tessera.core.errors import TesseraError


class EngineUnavailable(TesseraError):
    """Raised when a secrets engine's database cannot be reached or refuses Tessera's login."""

    status, slug, title = 502, "engine-unavailable", "Engine database unreachable"


class EngineError(TesseraError):
    """Raised when the database refuses an operation (bad statement, missing privilege)."""

    status, slug, title = 502, "engine-error", "The database refused the operation"


class VersionConflict(TesseraError):
    """Raised when a check-and-set version does not match the secret's current version."""

    status, slug, title = 409, "cas-mismatch", "Check-and-set version mismatch"


class LeaseNotRenewable(TesseraError):
    """Raised when renewing a lease that is not renewable, expired or revoked."""

    status, slug, title = 400, "lease-not-renewable", "Lease cannot be renewed"
