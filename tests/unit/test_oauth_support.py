"""Shared helpers of the OAuth tests (no tests here): a container with the OAuth server built
from its parts, a stub of the external-JWT verifier, and JWT builders."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.app import Container
from tessera.auth.jwtverify import InvalidToken, TrustedIssuer
from tessera.auth.models import Principal
from tessera.core.clock import Clock, FakeClock
from tessera.inventory.models import CreateIdentityRequest
from tessera.oauth import OAuthServer, build_oauth
from tessera.oauth.jose import JoseError, audiences_of, load_public_jwk, public_jwk
from tests.helpers import make_container, root_principal

ISSUER = "https://tessera.test"
TOKEN_URL = ISSUER + "/oauth2/token"


class StubVerifier:
    """The documented JwtVerifier contract over static keys only (enough for these tests)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def verify(
        self, token: str, issuer: TrustedIssuer, audience: str, typ: str | None = None
    ) -> Mapping[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") not in issuer.algorithms:
            raise InvalidToken("alg not allowed")
        for doc in issuer.static_keys:
            if doc.get("kid") not in (None, header.get("kid")):
                continue
            try:
                key = load_public_jwk(doc)
                claims = jwt.decode(
                    token, key, algorithms=[str(header["alg"])], options={"verify_signature": True,
                    "verify_exp": False, "verify_aud": False, "verify_iat": False,
                    "verify_nbf": False},
                )  # fmt: skip
            except (JoseError, jwt.InvalidTokenError):
                continue
            if claims.get("iss") != issuer.issuer:
                raise InvalidToken("wrong iss")
            if audience not in audiences_of(claims):
                raise InvalidToken("wrong aud")
            if claims.get("exp", 0) <= self.clock.now().timestamp():
                raise InvalidToken("expired")
            return claims
        raise InvalidToken("bad signature or unknown kid")


@dataclass
class Env:
    c: Container
    oauth: OAuthServer
    root: Principal
    clock: FakeClock
    identity: str = "billing-api"


def make_env(tmp_path: Path, issuer: str = ISSUER, start: datetime | None = None) -> Env:
    clock = FakeClock(start or datetime.fromtimestamp(int(time.time()), UTC))
    c, _shares, root_token = make_container(tmp_path / "data", clock=clock)
    oauth = build_oauth(
        c.db, c.clock, c.rng, c.barrier, c.policies, c.inventory, issuer, StubVerifier(clock)
    )
    c.inventory.add_revoker(oauth)
    c.oauth = oauth  # type: ignore[attr-defined]
    root = root_principal(c, root_token)
    c.inventory.create_identity(root, CreateIdentityRequest(name="billing-api", owner="team-pay"))
    return Env(c, oauth, root, clock)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk_of(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    return {**public_jwk(key.public_key()), "kid": kid}


def sign(
    key: Any,
    claims: Mapping[str, Any],
    alg: str = "ES256",
    headers: Mapping[str, Any] | None = None,
) -> str:
    return jwt.encode(dict(claims), key, algorithm=alg, headers=dict(headers or {}))


def assertion_claims(client_id: str, now: datetime, **extra: Any) -> dict[str, Any]:
    t = int(now.timestamp())
    base = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "iat": t, "exp": t + 60}
    base["jti"] = secrets.token_hex(16)
    return {**base, **extra}
