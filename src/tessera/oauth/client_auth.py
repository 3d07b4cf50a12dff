"""Client authentication at the OAuth endpoints (RFC 6749 §2.3, RFC 7523 §2.2, §3).

- `client_secret_basic` / `client_secret_post`: the secret's HMAC is compared in constant time;
  an unknown client is compared against a stand-in, so unknown and wrong take the same work
  and get the same answer.
- `private_key_jwt`: an assertion with `iss` = `sub` = client id, `aud` naming this server
  (issuer, token endpoint or the endpoint called), `exp` at most `max_assertion_lifetime` away,
  a `jti` never seen before (kept in the database until `exp`), asymmetric `alg` only, no
  header that names its own key.
Exactly one method per request. A client's last use is written at most once per
`usage_interval` per client (the UPDATE itself re-checks the interval, so several nodes
together still write at most that often).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import unquote_plus

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.core.clock import Clock, as_utc
from tessera.core.context import annotate_auth
from tessera.oauth.clientkeys import candidate_keys
from tessera.oauth.clients import SecretHasher, load
from tessera.oauth.errors import InvalidClient, InvalidOAuthRequest
from tessera.oauth.jose import (
    JoseError,
    audiences_of,
    check_times,
    header_of,
    unverified_claims,
    verify_signature,
)
from tessera.oauth.models import (
    ASSERTION_ALGORITHMS,
    ASSERTION_TYPE,
    AuthenticatedClient,
    AuthMethod,
    OAuthLimits,
)
from tessera.oauth.ports import InventoryPort
from tessera.storage.db import Database
from tessera.storage.models_oauth import OAuthAssertionJtiRow, OAuthClientRow

_STAND_IN = bytes(32)
_PURGE_EVERY = 60.0  # seconds between deletions of expired assertion jtis (per node)
MAX_SECRET_CHARS = 512


class ClientAuthenticator:
    """Turns the credentials presented with an OAuth request into an AuthenticatedClient."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        hasher: SecretHasher,
        limits: OAuthLimits,
        audiences: tuple[str, ...],
        inventory: InventoryPort,
    ) -> None:
        self._db = db
        self._inventory = inventory
        self._clock = clock
        self._hasher = hasher
        self._limits = limits
        self._audiences = audiences  # issuer and token endpoint
        self._lock = threading.Lock()
        self._written: dict[str, float] = {}
        self._purged_at: float | None = None

    def authenticate(
        self,
        params: Mapping[str, str],
        authorization: str | None,
        endpoint: str,
        *,
        required: bool = True,
    ) -> AuthenticatedClient | None:
        """The client, or None when none presented credentials and `required` is False.
        Raises InvalidClient for any failure, InvalidOAuthRequest for two methods at once."""
        basic = authorization is not None and authorization[:6].lower() == "basic "
        presented = [
            basic,
            "client_secret" in params,
            "client_assertion" in params or "client_assertion_type" in params,
        ]
        if sum(presented) > 1:
            raise InvalidOAuthRequest("use exactly one client authentication method")
        if authorization is not None and not basic:
            raise InvalidClient("use HTTP Basic (client_secret_basic) or no Authorization header")
        if basic:
            client_id, secret = _parse_basic(authorization or "")
            self._check_client_id_param(params, client_id, basic=True)
            client = self._by_secret(client_id, secret, AuthMethod.CLIENT_SECRET_BASIC)
        elif presented[1]:
            client = self._by_secret(
                params.get("client_id", ""), params["client_secret"], AuthMethod.CLIENT_SECRET_POST
            )
        elif presented[2]:
            client = self._by_assertion(params, endpoint)
        elif required:
            raise InvalidClient("client authentication is required")
        else:
            return None
        annotate_auth({"oauth_client": client.client_id, "method": client.method.value})
        self._note_use(client.client_id)
        return client

    @staticmethod
    def _check_client_id_param(params: Mapping[str, str], client_id: str, *, basic: bool) -> None:
        if "client_id" in params and params["client_id"] != client_id:
            raise InvalidClient("client_id does not match the credentials", basic=basic)

    # -- secrets ---------------------------------------------------------------------------
    def _by_secret(self, client_id: str, secret: str, method: AuthMethod) -> AuthenticatedClient:
        basic = method is AuthMethod.CLIENT_SECRET_BASIC
        if len(secret) > MAX_SECRET_CHARS:
            raise InvalidClient(basic=basic)
        digest = self._hasher.digest(secret)
        now = self._clock.now()
        with self._db.session() as s:
            found = load(s, client_id)
        row = found[0] if found else None
        current = row.secret_hash if row is not None and row.secret_hash else _STAND_IN
        ok = hmac.compare_digest(current, digest)
        previous = row.previous_secret_hash if row is not None else None
        until = row.previous_secret_expires_at if row is not None else None
        if previous is not None and until is not None and as_utc(until) > now:
            ok = hmac.compare_digest(previous, digest) or ok
        if found is None or row is None or not ok or row.revoked_at is not None:
            raise InvalidClient(basic=basic)
        if not AuthMethod(row.auth_method).uses_secret:
            raise InvalidClient(basic=basic)
        return _authenticated(row, found[1], method)

    # -- private_key_jwt -------------------------------------------------------------------
    def _by_assertion(self, params: Mapping[str, str], endpoint: str) -> AuthenticatedClient:
        if params.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = params.get("client_assertion", "")
        try:
            header = header_of(assertion, self._limits.max_token_bytes)
            alg = header.get("alg")
            if alg not in ASSERTION_ALGORITHMS:
                raise JoseError(
                    "the assertion alg must be asymmetric: " + ", ".join(ASSERTION_ALGORITHMS)
                )
            claims = unverified_claims(assertion)
        except JoseError as exc:
            raise InvalidClient(f"client assertion refused: {exc}") from None
        client_id = claims.get("iss")
        if not isinstance(client_id, str) or claims.get("sub") != client_id:
            raise InvalidClient("client assertion refused: iss and sub must both be the client id")
        self._check_client_id_param(params, client_id, basic=False)
        with self._db.session() as s:
            found = load(s, client_id)
        if found is None or found[0].revoked_at is not None or found[0].jwks is None:
            raise InvalidClient()
        row, identity = found
        kid = header.get("kid")
        keys = candidate_keys(row.jwks or {}, kid if isinstance(kid, str) else None, str(alg))
        verified = None
        for key in keys:
            try:
                verified = verify_signature(assertion, key, str(alg))
                break
            except JoseError:
                continue
        if verified is None:
            raise InvalidClient()
        now = self._clock.now()
        try:
            check_times(
                verified,
                now,
                self._limits.leeway,
                max_lifetime=self._limits.max_assertion_lifetime,
            )
        except JoseError as exc:
            raise InvalidClient(f"client assertion refused: {exc}") from None
        accepted = {*self._audiences, endpoint}
        if not accepted.intersection(audiences_of(verified)):
            raise InvalidClient("client assertion refused: aud does not name this server")
        jti = verified.get("jti")
        if not isinstance(jti, str) or not 1 <= len(jti) <= 255:
            raise InvalidClient("client assertion refused: jti is required (1-255 characters)")
        self._remember_jti(client_id, jti, verified["exp"], now)
        return _authenticated(row, identity, AuthMethod.PRIVATE_KEY_JWT)

    def _remember_jti(self, client_id: str, jti: str, exp: float, now: datetime) -> None:
        """Record the jti until exp (plus leeway); a second use is a replay."""
        expires = datetime.fromtimestamp(exp, now.tzinfo) + self._limits.leeway
        try:
            with self._db.session(write=True) as s:
                self._purge(s, now)
                s.add(OAuthAssertionJtiRow(client_id=client_id, jti=jti, expires_at=expires))
                s.flush()
        except IntegrityError:
            raise InvalidClient("client assertion refused: this jti was used already") from None

    def _purge(self, s: Session, now: datetime) -> None:
        mono = self._clock.monotonic()
        if self._purged_at is not None and mono - self._purged_at < _PURGE_EVERY:
            return
        self._purged_at = mono
        s.execute(delete(OAuthAssertionJtiRow).where(OAuthAssertionJtiRow.expires_at < now))

    # -- last use --------------------------------------------------------------------------
    def _note_use(self, client_id: str) -> None:
        mono = self._clock.monotonic()
        with self._lock:
            last = self._written.get(client_id)
            if last is not None and mono - last < self._limits.usage_interval:
                return
            self._written[client_id] = mono
            if len(self._written) > 100_000:
                self._written = {client_id: mono}
        now = self._clock.now()
        cutoff = now - timedelta(seconds=self._limits.usage_interval)
        with self._db.session(write=True) as s:
            result = s.execute(
                update(OAuthClientRow)
                .where(
                    OAuthClientRow.id == client_id,
                    or_(
                        OAuthClientRow.last_used_at.is_(None), OAuthClientRow.last_used_at < cutoff
                    ),
                )
                .values(last_used_at=now)
                .returning(OAuthClientRow.credential_id)
            ).first()
            if result is not None:
                self._inventory.mark_used(s, {result[0]: now})


def _authenticated(row: OAuthClientRow, identity: str, method: AuthMethod) -> AuthenticatedClient:
    return AuthenticatedClient(
        client_id=row.id,
        identity=identity,
        identity_id=row.identity_id,
        method=method,
        scopes=tuple(row.scopes),
        audiences=tuple(row.audiences),
        token_ttl=timedelta(seconds=row.token_ttl_seconds),
    )


def _parse_basic(authorization: str) -> tuple[str, str]:
    """(client_id, secret) from `Basic base64(urlencode(id):urlencode(secret))` (§2.3.1)."""
    try:
        raw = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidClient("malformed Basic credentials", basic=True) from None
    client_id, sep, secret = raw.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials", basic=True)
    return unquote_plus(client_id), unquote_plus(secret)
