"""OAuth 2 error responses (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8693 §2.2.2, RFC 8707 §2).

The standard endpoints answer these as `{"error", "error_description"}` JSON, not problem+json,
as the RFCs require; management endpoints use the ordinary Tessera problem types.
"""

from __future__ import annotations

from typing import ClassVar

from tessera.core.errors import TesseraError


class OAuthError(TesseraError):
    """A refusal at an OAuth endpoint; `error` is the registered OAuth error code."""

    status, slug, title = 400, "oauth-error", "OAuth request refused"
    error: ClassVar[str] = "invalid_request"

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.detail}


class InvalidOAuthRequest(OAuthError):
    """Missing, repeated or malformed parameter; unsupported parameter value."""

    slug, error = "oauth-invalid-request", "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed: one answer for unknown client, wrong secret, bad
    assertion, or revoked client, so none of them can be told apart."""

    status, slug, error = 401, "oauth-invalid-client", "invalid_client"

    def __init__(self, detail: str = "client authentication failed", *, basic: bool = False):
        super().__init__(detail)
        self.basic = basic


class InvalidGrant(OAuthError):
    """The grant (or the subject of a token exchange) is not acceptable."""

    slug, error = "oauth-invalid-grant", "invalid_grant"


class UnauthorizedClient(OAuthError):
    """The authenticated client may not use this grant type."""

    slug, error = "oauth-unauthorized-client", "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """A grant type this server does not implement."""

    slug, error = "oauth-unsupported-grant-type", "unsupported_grant_type"


class InvalidScope(OAuthError):
    """A requested scope the client (or exchange binding) is not allowed."""

    slug, error = "oauth-invalid-scope", "invalid_scope"


class InvalidTarget(OAuthError):
    """A requested audience or resource the client is not allowed (RFC 8707)."""

    slug, error = "oauth-invalid-target", "invalid_target"


class UnsupportedTokenType(OAuthError):
    """Revocation of a token type this server does not revoke (RFC 7009)."""

    slug, error = "oauth-unsupported-token-type", "unsupported_token_type"
