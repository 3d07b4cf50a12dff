"""The token, introspection and revocation endpoints' logic (RFC 6749 §4.4 and §5, RFC 7662,
RFC 7009, RFC 8693), independent of HTTP: each takes the parsed form and the Authorization
header and returns the response body or raises an `OAuthError`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.core.clock import Clock
from tessera.core.errors import InvalidRequest
from tessera.oauth.client_auth import ClientAuthenticator
from tessera.oauth.errors import (
    InvalidClient,
    InvalidOAuthRequest,
    InvalidScope,
    InvalidTarget,
    UnsupportedGrantType,
)
from tessera.oauth.exchange import TokenExchange
from tessera.oauth.metadata import endpoint_urls
from tessera.oauth.models import (
    TOKEN_TYPE_ACCESS_TOKEN,
    GrantType,
    IssuedToken,
    OAuthLimits,
    validate_scopes,
)
from tessera.oauth.tokens import AccessTokens, MintRequest
from tessera.storage.db import Database
from tessera.storage.models import IdentityRow
from tessera.storage.models_oauth import OAuthClientRow, OAuthRevokedTokenRow

Form = Mapping[str, Sequence[str]]
REPEATABLE = frozenset({"audience", "resource"})  # RFC 8693 §2.1, RFC 8707 §2
MAX_FIELDS = 64
_PURGE_EVERY = 60.0


def parse_form(body: bytes, max_bytes: int) -> dict[str, list[str]]:
    """An `application/x-www-form-urlencoded` body; empty values count as absent (§3.2),
    other parameters may not repeat, and control characters are refused."""
    if len(body) > max_bytes:
        raise InvalidOAuthRequest(f"the request body is larger than {max_bytes} bytes")
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=False,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidOAuthRequest("the body is not a valid form (percent-encoded UTF-8)") from None
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name + value):
            raise InvalidOAuthRequest("control characters are not allowed in parameters")
        if name in out and name not in REPEATABLE:
            raise InvalidOAuthRequest(f"parameter {name[:64]!r} is repeated")
        out.setdefault(name, []).append(value)
    return out


def single(form: Form) -> dict[str, str]:
    """The first value of every parameter (the others are checked not to repeat)."""
    return {k: v[0] for k, v in form.items() if v}


class OAuthService:
    """Token issuance, introspection and revocation."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        authenticator: ClientAuthenticator,
        tokens: AccessTokens,
        exchange: TokenExchange,
        limits: OAuthLimits,
    ) -> None:
        self._db = db
        self._clock = clock
        self._auth = authenticator
        self._tokens = tokens
        self._exchange = exchange
        self._limits = limits
        self._urls = endpoint_urls(tokens.issuer)
        self._purged_at: float | None = None

    # -- token endpoint --------------------------------------------------------------------
    def token(self, form: Form, authorization: str | None) -> IssuedToken:
        params = single(form)
        grant = params.get("grant_type")
        if grant is None:
            raise InvalidOAuthRequest("grant_type is required")
        if grant == GrantType.CLIENT_CREDENTIALS.value:
            return self._client_credentials(form, params, authorization)
        if grant == GrantType.TOKEN_EXCHANGE.value:
            return self._token_exchange(form, params, authorization)
        raise UnsupportedGrantType(
            "grant_type must be client_credentials or "
            "urn:ietf:params:oauth:grant-type:token-exchange"
        )

    def _client_credentials(
        self, form: Form, params: Mapping[str, str], authorization: str | None
    ) -> IssuedToken:
        endpoint = self._urls["token_endpoint"]
        client = self._auth.authenticate(params, authorization, endpoint)
        assert client is not None  # required=True
        scopes = _narrow_scopes(params.get("scope"), client.scopes)
        audiences = _narrow_audiences(form, client.audiences)
        minted = self._tokens.mint(
            MintRequest(client.identity, client.client_id, audiences, scopes, client.token_ttl)
        )
        return IssuedToken(minted.token, minted.expires_in, scopes)

    def _token_exchange(
        self, form: Form, params: Mapping[str, str], authorization: str | None
    ) -> IssuedToken:
        endpoint = self._urls["token_endpoint"]
        client = self._auth.authenticate(params, authorization, endpoint, required=False)
        grant, identity = self._exchange.verify_subject(form, client)
        binding = grant.binding
        scopes = _narrow_scopes(params.get("scope"), binding.scopes)
        audiences = _narrow_audiences(form, binding.audiences)
        client_id = client.client_id if client else f"exchange:{grant.issuer_name}"
        minted = self._tokens.mint(
            MintRequest(identity, client_id, audiences, scopes, binding.token_ttl)
        )
        return IssuedToken(minted.token, minted.expires_in, scopes, TOKEN_TYPE_ACCESS_TOKEN)

    # -- introspection (RFC 7662) ----------------------------------------------------------
    def introspect(self, form: Form, authorization: str | None) -> dict[str, Any]:
        """`{"active": false}` for anything not a live, unrevoked token of an active client
        and identity; otherwise the token's claims. Any authenticated client may ask."""
        params = single(form)
        endpoint = self._urls["introspection_endpoint"]
        self._auth.authenticate(params, authorization, endpoint)
        token = params.get("token")
        if token is None:
            raise InvalidOAuthRequest("token is required")
        found = self._tokens.verify(token)
        if found is None:
            return {"active": False}
        claims = found.claims
        with self._db.session() as s:
            revoked = s.get(OAuthRevokedTokenRow, found.jti) is not None
            client_revoked = s.execute(
                select(OAuthClientRow.revoked_at).where(OAuthClientRow.id == found.client_id)
            ).first()
            identity_status = s.execute(
                select(IdentityRow.status).where(IdentityRow.name == claims["sub"])
            ).scalar_one_or_none()
        if (
            revoked
            or (client_revoked is not None and client_revoked[0] is not None)
            or identity_status != "active"
        ):
            return {"active": False}
        answer: dict[str, Any] = {"active": True, "token_type": "Bearer"}
        for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti"):
            if name in claims:
                answer[name] = claims[name]
        return answer

    # -- revocation (RFC 7009) -------------------------------------------------------------
    def revoke(self, form: Form, authorization: str | None) -> None:
        """Revoke an access token of the calling client. Unknown, foreign-format or expired
        tokens are answered with success (§2.2); a token of a registered client needs that
        client's authentication, a token of an exchange without client none."""
        params = single(form)
        endpoint = self._urls["revocation_endpoint"]
        client = self._auth.authenticate(params, authorization, endpoint, required=False)
        token = params.get("token")
        if token is None:
            raise InvalidOAuthRequest("token is required")
        found = self._tokens.verify(token)
        if found is None:
            return
        registered = not found.client_id.startswith("exchange:")
        if client is None and registered:
            raise InvalidClient("client authentication is required to revoke this token")
        if client is not None and client.client_id != found.client_id:
            raise InvalidOAuthRequest("the token was not issued to this client")
        now = self._clock.now()
        expires = datetime.fromtimestamp(found.expires_at, UTC)
        try:
            with self._db.session(write=True) as s:
                self._purge(s, now)
                if s.get(OAuthRevokedTokenRow, found.jti) is None:
                    s.add(
                        OAuthRevokedTokenRow(
                            jti=found.jti,
                            client_id=found.client_id,
                            revoked_at=now,
                            expires_at=expires,
                        )
                    )
        except IntegrityError:
            return  # revoked concurrently: the outcome asked for

    def _purge(self, s: Session, now: datetime) -> None:
        mono = self._clock.monotonic()
        if self._purged_at is not None and mono - self._purged_at < _PURGE_EVERY:
            return
        self._purged_at = mono
        s.execute(delete(OAuthRevokedTokenRow).where(OAuthRevokedTokenRow.expires_at < now))


def _narrow_scopes(requested: str | None, allowed: Sequence[str]) -> tuple[str, ...]:
    """The requested scopes if all are allowed (§3.3); all allowed ones when none asked."""
    if requested is None:
        return tuple(allowed)
    try:
        asked = validate_scopes(requested.split(" "))
    except InvalidRequest:
        raise InvalidScope("scope must be space-separated scope tokens") from None
    extra = [s for s in asked if s not in allowed]
    if extra:
        raise InvalidScope(f"scope not allowed for this client: {' '.join(extra)[:200]}")
    return asked


def _narrow_audiences(form: Form, allowed: Sequence[str]) -> tuple[str, ...]:
    """The requested `audience`/`resource` values if all are allowed (RFC 8693 §2.1,
    RFC 8707 §2); every allowed audience when none asked."""
    asked = tuple(dict.fromkeys([*form.get("audience", ()), *form.get("resource", ())]))
    if not asked:
        return tuple(allowed)
    extra = [a for a in asked if a not in allowed]
    if extra:
        raise InvalidTarget(f"audience not allowed: {extra[0][:200]}")
    return asked
