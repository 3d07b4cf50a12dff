"""Verification of JWTs issued by someone else (CI OIDC tokens, Kubernetes service-account
tokens, later JWT-SVIDs): shared by the JWT/OIDC auth method and OAuth token exchange.

Contract (the implementation lands with the JWT auth method):
- `TrustedIssuer` says whose tokens are accepted: `issuer` (exact `iss`), keys from a JWKS URL
  (fetched, cached, refetched on an unknown `kid` at most once per `jwks_min_refresh`) or static
  JWKs, and the allowed algorithms (never `none`, never HMAC with a public key).
- `JwtVerifier.verify(token, issuer, audience, typ=None)` returns the claims or raises
  `InvalidToken` (401, a stable type) for: malformed or oversized tokens, `alg` outside the
  allowlist, `jku`/`x5u`/`jwk`/`x5c` headers, unknown `kid`, bad signature, expired or
  not-yet-valid (with `leeway`), wrong `iss`, `aud` missing or not containing `audience`
  exactly (string or array form), and a `typ` other than the one asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tessera.core.errors import TesseraError

MAX_TOKEN_BYTES = 16 * 1024


class InvalidToken(TesseraError):
    """Raised when a presented JWT is not acceptable; the detail names the check that failed
    but never echoes the token."""

    status, slug, title = 401, "invalid-token", "The presented token is not acceptable"


@dataclass(frozen=True)
class TrustedIssuer:
    """An external issuer whose JWTs Tessera accepts."""

    issuer: str
    jwks_url: str | None = None
    static_keys: tuple[Mapping[str, Any], ...] = ()
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: timedelta = timedelta(seconds=30)
    jwks_min_refresh: timedelta = timedelta(seconds=30)
    extra: Mapping[str, Any] = field(default_factory=dict)
