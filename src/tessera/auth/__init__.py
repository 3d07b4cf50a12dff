"""Authentication: tokens and the Principal they resolve to."""

from tessera.auth.models import CreatedToken, CreateTokenRequest, Principal, TokenInfo
from tessera.auth.service import TokenLimits, TokenService

__all__ = [
    "CreateTokenRequest",
    "CreatedToken",
    "Principal",
    "TokenInfo",
    "TokenLimits",
    "TokenService",
]
