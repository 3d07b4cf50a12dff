"""Row ↔ domain conversions and shared checks of the auth methods' tables."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tessera.auth.methods.models import (
    AppRole,
    AppRoleSpec,
    ClaimValue,
    JwtIssuer,
    JwtIssuerSpec,
    JwtRole,
    JwtRoleSpec,
    SecretIdInfo,
)
from tessera.auth.methods.ports import Authorizer, InventoryPort
from tessera.auth.models import Principal
from tessera.core.clock import as_utc
from tessera.core.errors import InvalidRequest, PermissionDenied
from tessera.policy.models import Capability
from tessera.storage.models_auth import AppRoleRow, AppRoleSecretIdRow, JwtIssuerRow, JwtRoleRow


def check_grants(
    s: Session,
    authz: Authorizer,
    inventory: InventoryPort,
    identity: str | None,
    policies: tuple[str, ...],
    principal: Principal,
) -> None:
    """A role may only name policies that exist and that its writer holds (as for child
    tokens: a login must never give more than the person who configured it has), and an
    active identity the writer may bind credentials to (`update` on `identities/<name>`)."""
    if not principal.is_root:
        extra = set(policies) - set(principal.policy_names) - {"default"}
        if extra:
            raise PermissionDenied(
                "a role can only grant policies its writer holds: " + ", ".join(sorted(extra))
            )
    for name in policies:
        if not authz.exists(s, name):
            raise InvalidRequest(f"no policy named {name!r}")
    if identity is not None:
        authz.authorize(principal, f"identities/{identity}", Capability.UPDATE)
        inventory.bind_identity(s, identity)


def narrow_cidrs(wanted: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The secret id's blocks: the role's when none are asked, else each within one of them."""
    if not wanted:
        return allowed
    if allowed:
        nets = [ipaddress.ip_network(a) for a in allowed]
        for cidr in wanted:
            net = ipaddress.ip_network(cidr)
            if not any(net.version == n.version and net.subnet_of(n) for n in nets):  # type: ignore[arg-type]
                raise InvalidRequest(f"cidr {cidr} is not within the role's secret_id_bound_cidrs")
    return wanted


def expired(row: AppRoleSecretIdRow, now: datetime) -> bool:
    return row.expires_at is not None and as_utc(row.expires_at) <= now


def secret_info(row: AppRoleSecretIdRow) -> SecretIdInfo:
    return SecretIdInfo(
        accessor=row.accessor,
        role=row.role_name,
        cidrs=tuple(row.cidrs),
        meta=dict(row.meta),
        uses_left=row.uses_left,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
    )


def apply_approle_spec(row: AppRoleRow, spec: AppRoleSpec, now: datetime) -> None:
    row.identity = spec.identity
    row.policies = list(spec.policies)
    row.token_ttl_seconds = int(spec.token_ttl.total_seconds())
    row.token_max_ttl_seconds = int(spec.token_max_ttl.total_seconds())
    row.secret_id_ttl_seconds = int(spec.secret_id_ttl.total_seconds())
    row.secret_id_num_uses = spec.secret_id_num_uses
    row.secret_id_bound_cidrs = list(spec.secret_id_bound_cidrs)
    row.token_bound_cidrs = list(spec.token_bound_cidrs)
    row.bind_secret_id = spec.bind_secret_id
    row.updated_at = now


def approle_from_row(row: AppRoleRow) -> AppRole:
    spec = AppRoleSpec(
        identity=row.identity,
        policies=tuple(row.policies),
        token_ttl=timedelta(seconds=row.token_ttl_seconds),
        token_max_ttl=timedelta(seconds=row.token_max_ttl_seconds),
        secret_id_ttl=timedelta(seconds=row.secret_id_ttl_seconds),
        secret_id_num_uses=row.secret_id_num_uses,
        secret_id_bound_cidrs=tuple(row.secret_id_bound_cidrs),
        token_bound_cidrs=tuple(row.token_bound_cidrs),
        bind_secret_id=row.bind_secret_id,
    )
    return AppRole(row.name, row.role_id, spec, as_utc(row.created_at), as_utc(row.updated_at))


def apply_issuer_spec(row: JwtIssuerRow, spec: JwtIssuerSpec, now: datetime) -> None:
    row.issuer = spec.issuer
    row.jwks_url = spec.jwks_url
    row.static_keys = [dict(k) for k in spec.static_keys]
    row.algorithms = list(spec.algorithms)
    row.leeway_seconds = int(spec.leeway.total_seconds())
    row.updated_at = now


def issuer_from_row(row: JwtIssuerRow) -> JwtIssuer:
    spec = JwtIssuerSpec(
        issuer=row.issuer,
        jwks_url=row.jwks_url,
        static_keys=tuple(row.static_keys),
        algorithms=tuple(row.algorithms),
        leeway=timedelta(seconds=row.leeway_seconds),
    )
    return JwtIssuer(row.name, spec, as_utc(row.created_at), as_utc(row.updated_at))


def _stored_claims(claims: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in claims.items()}


def _loaded_claims(claims: dict[str, Any]) -> dict[str, ClaimValue | tuple[ClaimValue, ...]]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in claims.items()}


def apply_role_spec(row: JwtRoleRow, spec: JwtRoleSpec, now: datetime) -> None:
    row.issuer_name = spec.issuer
    row.bound_audiences = list(spec.bound_audiences)
    row.bound_claims = _stored_claims(spec.bound_claims)
    row.user_claim = spec.user_claim
    row.expected_typ = spec.expected_typ
    row.identity = spec.identity
    row.policies = list(spec.policies)
    row.token_ttl_seconds = int(spec.token_ttl.total_seconds())
    row.token_max_ttl_seconds = int(spec.token_max_ttl.total_seconds())
    row.updated_at = now


def role_from_row(row: JwtRoleRow) -> JwtRole:
    spec = JwtRoleSpec(
        issuer=row.issuer_name,
        bound_audiences=tuple(row.bound_audiences),
        bound_claims=_loaded_claims(row.bound_claims),
        user_claim=row.user_claim,
        expected_typ=row.expected_typ,
        identity=row.identity,
        policies=tuple(row.policies),
        token_ttl=timedelta(seconds=row.token_ttl_seconds),
        token_max_ttl=timedelta(seconds=row.token_max_ttl_seconds),
    )
    return JwtRole(row.name, spec, as_utc(row.created_at), as_utc(row.updated_at))
