"""Token use cases: authenticate, create (child of the caller), lookup, renew, revoke (cascading).

Verified tokens are cached in-process for at most `cache_ttl` seconds; any revoke or renew on
this node clears the cache at once, and other nodes drop their entries within `cache_ttl`.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from tessera.auth import tokens
from tessera.auth.cache import VerifiedTokenCache
from tessera.auth.models import CreatedToken, CreateTokenRequest, Principal, TokenInfo
from tessera.auth.ports import InventoryPort, PolicyPort, TokenKeySource
from tessera.auth.repository import info_from_row
from tessera.auth.validation import (
    check_accessor,
    check_display,
    check_meta,
    fingerprint,
    positive,
)
from tessera.core.clock import Clock, as_utc
from tessera.core.context import annotate_auth
from tessera.core.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Sealed,
    Unauthenticated,
)
from tessera.core.randomness import Randomness
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    CredentialStatus,
    LocationKind,
    RecordCredential,
)
from tessera.policy.models import Capability, validate_policy_name
from tessera.storage.db import Database
from tessera.storage.models import TokenRow

TOKEN_KEY_NAME = "token_hmac_key"


@dataclass(frozen=True)
class TokenLimits:
    """Server-wide token bounds: default and longest TTL, and how long (s) a verified token
    may be served from cache."""

    default_ttl: timedelta = timedelta(hours=24)
    max_ttl: timedelta = timedelta(days=32)
    cache_ttl: float = 1.0


class TokenService:
    """Token use cases. Tokens are stored only as keyed hashes; every token is recorded
    in the inventory, and revoking one revokes its descendants."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        keys: TokenKeySource,
        policies: PolicyPort,
        inventory: InventoryPort,
        limits: TokenLimits | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._keys = keys
        self._policies = policies
        self._inventory = inventory
        self._limits = limits or TokenLimits()
        self._key: bytes | None = None
        self._cache = VerifiedTokenCache(clock, self._limits.cache_ttl)

    # -- seal lifecycle --------------------------------------------------------------------
    def on_unseal(self) -> None:
        self._key = self._keys.system_secret(TOKEN_KEY_NAME)

    def on_seal(self) -> None:
        self._key = None
        self.clear_cache()

    def clear_cache(self) -> None:
        self._cache.clear()

    def _hash(self, token: str) -> bytes:
        if self._key is None:
            raise Sealed("Tessera is sealed")
        return tokens.token_hash(self._key, token)

    # -- authentication --------------------------------------------------------------------
    def authenticate(self, token: str) -> Principal:
        """Resolve a presented token to a Principal or raise Unauthenticated (never says why
        beyond 'invalid, expired or revoked', so probing learns nothing)."""
        principal = self.authenticate_cached(token)
        if principal is None:
            principal = self._accept(self._load_principal(self._hash(token)))
        return principal

    def authenticate_cached(self, token: str) -> Principal | None:
        """The same answer from memory only, or None when the database must be asked: lets an
        async caller stay on the event loop for the common case and go to a thread otherwise."""
        if not tokens.well_formed(token):
            raise Unauthenticated("the token is malformed")
        hit = self._cache.get(self._hash(token))
        if hit is None:
            return None
        # policies come through the policy cache each time, so a change made on another
        # node reaches this token within one policy-cache period, not two
        policies = self._policies.resolve_cached(hit.principal.policy_names)
        if policies is None:
            return None
        principal = hit.principal
        if policies != principal.policies:
            principal = replace(principal, policies=policies)
        return self._accept(principal)

    def _accept(self, principal: Principal) -> Principal:
        if principal.expires_at is not None and principal.expires_at <= self._clock.now():
            raise Unauthenticated("the token is invalid, expired or revoked")
        annotate_auth(
            {
                "accessor": principal.accessor,
                "policies": list(principal.policy_names),
                "display_name": principal.display_name,
                "identity_id": principal.identity_id,
            }
        )
        return principal

    def _load_principal(self, digest: bytes) -> Principal:
        generation = self._cache.generation  # read before the SELECT
        with self._db.session() as s:
            row = s.execute(
                select(TokenRow).where(TokenRow.token_hash == digest)
            ).scalar_one_or_none()
        if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at:
            raise Unauthenticated("the token is invalid, expired or revoked")
        names = tuple(row.policies)
        principal = Principal(
            accessor=row.accessor,
            policy_names=names,
            policies=self._policies.resolve(names),
            display_name=row.display_name,
            identity_id=row.identity_id,
            expires_at=as_utc(row.expires_at) if row.expires_at else None,
        )
        self._cache.put(digest, principal, info_from_row(row), generation)
        return principal

    # -- creation --------------------------------------------------------------------------
    def create_root(self, display_name: str = "root") -> CreatedToken:
        """The initial root token (no expiry); only called by init."""
        with self._db.session(write=True) as s:
            return self._insert(s, None, ("root",), None, None, display_name, False, None, {}, 0)

    def create(self, principal: Principal, req: CreateTokenRequest) -> CreatedToken:
        decision = self._policies.authorize(principal, "auth/token/create", Capability.CREATE)
        names = self._child_policies(principal, req)
        display = check_display(req.display_name)
        meta = check_meta(req.meta)
        now = self._clock.now()
        caps = [self._limits.max_ttl]
        if req.explicit_max_ttl is not None:
            caps.append(positive(req.explicit_max_ttl, "explicit_max_ttl"))
        constraint = decision.constraints.get("max_ttl")  # seconds, validated at policy write
        if constraint is not None:
            caps.append(timedelta(seconds=int(constraint)))
        is_root_child = "root" in names
        if req.ttl is None and is_root_child and req.explicit_max_ttl is None:
            expires = max_expires = None
            ttl = timedelta(0)
        else:
            ttl = min([positive(req.ttl, "ttl") if req.ttl else self._limits.default_ttl, *caps])
            max_expires = now + min(caps)
            expires = now + ttl
        with self._db.session(write=True) as s:
            # FOR SHARE: a concurrent revoke of the parent (FOR UPDATE) waits for us or we see it
            parent = s.execute(
                select(TokenRow)
                .where(TokenRow.accessor == principal.accessor)
                .with_for_update(read=True)
            ).scalar_one_or_none()
            if parent is None or parent.revoked_at is not None:
                raise Unauthenticated("the token is invalid, expired or revoked")
            # a child never outlives its parent
            for bound in (parent.expires_at, parent.max_expires_at):
                if bound is not None:
                    bound = as_utc(bound)
                    max_expires = bound if max_expires is None else min(max_expires, bound)
                    expires = bound if expires is None else min(expires, bound)
            binding: tuple[str, str] | None = None
            if req.identity is not None:
                self._policies.authorize(principal, f"identities/{req.identity}", Capability.UPDATE)
                binding = self._inventory.bind_identity(s, req.identity)
            for name in names:
                if not self._policies.exists(s, name):
                    raise InvalidRequest(f"no policy named {name!r}")
            return self._insert(
                s,
                principal.accessor,
                names,
                expires,
                max_expires,
                display,
                req.renewable,
                binding,
                meta,
                int(ttl.total_seconds()),
            )

    def create_for_login(
        self,
        method: str,
        identity: str | None,
        policies: Sequence[str],
        ttl: timedelta,
        max_ttl: timedelta,
        meta: Mapping[str, str] | None = None,
        renewable: bool = True,
    ) -> CreatedToken:
        """A token for a machine that proved itself through an auth method (it has no parent
        token): the method's role decides policies (never `root`) and lifetime, and binds it
        to the role's identity. Authorisation is the proof itself, checked by the caller."""
        names = tuple(dict.fromkeys(validate_policy_name(n, allow_reserved=True) for n in policies))
        if "root" in names:
            raise InvalidRequest("an auth method cannot grant the root policy")
        if "default" not in names:
            names = (*names, "default")
        ttl, max_ttl = positive(ttl, "ttl"), positive(max_ttl, "max_ttl")
        cap = min(max_ttl, self._limits.max_ttl)
        now = self._clock.now()
        display = check_display(f"{method}-{identity or 'anonymous'}"[:128])
        with self._db.session(write=True) as s:
            binding = None if identity is None else self._inventory.bind_identity(s, identity)
            for name in names:
                if not self._policies.exists(s, name):
                    raise InvalidRequest(f"no policy named {name!r}")
            return self._insert(
                s, None, names, now + min(ttl, cap), now + cap, display, renewable, binding,
                check_meta(dict(meta or {}) | {"auth_method": method}),
                int(min(ttl, cap).total_seconds()),
            )  # fmt: skip

    def _child_policies(self, principal: Principal, req: CreateTokenRequest) -> tuple[str, ...]:
        requested = tuple(
            dict.fromkeys(validate_policy_name(p, allow_reserved=True) for p in req.policies)
        )
        if not requested:
            requested = tuple(p for p in principal.policy_names if p != "default")
        if "root" in requested and not principal.is_root:
            raise PermissionDenied("only a root token can grant the root policy")
        if not principal.is_root:
            extra = set(requested) - set(principal.policy_names) - {"default"}
            if extra:
                raise PermissionDenied(
                    "a token can only grant policies it holds itself: " + ", ".join(sorted(extra))
                )
        if "root" not in requested and not req.no_default_policy and "default" not in requested:
            requested = (*requested, "default")
        return requested

    def _insert(
        self,
        s: Session,
        parent: str | None,
        names: tuple[str, ...],
        expires: datetime | None,
        max_expires: datetime | None,
        display: str,
        renewable: bool,
        binding: tuple[str, str] | None,
        meta: dict[str, str],
        ttl_seconds: int,
    ) -> CreatedToken:
        """Write the token row and its inventory row in the caller's transaction."""
        identity_id, owner = binding if binding is not None else (None, None)
        raw = tokens.generate_token(self._rng)
        digest = self._hash(raw)
        now = self._clock.now()
        row = TokenRow(
            accessor=tokens.generate_accessor(self._rng),
            token_hash=digest,
            parent_accessor=parent,
            policies=list(names),
            display_name=display,
            identity_id=identity_id,
            meta=meta,
            renewable=renewable,
            ttl_seconds=ttl_seconds,
            created_at=now,
            expires_at=expires,
            max_expires_at=max_expires,
            revoked_at=None,
        )
        s.add(row)
        s.flush()
        self._inventory.record(
            s,
            RecordCredential(
                kind=CredentialKind.TESSERA_TOKEN,
                fingerprint=fingerprint(digest),
                name=display,
                source=CredentialSource.MANAGED,
                identity_id=identity_id,
                owner=owner,
                issued_at=now,
                not_after=expires,
                attributes={"accessor": row.accessor, "policies": list(names)},
                location=(LocationKind.ISSUED, "tessera:auth/token"),
            ),
        )
        return CreatedToken(token=raw, info=info_from_row(row))

    # -- lookup ----------------------------------------------------------------------------
    def lookup_self(self, principal: Principal) -> TokenInfo:
        cached = self.lookup_self_cached(principal)
        return cached if cached is not None else self._info_by_accessor(principal.accessor)

    def lookup_self_cached(self, principal: Principal) -> TokenInfo | None:
        """From the verified-token cache when fresh (same staleness bound as auth), else None."""
        self._policies.authorize(principal, "auth/token/lookup-self", Capability.READ)
        hit = self._cache.get_by_accessor(principal.accessor)
        return hit.info if hit is not None else None

    def lookup(self, principal: Principal, token: str) -> TokenInfo:
        self._policies.authorize(principal, "auth/token/lookup", Capability.READ)
        return self._info_by_accessor(self._accessor_of(token))

    def lookup_accessor(self, principal: Principal, accessor: str) -> TokenInfo:
        self._policies.authorize(principal, "auth/token/lookup-accessor", Capability.READ)
        return self._info_by_accessor(check_accessor(accessor))

    def _info_by_accessor(self, accessor: str) -> TokenInfo:
        with self._db.session() as s:
            row = s.get(TokenRow, accessor)
        if row is None:
            raise NotFound("no such token")
        return info_from_row(row)

    def _accessor_of(self, token: str) -> str:
        if not tokens.well_formed(token):
            raise InvalidRequest("the token is malformed")
        digest = self._hash(token)
        with self._db.session() as s:
            accessor = s.execute(
                select(TokenRow.accessor).where(TokenRow.token_hash == digest)
            ).scalar_one_or_none()
        if accessor is None:
            raise NotFound("no such token")
        return accessor

    # -- renew -----------------------------------------------------------------------------
    def renew_self(self, principal: Principal, increment: timedelta | None) -> TokenInfo:
        self._policies.authorize(principal, "auth/token/renew-self", Capability.UPDATE)
        return self._renew(principal.accessor, increment)

    def renew(self, principal: Principal, token: str, increment: timedelta | None) -> TokenInfo:
        self._policies.authorize(principal, "auth/token/renew", Capability.UPDATE)
        return self._renew(self._accessor_of(token), increment)

    def renew_accessor(
        self, principal: Principal, accessor: str, increment: timedelta | None
    ) -> TokenInfo:
        self._policies.authorize(principal, "auth/token/renew-accessor", Capability.UPDATE)
        return self._renew(check_accessor(accessor), increment)

    def _renew(self, accessor: str, increment: timedelta | None) -> TokenInfo:
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = s.get(TokenRow, accessor)
            if row is None:
                raise NotFound("no such token")
            if row.revoked_at is not None or (row.expires_at and as_utc(row.expires_at) <= now):
                raise Conflict("the token is expired or revoked and cannot be renewed")
            if row.expires_at is None:
                return info_from_row(row)
            if not row.renewable:
                raise Conflict("the token is not renewable")
            step = (
                positive(increment, "increment")
                if increment
                else timedelta(seconds=row.ttl_seconds)
            )
            new_expiry = now + step
            bounds = [row.max_expires_at]
            if row.parent_accessor is not None:
                parent = s.get(TokenRow, row.parent_accessor)
                bounds.append(parent.expires_at if parent else now)
            for bound in bounds:
                if bound is not None:
                    new_expiry = min(new_expiry, as_utc(bound))
            row.expires_at = max(new_expiry, as_utc(row.expires_at))
            self._inventory.set_not_after(
                s, CredentialKind.TESSERA_TOKEN.value, fingerprint(row.token_hash), row.expires_at
            )
            info = info_from_row(row)
        self.clear_cache()
        return info

    # -- revoke ----------------------------------------------------------------------------
    def revoke_self(self, principal: Principal) -> int:
        self._policies.authorize(principal, "auth/token/revoke-self", Capability.UPDATE)
        return self._revoke([principal.accessor])

    def revoke(self, principal: Principal, token: str) -> int:
        self._policies.authorize(principal, "auth/token/revoke", Capability.UPDATE)
        return self._revoke([self._accessor_of(token)])

    def revoke_accessor(self, principal: Principal, accessor: str) -> int:
        self._policies.authorize(principal, "auth/token/revoke-accessor", Capability.UPDATE)
        accessor = check_accessor(accessor)
        with self._db.session() as s:
            if s.get(TokenRow, accessor) is None:
                raise NotFound("no such token")
        return self._revoke([accessor])

    def revoke_for_identity(self, session: Session, identity_id: str, now: datetime) -> int:
        """CredentialRevoker port: every token bound to the identity, and their children."""
        roots = list(
            session.execute(
                select(TokenRow.accessor).where(TokenRow.identity_id == identity_id)
            ).scalars()
        )
        count = self._revoke_tree(session, roots, now)
        # the caller's transaction commits later; clearing now would let a reader cache the
        # pre-commit row under the new generation
        event.listen(session, "after_commit", lambda _s: self.clear_cache(), once=True)
        return count

    def _revoke(self, accessors: list[str]) -> int:
        now = self._clock.now()
        with self._db.session(write=True) as s:
            count = self._revoke_tree(s, accessors, now)
        self.clear_cache()
        return count

    def _revoke_tree(self, s: Session, roots: Iterable[str], now: datetime) -> int:
        """Revoke the tokens and all their descendants; idempotent (already revoked: skipped)."""
        roots = list(roots)
        if roots:
            # FOR UPDATE: a child being created under a root (FOR SHARE) commits first, or sees
            # the revocation; either way the walk below cannot miss it
            s.execute(
                select(TokenRow.accessor).where(TokenRow.accessor.in_(roots)).with_for_update()
            )
        frontier, seen = roots, set[str]()
        while frontier:
            seen.update(frontier)
            children = s.execute(
                select(TokenRow.accessor).where(TokenRow.parent_accessor.in_(frontier))
            ).scalars()
            frontier = [c for c in children if c not in seen]
        if not seen:
            return 0
        rows = s.execute(
            select(TokenRow.accessor, TokenRow.token_hash).where(
                TokenRow.accessor.in_(seen), TokenRow.revoked_at.is_(None)
            )
        )
        live = [(accessor, digest) for accessor, digest in rows]
        if not live:
            return 0
        s.execute(
            update(TokenRow)
            .where(TokenRow.accessor.in_([a for a, _ in live]))
            .values(revoked_at=now)
        )
        self._inventory.set_status(
            s,
            [(CredentialKind.TESSERA_TOKEN.value, fingerprint(h)) for _, h in live],
            CredentialStatus.REVOKED,
            now,
        )
        return len(live)


__all__ = ["TokenLimits", "TokenService"]
