"""OAuth 2 authorization server for machines: client credentials (RFC 6749 §4.4) with
`client_secret_basic`, `client_secret_post` and `private_key_jwt` (RFC 7523), RFC 9068 JWT
access tokens with signing-key rotation and a JWKS, introspection (RFC 7662), revocation
(RFC 7009), token exchange (RFC 8693) and metadata (RFC 8414).

`build_oauth` wires the parts; `OAuthServer` is what the composition root, the API router
and the CLI use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tessera.barrier.service import Barrier
from tessera.core.clock import Clock
from tessera.core.randomness import Randomness
from tessera.oauth.client_auth import ClientAuthenticator
from tessera.oauth.clients import ClientService, SecretHasher
from tessera.oauth.errors import OAuthError
from tessera.oauth.exchange import TokenExchange
from tessera.oauth.keys import SigningKeys
from tessera.oauth.metadata import endpoint_urls, server_metadata
from tessera.oauth.models import OAuthLimits
from tessera.oauth.ports import Authorizer, ExternalJwtVerifier, InventoryPort
from tessera.oauth.service import OAuthService
from tessera.oauth.tokens import AccessTokens
from tessera.storage.db import Database


@dataclass
class OAuthServer:
    """The wired OAuth server: client management, signing keys, exchange issuers, and the
    endpoint logic."""

    issuer: str
    limits: OAuthLimits
    clients: ClientService
    keys: SigningKeys
    exchange: TokenExchange
    endpoints: OAuthService
    tokens: AccessTokens
    _hasher: SecretHasher

    def on_seal(self) -> None:
        """Drop every key held in memory."""
        self.keys.forget()
        self._hasher.forget()

    def revoke_for_identity(self, session: Session, identity_id: str, now: datetime) -> int:
        """CredentialRevoker port (decommissioning an identity revokes its clients)."""
        return self.clients.revoke_for_identity(session, identity_id, now)


def build_oauth(
    db: Database,
    clock: Clock,
    rng: Randomness,
    barrier: Barrier,
    policies: Authorizer,
    inventory: InventoryPort,
    issuer: str,
    verifier: ExternalJwtVerifier,
    limits: OAuthLimits | None = None,
) -> OAuthServer:
    """Wire the OAuth server; `issuer` is the public base URL (no trailing slash)."""
    limits = limits or OAuthLimits()
    issuer = issuer.rstrip("/")
    hasher = SecretHasher(barrier)
    keys = SigningKeys(db, clock, barrier, policies, limits)
    tokens = AccessTokens(keys, clock, rng, issuer, limits)
    urls = endpoint_urls(issuer)
    authenticator = ClientAuthenticator(
        db, clock, hasher, limits, audiences=(issuer, urls["token_endpoint"]), inventory=inventory
    )
    exchange = TokenExchange(db, clock, policies, verifier, limits)
    server = OAuthServer(
        issuer=issuer,
        limits=limits,
        clients=ClientService(db, clock, rng, hasher, policies, inventory, limits),
        keys=keys,
        exchange=exchange,
        endpoints=OAuthService(db, clock, authenticator, tokens, exchange, limits),
        tokens=tokens,
        _hasher=hasher,
    )
    barrier.add_listener(lambda: None, server.on_seal)
    return server


__all__ = ["OAuthError", "OAuthLimits", "OAuthServer", "build_oauth", "server_metadata"]
