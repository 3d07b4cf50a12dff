"""JWT/OIDC login: a workload presents a token its platform signed (a CI provider's OIDC token,
a Kubernetes service-account token) and a role name; the role says which issuer, audiences
and claim values it accepts, and what the Tessera token grants.

Policy paths: `auth/jwt/issuers/<name>` and `auth/jwt/roles/<name>` (create, update, read,
delete), `auth/jwt/issuers` and `auth/jwt/roles` (list). Login needs no token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from tessera.auth.jwtverify import InvalidToken, JwtVerifier, TrustedIssuer
from tessera.auth.methods import store
from tessera.auth.methods.audit import admit, login_accepted, login_refused
from tessera.auth.methods.errors import LoginRefused
from tessera.auth.methods.models import (
    ClaimValue,
    JwtIssuer,
    JwtIssuerSpec,
    JwtLogin,
    JwtRole,
    JwtRoleSpec,
    validate_role_name,
)
from tessera.auth.methods.ports import Authorizer, InventoryPort, TokenMinter
from tessera.auth.methods.ratelimit import LoginGuard
from tessera.auth.models import CreatedToken, Principal
from tessera.core.clock import Clock
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.core.text import check_text
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models_auth import JwtIssuerRow, JwtRoleRow

METHOD = "jwt"
_REFUSED = "the role does not exist or does not accept this token"
_MISSING = object()


def trusted_issuer(spec: JwtIssuerSpec) -> TrustedIssuer:
    """The verifier's view of a stored issuer (validates keys and algorithms)."""
    return TrustedIssuer(
        issuer=spec.issuer,
        jwks_url=spec.jwks_url,
        static_keys=spec.static_keys,
        algorithms=spec.algorithms,
        leeway=spec.leeway,
    )


def claim_value(claims: Mapping[str, Any], name: str) -> Any:
    """A top-level claim by its exact name (`kubernetes.io/serviceaccount/namespace` included),
    else, for a name starting with `/`, the JSON pointer (RFC 6901) into nested claims."""
    if name in claims:
        return claims[name]
    if not name.startswith("/"):
        return _MISSING
    node: Any = claims
    for part in name[1:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def claim_matches(value: Any, wanted: ClaimValue | tuple[ClaimValue, ...]) -> bool:
    """Exact match (type included, so `true` is not `"true"`); a list claim matches when one
    of its elements does."""
    options = wanted if isinstance(wanted, tuple) else (wanted,)
    values = value if isinstance(value, list) else [value]
    return any(type(v) is type(o) and v == o for v in values for o in options)


class JwtAuthService:
    """Issuers, roles and login of the JWT/OIDC method."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        authz: Authorizer,
        inventory: InventoryPort,
        tokens: TokenMinter,
        verifier: JwtVerifier,
        guard: LoginGuard,
    ) -> None:
        self._db = db
        self._clock = clock
        self._authz = authz
        self._inventory = inventory
        self._tokens = tokens
        self._verifier = verifier
        self._guard = guard

    # -- issuers ---------------------------------------------------------------------------
    def write_issuer(self, principal: Principal, name: str, spec: JwtIssuerSpec) -> JwtIssuer:
        name = validate_role_name(name, "issuer name")
        trusted_issuer(spec)  # refuses HMAC / none algorithms, private or symmetric keys
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = s.get(JwtIssuerRow, name, with_for_update=True)
            capability = Capability.UPDATE if row else Capability.CREATE
            self._authz.authorize(principal, f"auth/jwt/issuers/{name}", capability)
            if row is None:
                row = JwtIssuerRow(name=name, created_at=now)
                s.add(row)
            store.apply_issuer_spec(row, spec, now)
            s.flush()
            return store.issuer_from_row(row)

    def read_issuer(self, principal: Principal, name: str) -> JwtIssuer:
        name = validate_role_name(name, "issuer name")
        self._authz.authorize(principal, f"auth/jwt/issuers/{name}", Capability.READ)
        with self._db.session() as s:
            row = s.get(JwtIssuerRow, name)
            if row is None:
                raise NotFound(f"no JWT issuer named {name!r}")
            return store.issuer_from_row(row)

    def list_issuers(self, principal: Principal) -> list[str]:
        self._authz.authorize(principal, "auth/jwt/issuers", Capability.LIST)
        with self._db.session() as s:
            return list(s.execute(select(JwtIssuerRow.name).order_by(JwtIssuerRow.name)).scalars())

    def delete_issuer(self, principal: Principal, name: str) -> None:
        name = validate_role_name(name, "issuer name")
        self._authz.authorize(principal, f"auth/jwt/issuers/{name}", Capability.DELETE)
        with self._db.session(write=True) as s:
            row = s.get(JwtIssuerRow, name, with_for_update=True)
            if row is None:
                raise NotFound(f"no JWT issuer named {name!r}")
            used = s.execute(
                select(JwtRoleRow.name).where(JwtRoleRow.issuer_name == name).limit(1)
            ).scalar_one_or_none()
            if used is not None:
                raise Conflict(f"issuer {name!r} is used by role {used!r}")
            s.delete(row)

    # -- roles -----------------------------------------------------------------------------
    def write_role(self, principal: Principal, name: str, spec: JwtRoleSpec) -> JwtRole:
        name = validate_role_name(name)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = s.get(JwtRoleRow, name, with_for_update=True)
            capability = Capability.UPDATE if row else Capability.CREATE
            self._authz.authorize(principal, f"auth/jwt/roles/{name}", capability)
            if s.get(JwtIssuerRow, spec.issuer) is None:
                raise NotFound(f"no JWT issuer named {spec.issuer!r}")
            store.check_grants(
                s, self._authz, self._inventory, spec.identity, spec.policies, principal
            )
            if row is None:
                row = JwtRoleRow(name=name, created_at=now)
                s.add(row)
            store.apply_role_spec(row, spec, now)
            s.flush()
            return store.role_from_row(row)

    def read_role(self, principal: Principal, name: str) -> JwtRole:
        name = validate_role_name(name)
        self._authz.authorize(principal, f"auth/jwt/roles/{name}", Capability.READ)
        with self._db.session() as s:
            row = s.get(JwtRoleRow, name)
            if row is None:
                raise NotFound(f"no JWT role named {name!r}")
            return store.role_from_row(row)

    def list_roles(self, principal: Principal) -> list[str]:
        self._authz.authorize(principal, "auth/jwt/roles", Capability.LIST)
        with self._db.session() as s:
            return list(s.execute(select(JwtRoleRow.name).order_by(JwtRoleRow.name)).scalars())

    def delete_role(self, principal: Principal, name: str) -> None:
        name = validate_role_name(name)
        self._authz.authorize(principal, f"auth/jwt/roles/{name}", Capability.DELETE)
        with self._db.session(write=True) as s:
            row = s.get(JwtRoleRow, name, with_for_update=True)
            if row is None:
                raise NotFound(f"no JWT role named {name!r}")
            s.delete(row)

    # -- login -----------------------------------------------------------------------------
    def login(self, req: JwtLogin) -> CreatedToken:
        """A token for the role, or InvalidToken / LoginRefused (reason audited);
        RateLimited when throttled; JwksUnavailable when the issuer's keys cannot be had."""
        key = req.role.strip().lower() if isinstance(req.role, str) else ""
        admit(self._guard, METHOD, req.source, key[:256])
        role: JwtRole | None = None
        try:
            role, issuer = self._load(key)
            claims = self._verifier.verify(
                req.jwt, trusted_issuer(issuer.spec), role.spec.bound_audiences,
                typ=role.spec.expected_typ,
            )  # fmt: skip
            user = self._check_claims(role, claims)
        except (InvalidToken, LoginRefused) as exc:
            reason = exc.reason if isinstance(exc, LoginRefused) else exc.detail
            self._guard.failed(METHOD, key[:256], req.source)
            login_refused(METHOD, reason, role.name if role else None)
            raise
        spec = role.spec
        created = self._tokens.create_for_login(
            METHOD,
            spec.identity,
            spec.policies,
            spec.token_ttl,
            spec.token_max_ttl,
            {"role": role.name, "issuer": spec.issuer, "user": user},
        )
        self._guard.succeeded(METHOD, key, req.source)
        login_accepted(METHOD, role.name, created)
        return created

    def _load(self, name: str) -> tuple[JwtRole, JwtIssuer]:
        with self._db.session() as s:
            row = s.get(JwtRoleRow, name[:128])
            issuer = s.get(JwtIssuerRow, row.issuer_name) if row is not None else None
            if row is None or issuer is None:
                raise LoginRefused(_REFUSED, "unknown role")
            return store.role_from_row(row), store.issuer_from_row(issuer)

    @staticmethod
    def _check_claims(role: JwtRole, claims: Mapping[str, Any]) -> str:
        for name, wanted in role.spec.bound_claims.items():
            value = claim_value(claims, name)
            if value is _MISSING:
                raise LoginRefused(_REFUSED, f"bound claim {name!r} is missing")
            if not claim_matches(value, wanted):
                raise LoginRefused(_REFUSED, f"bound claim {name!r} does not match")
        user = claim_value(claims, role.spec.user_claim)
        if isinstance(user, bool) or not isinstance(user, str | int):
            raise LoginRefused(_REFUSED, f"user claim {role.spec.user_claim!r} is missing")
        try:
            return check_text(str(user), "user claim", 256)
        except InvalidRequest:
            raise LoginRefused(
                _REFUSED, "the user claim is empty, too long or unprintable"
            ) from None


__all__ = ["JwtAuthService", "claim_matches", "claim_value", "trusted_issuer"]
