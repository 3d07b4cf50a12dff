"""Machine auth methods: AppRole and JWT/OIDC logins that turn a proof into a Tessera token,
throttled per source and per role with lockout after repeated failures."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.auth.jwtverify import JwtVerifier
from tessera.auth.methods.approle import AppRoleService
from tessera.auth.methods.errors import LoginRefused
from tessera.auth.methods.jwt import JwtAuthService
from tessera.auth.methods.models import (
    AppRole,
    AppRoleLogin,
    AppRoleSpec,
    JwtIssuerSpec,
    JwtLogin,
    JwtRoleSpec,
    SecretIdRequest,
)
from tessera.auth.methods.ports import Authorizer, InventoryPort, KeySource, TokenMinter
from tessera.auth.methods.ratelimit import LoginGuard, LoginLimits
from tessera.core.clock import Clock
from tessera.core.randomness import Randomness
from tessera.storage.db import Database


@dataclass
class AuthMethods:
    """The wired auth methods of one server, sharing one login guard and JWT verifier."""

    guard: LoginGuard
    verifier: JwtVerifier
    approle: AppRoleService
    jwt: JwtAuthService

    def on_unseal(self) -> None:
        self.approle.on_unseal()

    def on_seal(self) -> None:
        self.approle.on_seal()


def build_auth_methods(
    db: Database,
    clock: Clock,
    rng: Randomness,
    keys: KeySource,
    authz: Authorizer,
    inventory: InventoryPort,
    tokens: TokenMinter,
    limits: LoginLimits | None = None,
    verifier: JwtVerifier | None = None,
) -> AuthMethods:
    guard = LoginGuard(clock, limits)
    verifier = verifier or JwtVerifier(clock)
    approle = AppRoleService(db, clock, rng, keys, authz, inventory, tokens, guard)
    jwt = JwtAuthService(db, clock, authz, inventory, tokens, verifier, guard)
    return AuthMethods(guard, verifier, approle, jwt)


__all__ = [
    "AppRole",
    "AppRoleLogin",
    "AppRoleService",
    "AppRoleSpec",
    "AuthMethods",
    "JwtAuthService",
    "JwtIssuerSpec",
    "JwtLogin",
    "JwtRoleSpec",
    "LoginGuard",
    "LoginLimits",
    "LoginRefused",
    "SecretIdRequest",
    "build_auth_methods",
]
