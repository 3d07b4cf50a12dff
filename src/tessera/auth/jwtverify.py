"""Verification of JWTs issued by someone else (CI OIDC tokens, Kubernetes service-account
tokens, later JWT-SVIDs): shared by the JWT/OIDC auth method and OAuth token exchange.

Contract:
- `TrustedIssuer` says whose tokens are accepted: `issuer` (exact `iss`), keys from a JWKS URL
  (fetched, cached, refetched on an unknown `kid` at most once per `jwks_min_refresh`) or static
  JWKs, and the allowed algorithms (never `none`, never HMAC with a public key).
- `JwtVerifier.verify(token, issuer, audience, typ=None)` returns the claims or raises
  `InvalidToken` (401, a stable type) for: malformed or oversized tokens, `alg` outside the
  allowlist, `jku`/`x5u`/`jwk`/`x5c` headers, unknown `kid`, bad signature, expired or
  not-yet-valid (with `leeway`), wrong `iss`, `aud` missing or not containing `audience`
  exactly (string or array form; a sequence of audiences accepts any one of them), and a
  `typ` other than the one asked for. Keys that cannot be fetched raise `JwksUnavailable` (503).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt
from jwt.exceptions import InvalidKeyError, PyJWKError, PyJWTError

from tessera.core.clock import Clock
from tessera.core.errors import InvalidRequest, TesseraError

MAX_TOKEN_BYTES = 16 * 1024
# Asymmetric algorithms only: an HMAC "key" would be the issuer's public key, which anyone has.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_EC_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
# Headers that would let the token choose its own verification key.
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c")


class InvalidToken(TesseraError):
    """Raised when a presented JWT is not acceptable; the detail names the check that failed
    but never echoes the token."""

    status, slug, title = 401, "invalid-token", "The presented token is not acceptable"


class JwksUnavailable(TesseraError):
    """Raised when an issuer's JWKS cannot be fetched and no cached keys fit the token."""

    status, slug, title = 503, "jwks-unavailable", "The issuer's signing keys cannot be fetched"


@dataclass(frozen=True)
class TrustedIssuer:
    """An external issuer whose JWTs Tessera accepts; validated on construction."""

    issuer: str
    jwks_url: str | None = None
    static_keys: tuple[Mapping[str, Any], ...] = ()
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: timedelta = timedelta(seconds=30)
    jwks_min_refresh: timedelta = timedelta(seconds=30)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.issuer:
            raise InvalidRequest("issuer is required")
        bad = [a for a in self.algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not self.algorithms:
            raise InvalidRequest(
                "algorithms must be a non-empty subset of "
                + ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            )
        if self.jwks_url is None and not self.static_keys:
            raise InvalidRequest("an issuer needs a jwks_url or static keys")
        if self.jwks_url is not None and not self.jwks_url.startswith(("https://", "http://")):
            raise InvalidRequest("jwks_url must be an http(s) URL")
        for key in self.static_keys:
            check_public_jwk(key)
        if self.leeway < timedelta(0) or self.leeway > timedelta(minutes=5):
            raise InvalidRequest("leeway must be between 0 and 5 minutes")


def check_public_jwk(key: Mapping[str, Any]) -> None:
    """Refuse symmetric and private JWKs: only public keys verify external tokens."""
    if not isinstance(key, Mapping) or key.get("kty") not in ("RSA", "EC", "OKP"):
        raise InvalidRequest("static keys must be RSA, EC or OKP public JWKs")
    if "d" in key or "p" in key:
        raise InvalidRequest("static keys must be public keys (no private parts)")


class JwtVerifier:
    """Verifies external JWTs; one instance per process shares the JWKS cache."""

    def __init__(
        self,
        clock: Clock,
        *,
        timeout: float = 5.0,
        max_jwks_bytes: int = 256 * 1024,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._clock = clock
        self._jwks = JwksCache(clock, timeout, max_jwks_bytes, transport)

    def verify(
        self,
        token: str,
        issuer: TrustedIssuer,
        audience: str | Sequence[str],
        typ: str | None = None,
    ) -> dict[str, Any]:
        """The verified claims, or InvalidToken naming the failed check."""
        if not isinstance(token, str):
            raise InvalidToken("the token is malformed")
        if len(token) > MAX_TOKEN_BYTES:  # before any parsing: the cost stays bounded
            raise InvalidToken("the token is too large")
        if not token.isascii():
            raise InvalidToken("the token is malformed")
        header = _header(token)
        alg = _check_header(header, issuer, typ)
        key = self._key_for(issuer, header.get("kid"), alg)
        try:
            signed = jwt.PyJWS().decode_complete(token, key, algorithms=[alg])
        except PyJWTError:
            raise InvalidToken("the signature does not verify") from None
        try:
            claims = json.loads(signed["payload"])
        except (ValueError, RecursionError):
            raise InvalidToken("the token's claims are not JSON") from None
        if not isinstance(claims, dict):
            raise InvalidToken("the token's claims are not a JSON object")
        self._check_claims(claims, issuer, audience)
        return claims

    def _key_for(self, issuer: TrustedIssuer, kid: Any, alg: str) -> jwt.PyJWK:
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("the kid header must be a string")
        if issuer.static_keys:
            candidates = [dict(k) for k in issuer.static_keys]
        else:
            assert issuer.jwks_url is not None  # TrustedIssuer guarantees one of the two
            candidates = self._jwks.keys(issuer.jwks_url, kid, issuer.jwks_min_refresh)
        if kid is not None:
            candidates = [k for k in candidates if k.get("kid") == kid]
        elif len(candidates) > 1:
            raise InvalidToken("the token has no kid and the issuer has several keys")
        if not candidates:
            raise InvalidToken("the token's kid names no key of the issuer")
        jwk = candidates[0]
        family = _KEY_TYPE[alg[:2]]
        if jwk.get("kty") != family or (alg in _EC_CURVE and jwk.get("crv") != _EC_CURVE[alg]):
            raise InvalidToken(f"the key named by kid is not a key for {alg}")
        if jwk.get("alg") not in (None, alg) or jwk.get("use") not in (None, "sig"):
            raise InvalidToken(f"the key named by kid is not for {alg} signatures")
        try:
            return jwt.PyJWK(jwk, algorithm=alg)
        except (InvalidKeyError, PyJWKError, ValueError, TypeError):
            raise InvalidToken("the issuer's key cannot be used") from None

    def _check_claims(
        self, claims: dict[str, Any], issuer: TrustedIssuer, audience: str | Sequence[str]
    ) -> None:
        now = self._clock.now().timestamp()
        leeway = issuer.leeway.total_seconds()
        exp = _number(claims.get("exp"))
        if exp is None:
            raise InvalidToken("the token has no valid exp claim")
        if now >= exp + leeway:
            raise InvalidToken("the token has expired")
        for name, problem in (("nbf", "is not valid yet"), ("iat", "was issued in the future")):
            value = claims.get(name)
            if value is None:
                continue
            when = _number(value)
            if when is None:
                raise InvalidToken(f"the token's {name} claim is not a number")
            if now + leeway < when:
                raise InvalidToken(f"the token {problem}")
        if claims.get("iss") != issuer.issuer:
            raise InvalidToken("the token's issuer is not the expected one")
        wanted = (audience,) if isinstance(audience, str) else tuple(audience)
        aud = claims.get("aud")
        if isinstance(aud, str):
            present = [aud]
        elif isinstance(aud, list) and all(isinstance(a, str) for a in aud):
            present = aud
        else:
            raise InvalidToken("the token has no valid aud claim")
        if not any(a in wanted for a in present):
            raise InvalidToken("the token is not meant for this audience")


def _header(token: str) -> dict[str, Any]:
    if token.count(".") != 2:
        raise InvalidToken("the token is not a compact JWS")
    try:
        header = jwt.get_unverified_header(token)
    except PyJWTError:
        raise InvalidToken("the token's header cannot be decoded") from None
    return header


def _check_header(header: dict[str, Any], issuer: TrustedIssuer, typ: str | None) -> str:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ASYMMETRIC_ALGORITHMS:
        raise InvalidToken("the token's alg is not allowed")
    if alg not in issuer.algorithms:
        raise InvalidToken(f"the issuer does not allow alg {alg}")
    for name in _FORBIDDEN_HEADERS:
        if name in header:
            raise InvalidToken(f"the {name} header is not accepted")
    if "crit" in header:
        raise InvalidToken("critical header extensions are not supported")
    if typ is not None and _media_type(header.get("typ")) != _media_type(typ):
        raise InvalidToken(f"the token's typ is not {typ}")
    return alg


def _media_type(value: Any) -> str | None:
    """RFC 7515 §4.1.9: `typ` compares case-insensitively, `application/` may be omitted."""
    if not isinstance(value, str):
        return None
    return str(value).lower().removeprefix("application/")


def _number(value: Any) -> float | None:
    """A NumericDate as a float; None for anything else (booleans, NaN and infinities too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


@dataclass
class _KeySet:
    keys: list[dict[str, Any]]
    fetched_at: float | None  # monotonic time of the last successful fetch
    attempted_at: float  # monotonic time of the last attempt, successful or not


class JwksCache:
    """Public keys per JWKS URL. A set is fetched on first use, refetched when older than
    `max_age` or when a token names an unknown kid, never more than once per `min_refresh`
    (so forged kids cannot make us hammer the issuer); a failed refetch keeps the old keys."""

    def __init__(
        self,
        clock: Clock,
        timeout: float,
        max_bytes: int,
        transport: httpx.BaseTransport | None = None,
        max_age: timedelta = timedelta(hours=1),
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._transport = transport
        self._max_age = max_age.total_seconds()
        self._sets: dict[str, _KeySet] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def keys(self, url: str, kid: str | None, min_refresh: timedelta) -> list[dict[str, Any]]:
        with self._guard:
            lock = self._locks.setdefault(url, threading.Lock())
        with lock:
            entry = self._sets.get(url)
            now = self._clock.monotonic()
            if entry is None or self._wants_fetch(entry, kid, now, min_refresh.total_seconds()):
                try:
                    entry = _KeySet(self._fetch(url), now, now)
                except JwksUnavailable:
                    entry = _KeySet(
                        entry.keys if entry else [], entry.fetched_at if entry else None, now
                    )
                    self._sets[url] = entry
                    if entry.fetched_at is None:
                        raise
                self._sets[url] = entry
            if entry.fetched_at is None:
                raise JwksUnavailable("the issuer's keys could not be fetched; retry later")
            return entry.keys

    def _wants_fetch(self, entry: _KeySet, kid: str | None, now: float, min_refresh: float) -> bool:
        if now - entry.attempted_at < min_refresh:
            return False
        if entry.fetched_at is None or now - entry.fetched_at >= self._max_age:
            return True
        return kid is not None and all(k.get("kid") != kid for k in entry.keys)

    def _fetch(self, url: str) -> list[dict[str, Any]]:
        body = bytearray()
        try:
            with (
                httpx.Client(
                    timeout=self._timeout, follow_redirects=False, transport=self._transport
                ) as http,
                http.stream("GET", url, headers={"Accept": "application/json"}) as resp,
            ):
                if resp.status_code != 200:
                    raise JwksUnavailable(f"the JWKS URL answered HTTP {resp.status_code}")
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise JwksUnavailable("the JWKS document is too large")
        except httpx.HTTPError as exc:
            raise JwksUnavailable(
                f"the JWKS URL cannot be reached ({type(exc).__name__})"
            ) from None
        try:
            doc = json.loads(bytes(body))
        except ValueError:
            raise JwksUnavailable("the JWKS document is not JSON") from None
        keys = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(keys, list):
            raise JwksUnavailable("the JWKS document has no keys array")
        return [k for k in keys if _usable_public_jwk(k)]


def _usable_public_jwk(key: Any) -> bool:
    try:
        check_public_jwk(key)
    except InvalidRequest:
        return False
    return key.get("use") in (None, "sig")


__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "MAX_TOKEN_BYTES",
    "InvalidToken",
    "JwksUnavailable",
    "JwtVerifier",
    "TrustedIssuer",
    "check_public_jwk",
]
