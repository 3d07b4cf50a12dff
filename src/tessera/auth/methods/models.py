"""Domain objects of the machine auth methods: AppRole roles and secret ids, JWT issuers and
roles, and the login requests. Requests validate on construction (InvalidRequest)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tessera.core.errors import InvalidRequest
from tessera.core.text import check_text
from tessera.inventory.models import validate_name
from tessera.policy.models import validate_policy_name

# lower case only: a login canonicalises the name it is given (case, surrounding space)
ROLE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
MAX_CIDRS = 64
MAX_POLICIES = 64
MAX_BOUND_CLAIMS = 32
MAX_CLAIM_VALUES = 64
DEFAULT_TOKEN_TTL = timedelta(hours=1)
DEFAULT_TOKEN_MAX_TTL = timedelta(hours=24)


def validate_role_name(name: str, what: str = "role name") -> str:
    if not isinstance(name, str) or not ROLE_NAME_RE.fullmatch(name):
        raise InvalidRequest(f"{what} must be 1-128 of a-z, 0-9, '.', '_' or '-'")
    return name


def validate_cidrs(cidrs: tuple[str, ...], what: str) -> tuple[str, ...]:
    """Normalised CIDR blocks (`10.0.0.0/8`, `::1/128`); a bare address is a /32 or /128."""
    if len(cidrs) > MAX_CIDRS:
        raise InvalidRequest(f"{what}: at most {MAX_CIDRS} CIDR blocks")
    out = []
    for cidr in cidrs:
        try:
            out.append(str(ipaddress.ip_network(str(cidr).strip(), strict=True)))
        except ValueError:
            raise InvalidRequest(f"{what}: {cidr!r} is not a CIDR block") from None
    return tuple(dict.fromkeys(out))


def source_in(source: str, cidrs: tuple[str, ...] | list[str]) -> bool:
    """Whether the request's source address lies in one of the blocks (none: any source)."""
    if not cidrs:
        return True
    try:
        addr = ipaddress.ip_address(source)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in ipaddress.ip_network(c) for c in cidrs)


def _policies(names: tuple[str, ...]) -> tuple[str, ...]:
    if len(names) > MAX_POLICIES:
        raise InvalidRequest(f"at most {MAX_POLICIES} policies")
    checked = tuple(dict.fromkeys(validate_policy_name(n, allow_reserved=True) for n in names))
    if "root" in checked:
        raise InvalidRequest("an auth method role cannot grant the root policy")
    return checked


def _ttls(ttl: timedelta, max_ttl: timedelta) -> None:
    if ttl <= timedelta(0) or max_ttl <= timedelta(0):
        raise InvalidRequest("token_ttl and token_max_ttl must be positive")
    if ttl > max_ttl:
        raise InvalidRequest("token_ttl must not exceed token_max_ttl")


@dataclass(frozen=True)
class AppRoleSpec:
    """What an operator writes for an AppRole role. Secret ids expire after `secret_id_ttl`
    (zero: never) and allow `secret_id_num_uses` logins (zero: unlimited). A role with
    `bind_secret_id` false logs in by role id alone, so it must bind `token_bound_cidrs`."""

    identity: str | None = None
    policies: tuple[str, ...] = ()
    token_ttl: timedelta = DEFAULT_TOKEN_TTL
    token_max_ttl: timedelta = DEFAULT_TOKEN_MAX_TTL
    secret_id_ttl: timedelta = timedelta(0)
    secret_id_num_uses: int = 0
    secret_id_bound_cidrs: tuple[str, ...] = ()
    token_bound_cidrs: tuple[str, ...] = ()
    bind_secret_id: bool = True

    def __post_init__(self) -> None:
        if self.identity is not None:
            validate_name(self.identity, "identity")
        object.__setattr__(self, "policies", _policies(self.policies))
        _ttls(self.token_ttl, self.token_max_ttl)
        if self.secret_id_ttl < timedelta(0):
            raise InvalidRequest("secret_id_ttl must not be negative")
        if not 0 <= self.secret_id_num_uses <= 1_000_000:
            raise InvalidRequest("secret_id_num_uses must be 0 (unlimited) to 1000000")
        object.__setattr__(
            self,
            "secret_id_bound_cidrs",
            validate_cidrs(self.secret_id_bound_cidrs, "secret_id_bound_cidrs"),
        )
        object.__setattr__(
            self, "token_bound_cidrs", validate_cidrs(self.token_bound_cidrs, "token_bound_cidrs")
        )
        if not self.bind_secret_id and not self.token_bound_cidrs:
            raise InvalidRequest("a role without bind_secret_id must set token_bound_cidrs")


@dataclass(frozen=True)
class AppRole:
    """A stored AppRole role; `role_id` is not secret but unguessable."""

    name: str
    role_id: str
    spec: AppRoleSpec
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SecretIdRequest:
    """Options for a new secret id: CIDR blocks (within the role's, if it binds any), meta."""

    cidrs: tuple[str, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cidrs", validate_cidrs(self.cidrs, "cidrs"))
        if len(self.meta) > 16:
            raise InvalidRequest("meta: at most 16 entries")
        for key, value in self.meta.items():
            check_text(key, "meta key", 64)
            check_text(value, f"meta {key!r}", 256, allow_empty=True)


@dataclass(frozen=True)
class SecretIdInfo:
    """A secret id's properties by accessor (never the secret id)."""

    accessor: str
    role: str
    cidrs: tuple[str, ...]
    meta: Mapping[str, str]
    uses_left: int | None
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class CreatedSecretId:
    """The secret id in clear exists only here, returned once."""

    secret_id: str
    info: SecretIdInfo


@dataclass(frozen=True)
class AppRoleLogin:
    """A login attempt: `source` is the request's peer address."""

    role_id: str
    secret_id: str | None
    source: str


ClaimValue = str | int | bool


@dataclass(frozen=True)
class JwtIssuerSpec:
    """An external issuer: exact `iss`, a JWKS URL or static public JWKs, allowed algorithms."""

    issuer: str
    jwks_url: str | None = None
    static_keys: tuple[Mapping[str, Any], ...] = ()
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        check_text(self.issuer, "issuer", 1024)
        if self.jwks_url is not None:
            check_text(self.jwks_url, "jwks_url", 2048)
        if self.jwks_url is not None and self.static_keys:
            raise InvalidRequest("give either jwks_url or static_keys, not both")
        if len(self.static_keys) > 32:
            raise InvalidRequest("at most 32 static keys")


@dataclass(frozen=True)
class JwtRoleSpec:
    """A JWT login role. `aud` must contain one of `bound_audiences` exactly; each bound claim
    must equal the value or one of the listed values (a name starting with `/` is a JSON
    pointer into nested claims). `user_claim` names the caller in the token's display name."""

    issuer: str
    bound_audiences: tuple[str, ...]
    bound_claims: Mapping[str, ClaimValue | tuple[ClaimValue, ...]] = field(default_factory=dict)
    user_claim: str = "sub"
    expected_typ: str | None = None
    identity: str | None = None
    policies: tuple[str, ...] = ()
    token_ttl: timedelta = DEFAULT_TOKEN_TTL
    token_max_ttl: timedelta = DEFAULT_TOKEN_MAX_TTL

    def __post_init__(self) -> None:
        validate_role_name(self.issuer, "issuer")
        if not self.bound_audiences or len(self.bound_audiences) > 16:
            raise InvalidRequest("bound_audiences must list 1-16 audiences")
        if not self.bound_claims:
            # with a shared issuer (CI providers) the caller picks `aud`: without a claim
            # binding, any repository or workload of that issuer could log in
            raise InvalidRequest("bound_claims must bind at least one claim")
        for aud in self.bound_audiences:
            check_text(aud, "bound_audiences", 1024)
        if len(self.bound_claims) > MAX_BOUND_CLAIMS:
            raise InvalidRequest(f"at most {MAX_BOUND_CLAIMS} bound claims")
        for name, value in self.bound_claims.items():
            check_text(name, "bound claim name", 255)
            values = value if isinstance(value, tuple) else (value,)
            if not values or len(values) > MAX_CLAIM_VALUES:
                raise InvalidRequest(f"bound claim {name!r}: 1-{MAX_CLAIM_VALUES} values")
            for v in values:
                if not isinstance(v, str | int | bool):
                    raise InvalidRequest(f"bound claim {name!r}: values must be scalars")
        check_text(self.user_claim, "user_claim", 255)
        if self.expected_typ is not None:
            check_text(self.expected_typ, "expected_typ", 64)
        if self.identity is not None:
            validate_name(self.identity, "identity")
        object.__setattr__(self, "policies", _policies(self.policies))
        _ttls(self.token_ttl, self.token_max_ttl)


@dataclass(frozen=True)
class JwtIssuer:
    """A stored issuer."""

    name: str
    spec: JwtIssuerSpec
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class JwtRole:
    """A stored JWT role."""

    name: str
    spec: JwtRoleSpec
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class JwtLogin:
    """A JWT login attempt: role name, the token, the request's peer address."""

    role: str
    jwt: str
    source: str
