"""JWT access tokens in the RFC 9068 profile: header `typ: at+jwt` and `kid`; claims `iss`,
`sub` (the identity's name: the workload the client or exchanged token stands for), `aud`,
`exp`, `iat`, `jti`, `client_id` and `scope` (space-separated, omitted when empty).

Tokens are not stored: they verify against the JWKS, and only revoked `jti`s are recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt

from tessera.core.clock import Clock
from tessera.core.randomness import Randomness
from tessera.oauth.jose import JoseError, b64url, check_times, header_of, verify_signature
from tessera.oauth.keys import SigningKeys
from tessera.oauth.models import OAuthLimits, TokenClaims

ACCESS_TOKEN_TYP = "at+jwt"


@dataclass(frozen=True)
class MintRequest:
    """What one access token says; the service has narrowed every field already."""

    subject: str
    client_id: str
    audiences: Sequence[str]
    scopes: Sequence[str]
    ttl: timedelta


@dataclass(frozen=True)
class Minted:
    token: str
    jti: str
    expires_in: int


class AccessTokens:
    """Signs access tokens with the active key and verifies tokens this server issued."""

    def __init__(
        self, keys: SigningKeys, clock: Clock, rng: Randomness, issuer: str, limits: OAuthLimits
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._rng = rng
        self._issuer = issuer
        self._limits = limits

    @property
    def issuer(self) -> str:
        return self._issuer

    def mint(self, req: MintRequest) -> Minted:
        signing = self._keys.active()
        now = int(self._clock.now().timestamp())
        lifetime = int(req.ttl.total_seconds())
        jti = b64url(self._rng.token_bytes(18))
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": req.subject,
            "aud": req.audiences[0] if len(req.audiences) == 1 else list(req.audiences),
            "exp": now + lifetime,
            "iat": now,
            "jti": jti,
            "client_id": req.client_id,
        }
        if req.scopes:
            claims["scope"] = " ".join(req.scopes)
        headers = {"typ": ACCESS_TOKEN_TYP, "kid": signing.kid}
        token = jwt.encode(claims, signing.key, algorithm=signing.alg, headers=headers)
        return Minted(token=token, jti=jti, expires_in=lifetime)

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a live token this server signed, or None for anything else
        (malformed, foreign, wrong type, bad signature, expired); revocation is not checked."""
        try:
            header = header_of(token, self._limits.max_token_bytes)
            if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
                return None
            kid = header.get("kid")
            found = self._keys.public_key(kid) if isinstance(kid, str) else None
            if found is None or header.get("alg") != found[0]:
                return None
            claims = verify_signature(token, found[1], found[0])
            check_times(claims, self._clock.now(), self._limits.leeway, max_lifetime=None)
        except JoseError:
            return None
        required = ("jti", "client_id", "sub")
        if claims.get("iss") != self._issuer or not all(
            isinstance(claims.get(c), str) for c in required
        ):
            return None
        return TokenClaims(claims)
