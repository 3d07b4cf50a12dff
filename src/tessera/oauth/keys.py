"""Access-token signing keys: generation, sealing, rotation and the JWKS.

Private keys are PKCS#8 DER sealed by the barrier (AAD = the key's row) and cached in memory
while unsealed. The newest unretired key signs. Rotation retires it and adds a new `kid`; a
retired key stays in the JWKS until every token it can have signed has expired
(`publish_until` = retirement + longest token lifetime + the time another node may still
be signing with its cached copy), then it is deleted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.barrier.aead import AAD
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import InvalidRequest
from tessera.oauth.jose import PublicKey, load_public_jwk, public_jwk, thumbprint
from tessera.oauth.models import OAuthLimits, SigningKeyInfo
from tessera.oauth.ports import Authorizer, Sealer
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models_oauth import OAuthSigningKeyRow

SIGNING_ALGORITHMS = ("ES256", "EdDSA")
KEYS_PATH = "oauth/keys"
ROTATE_PATH = "oauth/keys/rotate"
SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    alg: str
    key: SigningKey


def _generate(alg: str) -> SigningKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise InvalidRequest(f"alg must be one of {', '.join(SIGNING_ALGORITHMS)}")


def _aad(kid: str) -> AAD:
    return AAD("oauth_signing_keys", kid, "ciphertext")


class SigningKeys:
    """The key that signs new access tokens, and the public keys that verify them."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        sealer: Sealer,
        policies: Authorizer,
        limits: OAuthLimits,
    ) -> None:
        self._db = db
        self._clock = clock
        self._sealer = sealer
        self._policies = policies
        self._limits = limits
        self._lock = threading.Lock()
        self._active: ActiveKey | None = None
        self._active_read_at = 0.0
        self._public: dict[str, tuple[str, PublicKey]] = {}
        self._public_read_at: float | None = None

    def forget(self) -> None:
        """Drop every cached key (on seal, and after a rotation on this node)."""
        with self._lock:
            self._active = None
            self._public = {}
            self._public_read_at = None

    # -- signing ---------------------------------------------------------------------------
    def active(self) -> ActiveKey:
        """The signing key; created on first use. Cached for `key_cache_seconds`, so a
        rotation on another node is followed within that time."""
        now_mono = self._clock.monotonic()
        cached = self._active
        if cached is not None and now_mono - self._active_read_at < self._limits.key_cache_seconds:
            return cached
        with self._db.session() as s:
            row = self._newest(s)
        if row is None:
            with self._db.session(write=True) as s:
                row = self._newest(s) or self._create(s, "ES256")
        der = self._sealer.decrypt(_aad(row.kid), row.ciphertext)
        key = serialization.load_der_private_key(der, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise InvalidRequest("a stored signing key has an unsupported type")
        active = ActiveKey(row.kid, row.alg, key)
        with self._lock:
            self._active, self._active_read_at = active, now_mono
        return active

    def _newest(self, s: Session) -> OAuthSigningKeyRow | None:
        return s.execute(
            select(OAuthSigningKeyRow)
            .where(OAuthSigningKeyRow.retired_at.is_(None))
            .order_by(OAuthSigningKeyRow.created_at.desc(), OAuthSigningKeyRow.kid.desc())
            .limit(1)
        ).scalar_one_or_none()

    def _create(self, s: Session, alg: str) -> OAuthSigningKeyRow:
        key = _generate(alg)
        jwk = public_jwk(key.public_key())
        kid = thumbprint(jwk)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        row = OAuthSigningKeyRow(
            kid=kid,
            alg=alg,
            public_jwk={**jwk, "kid": kid, "alg": alg, "use": "sig"},
            ciphertext=self._sealer.encrypt(_aad(kid), der),
            created_at=self._clock.now(),
            retired_at=None,
            publish_until=None,
        )
        s.add(row)
        s.flush()
        return row

    # -- management ------------------------------------------------------------------------
    def rotate(self, principal: Principal, alg: str = "ES256") -> SigningKeyInfo:
        """Retire the signing key(s) and make a new one (new `kid`) sign from now on."""
        self._policies.authorize(principal, ROTATE_PATH, Capability.UPDATE)
        if alg not in SIGNING_ALGORITHMS:
            raise InvalidRequest(f"alg must be one of {', '.join(SIGNING_ALGORITHMS)}")
        now = self._clock.now()
        with self._db.session(write=True) as s:
            s.execute(
                delete(OAuthSigningKeyRow).where(
                    OAuthSigningKeyRow.publish_until.is_not(None),
                    OAuthSigningKeyRow.publish_until < now,
                )
            )
            s.execute(
                update(OAuthSigningKeyRow)
                .where(OAuthSigningKeyRow.retired_at.is_(None))
                .values(retired_at=now, publish_until=retire_time(now, self._limits))
            )
            row = self._create(s, alg)
            info = _info(row, active=True)
        self.forget()
        return info

    def list_keys(self, principal: Principal) -> list[SigningKeyInfo]:
        """Every stored key, newest first (public facts only)."""
        self._policies.authorize(principal, KEYS_PATH, Capability.READ)
        with self._db.session() as s:
            rows = list(
                s.execute(
                    select(OAuthSigningKeyRow).order_by(OAuthSigningKeyRow.created_at.desc())
                ).scalars()
            )
        newest = next((r.kid for r in rows if r.retired_at is None), None)
        return [_info(r, active=r.kid == newest) for r in rows]

    # -- verification ----------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        """The JWK Set of every key whose tokens may still be live (no private members)."""
        now = self._clock.now()
        with self._db.session() as s:
            rows = s.execute(
                select(OAuthSigningKeyRow.public_jwk, OAuthSigningKeyRow.publish_until).order_by(
                    OAuthSigningKeyRow.created_at.desc()
                )
            ).all()
        return {"keys": [dict(jwk) for jwk, until in rows if until is None or as_utc(until) >= now]}

    def public_key(self, kid: str) -> tuple[str, PublicKey] | None:
        """(alg, key) of a published key; an unknown kid re-reads storage at most once per
        `key_cache_seconds` (a key made on another node)."""
        found = self._public.get(kid)
        now_mono = self._clock.monotonic()
        fresh = (
            self._public_read_at is not None
            and now_mono - self._public_read_at < self._limits.key_cache_seconds
        )
        if found is not None or fresh:
            return found
        keys: dict[str, tuple[str, PublicKey]] = {}
        for jwk in self.jwks()["keys"]:
            keys[str(jwk["kid"])] = (str(jwk["alg"]), load_public_jwk(jwk))
        with self._lock:
            self._public, self._public_read_at = keys, now_mono
        return keys.get(kid)


def _info(row: OAuthSigningKeyRow, *, active: bool) -> SigningKeyInfo:
    return SigningKeyInfo(
        kid=row.kid,
        alg=row.alg,
        created_at=as_utc(row.created_at),
        retired_at=as_utc(row.retired_at) if row.retired_at else None,
        publish_until=as_utc(row.publish_until) if row.publish_until else None,
        active=active,
    )


def retire_time(now: datetime, limits: OAuthLimits) -> datetime:
    """When a key retired at `now` leaves the JWKS."""
    return now + limits.max_ttl + limits.leeway + timedelta(seconds=limits.key_cache_seconds)
