"""PKI failures a caller can cause, each with its own stable problem type."""

from __future__ import annotations

from tessera.core.errors import TesseraError


class NameNotAllowed(TesseraError):
    """A requested subject name or SAN is outside what the profile allows."""

    status, slug, title = 400, "pki-name-not-allowed", "Name not allowed by the profile"


class KeyNotAllowed(TesseraError):
    """The key type or size is unsupported, weak, or not allowed by the profile."""

    status, slug, title = 400, "pki-key-not-allowed", "Key not allowed"


class TTLTooLong(TesseraError):
    """The requested lifetime is above the profile's or the policy's maximum."""

    status, slug, title = 400, "pki-ttl-too-long", "Requested TTL above the maximum"


class BadCSR(TesseraError):
    """The CSR or certificate input cannot be parsed, is too large, or its signature fails."""

    status, slug, title = 400, "pki-bad-csr", "Invalid certificate signing request"


class BadCertificate(TesseraError):
    """A certificate given for import does not parse, match the CA's key, or chain."""

    status, slug, title = 400, "pki-bad-certificate", "Invalid certificate"


class CAUnavailable(TesseraError):
    """The CA cannot issue: pending, retired, revoked or expired."""

    status, slug, title = 409, "pki-ca-unavailable", "The CA cannot issue"
