"""Token exchange (RFC 8693) of a trusted external JWT — a CI OIDC token, a Kubernetes
service-account token — for a Tessera access token, and the issuers trusted for it.

Policy paths: `oauth/exchange-issuers/<name>` (`create`, `read`, `update`, `delete`) and
`oauth/exchange-issuers` (`list`).

The subject token's unverified `iss` only chooses which configured issuer verifies it; the
external-JWT verifier then checks signature, algorithm, times, `iss` and `aud` (= the issuer's
`subject_audience`). The first binding whose claims all match names the identity (`sub` of the
new token) and caps its scopes, audiences and lifetime. Client authentication is optional: the
subject token is the proof; an authenticated client's id becomes `client_id`, otherwise
`exchange:<issuer name>`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.auth.jwtverify import InvalidToken, TrustedIssuer
from tessera.auth.models import Principal
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tessera.core.text import check_text
from tessera.inventory.models import IdentityStatus, validate_name
from tessera.oauth.clients import client_path
from tessera.oauth.errors import InvalidOAuthRequest
from tessera.oauth.jose import JoseError, header_of, load_public_jwk, unverified_claims
from tessera.oauth.models import (
    ASSERTION_ALGORITHMS,
    TOKEN_TYPE_ACCESS_TOKEN,
    TOKEN_TYPE_ID_TOKEN,
    TOKEN_TYPE_JWT,
    AuthenticatedClient,
    ExchangeBinding,
    ExchangeIssuer,
    OAuthLimits,
    validate_audiences,
    validate_scopes,
)
from tessera.oauth.ports import Authorizer, ExternalJwtVerifier
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models import IdentityRow
from tessera.storage.models_oauth import OAuthExchangeIssuerRow

MAX_BINDINGS = 100
MAX_CLAIM_VALUES = 100
ISSUERS_PATH = "oauth/exchange-issuers"


def issuer_path(name: str | None = None) -> str:
    return ISSUERS_PATH + (f"/{name}" if name else "")


@dataclass(frozen=True)
class ExchangeGrant:
    """What one exchange may yield: the binding (identity, scopes, audiences, lifetime)
    of the issuer whose token was presented."""

    issuer_name: str
    binding: ExchangeBinding


class TokenExchange:
    """Exchange issuers (management) and verification of subject tokens against them."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        policies: Authorizer,
        verifier: ExternalJwtVerifier,
        limits: OAuthLimits,
    ) -> None:
        self._db = db
        self._clock = clock
        self._policies = policies
        self._verifier = verifier
        self._limits = limits
        self._lock = threading.Lock()
        self._trusted: dict[str, tuple[Any, TrustedIssuer]] = {}

    # -- management ------------------------------------------------------------------------
    def create_issuer(self, principal: Principal, issuer: ExchangeIssuer) -> ExchangeIssuer:
        checked = self._validate(issuer)
        self._policies.authorize(principal, issuer_path(checked.name), Capability.CREATE)
        self._authorize_bindings(principal, checked)
        now = self._clock.now()
        try:
            with self._db.session(write=True) as s:
                if s.get(OAuthExchangeIssuerRow, checked.name) is not None:
                    raise Conflict(f"an exchange issuer named {checked.name!r} exists already")
                if self._by_iss(s, checked.issuer) is not None:
                    raise Conflict("another exchange issuer has this issuer (iss) already")
                row = OAuthExchangeIssuerRow(name=checked.name, created_at=now, updated_at=now)
                _fill(row, checked)
                s.add(row)
                s.flush()
                return _from_row(row)
        except IntegrityError:
            raise Conflict("the exchange issuer was created concurrently") from None

    def update_issuer(self, principal: Principal, issuer: ExchangeIssuer) -> ExchangeIssuer:
        """Replace every setting of an existing issuer."""
        checked = self._validate(issuer)
        self._policies.authorize(principal, issuer_path(checked.name), Capability.UPDATE)
        self._authorize_bindings(principal, checked)
        with self._db.session(write=True) as s:
            row = s.get(OAuthExchangeIssuerRow, checked.name, with_for_update=True)
            if row is None:
                raise NotFound(f"no exchange issuer named {checked.name!r}")
            other = self._by_iss(s, checked.issuer)
            if other is not None and other.name != row.name:
                raise Conflict("another exchange issuer has this issuer (iss) already")
            _fill(row, checked)
            row.updated_at = self._clock.now()
            return _from_row(row)

    def _authorize_bindings(self, principal: Principal, issuer: ExchangeIssuer) -> None:
        """A binding mints tokens for its identity: its writer must be allowed to create that
        identity's OAuth clients, and the policy's max_ttl caps the binding's token lifetime."""
        for b in issuer.bindings:
            decision = self._policies.authorize(
                principal, client_path(b.identity), Capability.CREATE
            )
            limit = decision.constraints.get("max_ttl")
            if limit is not None and b.token_ttl.total_seconds() > int(limit):
                raise PermissionDenied(
                    f"binding token_ttl is above the policy's max_ttl of {int(limit)} s"
                )

    def get_issuer(self, principal: Principal, name: str) -> ExchangeIssuer:
        name = validate_name(name, "exchange issuer name")
        self._policies.authorize(principal, issuer_path(name), Capability.READ)
        with self._db.session() as s:
            row = s.get(OAuthExchangeIssuerRow, name)
            if row is None:
                raise NotFound(f"no exchange issuer named {name!r}")
            return _from_row(row)

    def list_issuers(self, principal: Principal) -> list[ExchangeIssuer]:
        self._policies.authorize(principal, ISSUERS_PATH, Capability.LIST)
        with self._db.session() as s:
            rows = list(
                s.execute(
                    select(OAuthExchangeIssuerRow).order_by(OAuthExchangeIssuerRow.name)
                ).scalars()
            )
        return [
            _from_row(r)
            for r in rows
            if self._policies.permits(principal, issuer_path(r.name), Capability.READ)
        ]

    def delete_issuer(self, principal: Principal, name: str) -> None:
        name = validate_name(name, "exchange issuer name")
        self._policies.authorize(principal, issuer_path(name), Capability.DELETE)
        with self._db.session(write=True) as s:
            row = s.get(OAuthExchangeIssuerRow, name)
            if row is None:
                raise NotFound(f"no exchange issuer named {name!r}")
            s.delete(row)

    # -- exchange --------------------------------------------------------------------------
    def verify_subject(
        self, params: Mapping[str, Sequence[str]], client: AuthenticatedClient | None
    ) -> tuple[ExchangeGrant, str]:
        """The grant a subject token earns and the identity's name, or InvalidOAuthRequest
        (RFC 8693 §2.2.2: any invalid or unacceptable subject token)."""
        del client  # the binding alone decides; kept for a later per-client restriction
        if "actor_token" in params or "actor_token_type" in params:
            raise InvalidOAuthRequest("actor tokens (delegation) are not supported")
        token = _one(params, "subject_token")
        token_type = _one(params, "subject_token_type")
        if token_type not in (TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN):
            raise InvalidOAuthRequest(f"subject_token_type must be {TOKEN_TYPE_JWT}")
        wanted = params.get("requested_token_type")
        if wanted is not None and wanted[0] not in (TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT):
            raise InvalidOAuthRequest(f"requested_token_type must be {TOKEN_TYPE_ACCESS_TOKEN}")
        try:
            header_of(token, self._limits.max_token_bytes)
            iss = unverified_claims(token).get("iss")
        except JoseError as exc:
            raise InvalidOAuthRequest(f"subject_token refused: {exc}") from None
        if not isinstance(iss, str):
            raise InvalidOAuthRequest("subject_token refused: no iss claim")
        with self._db.session() as s:
            row = self._by_iss(s, iss)
            config = _from_row(row) if row is not None else None
            updated = row.updated_at if row is not None else None
        if config is None:
            raise InvalidOAuthRequest("subject_token refused: its issuer is not trusted")
        try:
            claims = self._verifier.verify(
                token, self._trusted_issuer(config, updated), config.subject_audience
            )
        except InvalidToken as exc:
            raise InvalidOAuthRequest(f"subject_token refused: {exc.detail}") from None
        binding = next((b for b in config.bindings if b.matches(claims)), None)
        if binding is None:
            raise InvalidOAuthRequest("subject_token refused: no binding matches its claims")
        with self._db.session() as s:
            status = s.execute(
                select(IdentityRow.status).where(IdentityRow.name == binding.identity)
            ).scalar_one_or_none()
        if status != IdentityStatus.ACTIVE.value:
            raise InvalidOAuthRequest("subject_token refused: the bound identity is not active")
        return ExchangeGrant(config.name, binding), binding.identity

    def _trusted_issuer(self, config: ExchangeIssuer, version: Any) -> TrustedIssuer:
        """One TrustedIssuer per configuration version, so the verifier's key cache for it
        survives between requests."""
        with self._lock:
            cached = self._trusted.get(config.name)
            if cached is not None and cached[0] == version:
                return cached[1]
            trusted = TrustedIssuer(
                issuer=config.issuer,
                jwks_url=config.jwks_url,
                static_keys=config.static_keys,
                algorithms=config.algorithms,
                leeway=self._limits.leeway,
            )
            self._trusted[config.name] = (version, trusted)
            return trusted

    @staticmethod
    def _by_iss(s: Session, iss: str) -> OAuthExchangeIssuerRow | None:
        row: OAuthExchangeIssuerRow | None = s.execute(
            select(OAuthExchangeIssuerRow).where(OAuthExchangeIssuerRow.issuer == iss)
        ).scalar_one_or_none()
        return row

    # -- validation ------------------------------------------------------------------------
    def _validate(self, i: ExchangeIssuer) -> ExchangeIssuer:
        name = validate_name(i.name, "exchange issuer name")
        issuer = _printable(i.issuer, "issuer", 2048)
        audience = _printable(i.subject_audience, "subject_audience", 1024)
        if (i.jwks_url is None) == (not i.static_keys):
            raise InvalidRequest("give exactly one of jwks_url and static_keys")
        if i.jwks_url is not None:
            _printable(i.jwks_url, "jwks_url", 2048)
            if not i.jwks_url.startswith(("https://", "http://")):
                raise InvalidRequest("jwks_url must be an http(s) URL")
        for jwk in i.static_keys:
            try:
                load_public_jwk(jwk)
            except JoseError as exc:
                raise InvalidRequest(f"static_keys: {exc}") from None
        algorithms = tuple(dict.fromkeys(i.algorithms))
        if not algorithms or not set(algorithms) <= set(ASSERTION_ALGORITHMS):
            raise InvalidRequest("algorithms must be some of " + ", ".join(ASSERTION_ALGORITHMS))
        if not 1 <= len(i.bindings) <= MAX_BINDINGS:
            raise InvalidRequest(f"an exchange issuer needs 1-{MAX_BINDINGS} bindings")
        return ExchangeIssuer(
            name=name,
            issuer=issuer,
            subject_audience=audience,
            bindings=tuple(self._binding(b) for b in i.bindings),
            jwks_url=i.jwks_url,
            static_keys=tuple(dict(k) for k in i.static_keys),
            algorithms=algorithms,
        )

    def _binding(self, b: ExchangeBinding) -> ExchangeBinding:
        if not b.claims:
            raise InvalidRequest("each binding needs at least one claim to match")
        claims: dict[str, tuple[str, ...]] = {}
        for claim, values in b.claims.items():
            check_text(claim, "binding claim name", 64)
            if not 1 <= len(values) <= MAX_CLAIM_VALUES:
                raise InvalidRequest(f"binding claim {claim!r} needs 1-{MAX_CLAIM_VALUES} values")
            claims[claim] = tuple(check_text(v, f"binding claim {claim!r}", 1024) for v in values)
        audiences = validate_audiences(b.audiences)
        if not audiences:
            raise InvalidRequest("each binding needs at least one audience")
        low, high = self._limits.min_ttl, self._limits.max_ttl
        if not low <= b.token_ttl <= high:
            raise InvalidRequest(
                f"binding token_ttl must be between {int(low.total_seconds())} s and "
                f"{int(high.total_seconds())} s"
            )
        return ExchangeBinding(
            claims=claims,
            identity=validate_name(b.identity, "binding identity"),
            scopes=validate_scopes(b.scopes),
            audiences=audiences,
            token_ttl=b.token_ttl,
        )


def _one(params: Mapping[str, Sequence[str]], name: str) -> str:
    values = params.get(name)
    if not values or not values[0]:
        raise InvalidOAuthRequest(f"{name} is required")
    return values[0]


def _printable(value: str, what: str, max_len: int) -> str:
    if not (isinstance(value, str) and 1 <= len(value) <= max_len and value.isascii()):
        raise InvalidRequest(f"{what} must be 1-{max_len} ASCII characters")
    if any(not c.isprintable() or c.isspace() for c in value):
        raise InvalidRequest(f"{what} must not contain spaces or control characters")
    return value


def _fill(row: OAuthExchangeIssuerRow, i: ExchangeIssuer) -> None:
    row.issuer = i.issuer
    row.jwks_url = i.jwks_url
    row.static_keys = [dict(k) for k in i.static_keys]
    row.algorithms = list(i.algorithms)
    row.subject_audience = i.subject_audience
    row.bindings = [
        {
            "claims": {k: list(v) for k, v in b.claims.items()},
            "identity": b.identity,
            "scopes": list(b.scopes),
            "audiences": list(b.audiences),
            "token_ttl_seconds": int(b.token_ttl.total_seconds()),
        }
        for b in i.bindings
    ]


def _from_row(row: OAuthExchangeIssuerRow) -> ExchangeIssuer:
    return ExchangeIssuer(
        name=row.name,
        issuer=row.issuer,
        subject_audience=row.subject_audience,
        bindings=tuple(
            ExchangeBinding(
                claims={k: tuple(v) for k, v in b["claims"].items()},
                identity=b["identity"],
                scopes=tuple(b["scopes"]),
                audiences=tuple(b["audiences"]),
                token_ttl=timedelta(seconds=b["token_ttl_seconds"]),
            )
            for b in row.bindings
        ),
        jwks_url=row.jwks_url,
        static_keys=tuple(row.static_keys),
        algorithms=tuple(row.algorithms),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )
