"""API key errors. A key that is wrong, unknown, expired, revoked or malformed gets one answer."""

from __future__ import annotations

from tessera.core.errors import TesseraError


class InvalidApiKey(TesseraError):
    """Raised by verification for every unusable key, never saying which way it failed; a
    type of its own so a service can tell it from a problem with its own Tessera token."""

    status, slug, title = 401, "invalid-api-key", "Invalid API key"

    def __init__(self) -> None:
        super().__init__("the API key is invalid, expired or revoked")
