"""SSH CA failures a caller can cause, each with its own stable problem type."""

from __future__ import annotations

from tessera.core.errors import TesseraError


class PrincipalNotAllowed(TesseraError):
    """A requested principal is outside what the role allows."""

    status, slug, title = 400, "ssh-principal-not-allowed", "Principal not allowed by the role"


class SshKeyNotAllowed(TesseraError):
    """The public key is malformed, of an unsupported or weak type, or not allowed."""

    status, slug, title = 400, "ssh-key-not-allowed", "SSH key not allowed"


class SshTTLTooLong(TesseraError):
    """The requested lifetime is above the role's or the policy's maximum."""

    status, slug, title = 400, "ssh-ttl-too-long", "Requested TTL above the maximum"


class OptionNotAllowed(TesseraError):
    """A critical option or extension is unknown or not allowed by the role."""

    status, slug, title = 400, "ssh-option-not-allowed", "Option or extension not allowed"
