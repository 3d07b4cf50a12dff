"""OAuth client management: create, list, show, rotate the secret, revoke.

Policy paths (the same scheme as API keys):
- `oauth/clients/<identity>`: `create` a client for the identity; `list` its clients.
- `oauth/clients`: `list` clients of every identity (each shown only if `read` on its path).
- `oauth/clients/<identity>/<client id>`: `read` (show), `update` (rotate the secret),
  `delete` (revoke).
The `max_ttl` constraint of the `create` rule caps the client's access-token lifetime.

A client is an inventory credential (kind `oauth_client`) of its identity. Its secret has 256
bits, is shown once and stored as HMAC-SHA-256 under a key kept behind the barrier.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound, Sealed
from tessera.core.ids import new_ulid
from tessera.core.paging import check_limit, decode_cursor, encode_cursor
from tessera.core.randomness import Randomness
from tessera.core.text import check_text
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    CredentialStatus,
    LocationKind,
    Page,
    RecordCredential,
    validate_name,
)
from tessera.oauth.clientkeys import client_jwks
from tessera.oauth.jose import b64url
from tessera.oauth.models import (
    AuthMethod,
    ClientStatus,
    CreateClientRequest,
    CreatedClient,
    OAuthClient,
    OAuthLimits,
    RotateSecretRequest,
    validate_audiences,
    validate_scopes,
)
from tessera.oauth.ports import Authorizer, InventoryPort, Sealer
from tessera.policy.models import Capability, Decision
from tessera.storage.db import Database
from tessera.storage.models import IdentityRow
from tessera.storage.models_oauth import OAuthClientRow

SECRET_KEY_NAME = "oauth_client_hmac_key"
SECRET_PREFIX = "tcs_"
_KIND = CredentialKind.OAUTH_CLIENT


def client_path(identity: str, client_id: str | None = None) -> str:
    """The policy path of an identity's clients, or of one of them."""
    return f"oauth/clients/{identity}" + (f"/{client_id}" if client_id else "")


def fingerprint(client_id: str) -> str:
    """The inventory fingerprint of a client: its public id, never the secret."""
    return "oauth-client:" + client_id


def is_client_id(value: str) -> bool:
    return len(value) == 26 and value.isascii() and value.isalnum()


class SecretHasher:
    """HMAC-SHA-256 of client secrets under a key fetched from the barrier on first use."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def forget(self) -> None:
        self._key = None

    def digest(self, secret: str) -> bytes:
        key = self._key
        if key is None:
            if self._sealer.sealed:
                raise Sealed("Tessera is sealed")
            with self._lock:
                key = self._key = self._sealer.system_secret(SECRET_KEY_NAME)
        return hmac.new(key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def client_from_row(row: OAuthClientRow, identity: str) -> OAuthClient:
    return OAuthClient(
        client_id=row.id,
        name=row.name,
        identity=identity,
        identity_id=row.identity_id,
        auth_method=AuthMethod(row.auth_method),
        scopes=tuple(row.scopes),
        audiences=tuple(row.audiences),
        token_ttl=timedelta(seconds=row.token_ttl_seconds),
        jwks=row.jwks,
        status=ClientStatus.REVOKED if row.revoked_at else ClientStatus.ACTIVE,
        credential_id=row.credential_id,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
        previous_secret_expires_at=(
            as_utc(row.previous_secret_expires_at) if row.previous_secret_expires_at else None
        ),
    )


def load(s: Session, client_id: str, *, lock: bool = False) -> tuple[OAuthClientRow, str] | None:
    """The client row and its identity's name; `lock` takes the row FOR UPDATE."""
    if not is_client_id(client_id):
        return None
    stmt = (
        select(OAuthClientRow, IdentityRow.name)
        .join(IdentityRow, IdentityRow.id == OAuthClientRow.identity_id)
        .where(OAuthClientRow.id == client_id)
    )
    if lock:
        stmt = stmt.with_for_update(of=OAuthClientRow)
    found = s.execute(stmt).first()
    return None if found is None else (found[0], found[1])


class ClientService:
    """OAuth clients of identities (management; authentication is in `client_auth`)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        hasher: SecretHasher,
        policies: Authorizer,
        inventory: InventoryPort,
        limits: OAuthLimits,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._hasher = hasher
        self._policies = policies
        self._inventory = inventory
        self._limits = limits

    def create(self, principal: Principal, req: CreateClientRequest) -> CreatedClient:
        """A new client of an active identity; a secret client's secret is in the answer
        and nowhere else."""
        identity = validate_name(req.identity, "identity")
        decision = self._policies.authorize(principal, client_path(identity), Capability.CREATE)
        scopes = validate_scopes(req.scopes)
        audiences = validate_audiences(req.audiences)
        if not audiences:
            raise InvalidRequest("a client needs at least one audience its tokens may name")
        name = check_text(req.name, "name") if req.name is not None else f"{identity} oauth client"
        ttl = self._ttl(req.token_ttl, decision)
        jwks: dict[str, Any] | None = None
        if req.auth_method is AuthMethod.PRIVATE_KEY_JWT:
            jwks = client_jwks(req.jwks, req.public_key_pem)
        elif req.jwks is not None or req.public_key_pem is not None:
            raise InvalidRequest("jwks and public_key_pem are only for private_key_jwt clients")
        secret = (
            SECRET_PREFIX + b64url(self._rng.token_bytes(32))
            if req.auth_method.uses_secret
            else None
        )
        # hashed before the transaction: the HMAC key may need a write of its own (first use)
        secret_hash = self._hasher.digest(secret) if secret else None
        now = self._clock.now()
        client_id = new_ulid(self._clock, self._rng)
        with self._db.session(write=True) as s:
            identity_id, owner = self._inventory.bind_identity(s, identity)
            credential_id = self._inventory.record(
                s,
                RecordCredential(
                    kind=_KIND,
                    fingerprint=fingerprint(client_id),
                    name=name,
                    source=CredentialSource.MANAGED,
                    identity_id=identity_id,
                    owner=owner,
                    issued_at=now,
                    not_after=None,
                    attributes={
                        "client_id": client_id,
                        "auth_method": req.auth_method.value,
                        "scopes": list(scopes),
                        "audiences": list(audiences),
                    },
                    location=(LocationKind.ISSUED, "tessera:oauth"),
                ),
            )
            row = OAuthClientRow(
                id=client_id,
                identity_id=identity_id,
                name=name,
                auth_method=req.auth_method.value,
                secret_hash=secret_hash,
                previous_secret_hash=None,
                previous_secret_expires_at=None,
                jwks=jwks,
                scopes=list(scopes),
                audiences=list(audiences),
                token_ttl_seconds=int(ttl.total_seconds()),
                credential_id=credential_id,
                created_at=now,
                updated_at=now,
                revoked_at=None,
                last_used_at=None,
            )
            s.add(row)
            s.flush()
            return CreatedClient(client=client_from_row(row, identity), client_secret=secret)

    def list_clients(
        self, principal: Principal, identity: str | None, limit: int, cursor: str | None
    ) -> Page[OAuthClient]:
        """Clients in client-id order, keyset-paged; only those the caller may read appear."""
        check_limit(limit)
        after = decode_cursor(cursor)
        stmt = select(OAuthClientRow, IdentityRow.name).join(
            IdentityRow, IdentityRow.id == OAuthClientRow.identity_id
        )
        if identity is not None:
            name = validate_name(identity, "identity")
            self._policies.authorize(principal, client_path(name), Capability.LIST)
            stmt = stmt.where(IdentityRow.name == name)
        else:
            self._policies.authorize(principal, "oauth/clients", Capability.LIST)
        if after is not None:
            stmt = stmt.where(OAuthClientRow.id > after)
        with self._db.session() as s:
            rows = [(r, n) for r, n in s.execute(stmt.order_by(OAuthClientRow.id).limit(limit + 1))]
        more = len(rows) > limit
        rows = rows[:limit]
        visible = tuple(
            client_from_row(r, n)
            for r, n in rows
            if self._policies.permits(principal, client_path(n, r.id), Capability.READ)
        )
        return Page(visible, encode_cursor(rows[-1][0].id) if more else None)

    def get(self, principal: Principal, client_id: str) -> OAuthClient:
        with self._db.session() as s:
            row, identity = self._require(s, client_id)
        self._policies.authorize(principal, client_path(identity, row.id), Capability.READ)
        return client_from_row(row, identity)

    def rotate_secret(
        self, principal: Principal, client_id: str, req: RotateSecretRequest
    ) -> CreatedClient:
        """A new secret, shown once; the old one keeps working for `overlap` (0: not at all)."""
        if not timedelta(0) <= req.overlap <= self._limits.max_secret_overlap:
            days = self._limits.max_secret_overlap.days
            raise InvalidRequest(f"overlap must be between 0 and {days} days")
        now = self._clock.now()
        secret = SECRET_PREFIX + b64url(self._rng.token_bytes(32))
        secret_hash = self._hasher.digest(secret)
        with self._db.session(write=True) as s:
            row, identity = self._require(s, client_id, lock=True)
            self._policies.authorize(principal, client_path(identity, row.id), Capability.UPDATE)
            if row.revoked_at is not None:
                raise Conflict(f"client {row.id} is revoked")
            if not AuthMethod(row.auth_method).uses_secret:
                raise Conflict(f"client {row.id} authenticates with private_key_jwt: no secret")
            if req.overlap > timedelta(0):
                row.previous_secret_hash = row.secret_hash
                row.previous_secret_expires_at = now + req.overlap
            else:
                row.previous_secret_hash = None
                row.previous_secret_expires_at = None
            row.secret_hash = secret_hash
            row.updated_at = now
            self._inventory.set_rotated(s, _KIND.value, fingerprint(row.id), now)
            return CreatedClient(client=client_from_row(row, identity), client_secret=secret)

    def revoke(self, principal: Principal, client_id: str) -> OAuthClient:
        """Stop the client at once: it can no longer authenticate, and its tokens introspect
        as inactive. Idempotent."""
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row, identity = self._require(s, client_id, lock=True)
            self._policies.authorize(principal, client_path(identity, row.id), Capability.DELETE)
            if row.revoked_at is None:
                self._revoke_rows(s, [row], now)
            return client_from_row(row, identity)

    def revoke_for_identity(self, session: Session, identity_id: str, now: datetime) -> int:
        """CredentialRevoker port: every client of the identity, in the caller's transaction."""
        rows = list(
            session.execute(
                select(OAuthClientRow)
                .where(
                    OAuthClientRow.identity_id == identity_id, OAuthClientRow.revoked_at.is_(None)
                )
                .with_for_update()
            ).scalars()
        )
        self._revoke_rows(session, rows, now)
        return len(rows)

    def _revoke_rows(self, s: Session, rows: list[OAuthClientRow], now: datetime) -> None:
        for row in rows:
            row.revoked_at = now
            row.updated_at = now
            row.secret_hash = None
            row.previous_secret_hash = None
        if rows:
            self._inventory.set_status(
                s, [(_KIND.value, fingerprint(r.id)) for r in rows], CredentialStatus.REVOKED, now
            )

    def _require(
        self, s: Session, client_id: str, *, lock: bool = False
    ) -> tuple[OAuthClientRow, str]:
        found = load(s, client_id, lock=lock)
        if found is None:
            raise NotFound("no such OAuth client")
        return found

    def _ttl(self, asked: timedelta | None, decision: Decision) -> timedelta:
        low, high = self._limits.min_ttl, self._limits.max_ttl
        cap_seconds = decision.constraints.get("max_ttl")
        cap = min(high, timedelta(seconds=int(cap_seconds))) if cap_seconds is not None else high
        if asked is None:
            return max(low, min(self._limits.default_ttl, cap))
        if not low <= asked <= high:
            raise InvalidRequest(
                f"token_ttl must be between {int(low.total_seconds())} s and "
                f"{int(high.total_seconds())} s"
            )
        if asked > cap:
            raise InvalidRequest(
                f"token_ttl exceeds the {int(cap.total_seconds())} s your policy allows"
            )
        return asked
