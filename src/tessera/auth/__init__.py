"""Authentication: tokens and the Principal they resolve to (service in `auth.service`)."""

from tessera.auth.models import CreatedToken, CreateTokenRequest, Principal, TokenInfo

__all__ = ["CreateTokenRequest", "CreatedToken", "Principal", "TokenInfo"]
