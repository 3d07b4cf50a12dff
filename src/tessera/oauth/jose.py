"""JWS/JWK helpers over PyJWT: public JWKs and RFC 7638 thumbprints, the key type each
algorithm requires (so an RSA or EC public key is never used as an HMAC secret), signature
verification without PyJWT's wall-clock checks (times are checked against the injected Clock)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypeGuard

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
# Forbidden in anything we verify: they would let the token name its own key (RFC 8725 §3.10).
KEY_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
MIN_RSA_BITS = 2048
_CURVE_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_NO_TIME_CHECKS: jwt.types.Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}


class JoseError(ValueError):
    """A JWK or JWS that cannot be used; the message names the problem, never the input."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: PublicKey) -> dict[str, Any]:
    """The public JWK of a key (kty and key members only)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return dict(ECAlgorithm.to_jwk(key, as_dict=True))
    if isinstance(key, rsa.RSAPublicKey):
        return dict(RSAAlgorithm.to_jwk(key, as_dict=True))
    return dict(OKPAlgorithm.to_jwk(key, as_dict=True))


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) over the required members of the key type."""
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
    required = members.get(str(jwk.get("kty")))
    if required is None:
        raise JoseError("unsupported key type")
    canonical = json.dumps({m: jwk[m] for m in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def load_public_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """A public key from a JWK; refuses private keys, symmetric keys and weak RSA."""
    if not isinstance(jwk, Mapping):
        raise JoseError("a key must be a JSON object (JWK)")
    if "d" in jwk or jwk.get("kty") == "oct":
        raise JoseError("only public keys may be registered (no 'd', no symmetric keys)")
    try:
        key: Any
        kty = jwk.get("kty")
        doc = {str(k): v for k, v in jwk.items()}
        if kty == "EC":
            key = ECAlgorithm.from_jwk(doc)
        elif kty == "RSA":
            key = RSAAlgorithm.from_jwk(doc)
        elif kty == "OKP":
            key = OKPAlgorithm.from_jwk(doc)
        else:
            raise JoseError("key type must be EC, RSA or OKP")
    except (jwt.InvalidKeyError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, JoseError):
            raise
        raise JoseError("the JWK is not a valid public key") from None
    if not isinstance(key, PublicKey):
        raise JoseError("the JWK is not a public EC, RSA or Ed25519 key")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise JoseError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    return key


def fits(key: PublicKey, alg: str) -> bool:
    """Whether `alg` is an asymmetric algorithm made for this key's type (and curve)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _CURVE_ALG.get(key.curve.name) == alg
    if isinstance(key, rsa.RSAPublicKey):
        return alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
    return alg == "EdDSA"


def header_of(token: str, max_bytes: int) -> dict[str, Any]:
    """The unverified JOSE header of a compact JWS, after the size and shape checks."""
    if len(token) > max_bytes:
        raise JoseError(f"the token is longer than {max_bytes} bytes")
    if token.count(".") != 2:
        raise JoseError("the token is not a compact JWS (three dot-separated parts)")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise JoseError("the token header cannot be parsed") from None
    if KEY_HEADERS & header.keys():
        raise JoseError("jku, x5u, jwk and x5c headers are refused")
    if "crit" in header:
        raise JoseError("critical header parameters are not supported")
    return header


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload without verifying anything: only to choose which issuer verifies it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise JoseError("the token payload cannot be parsed") from None
    return dict(claims)


def verify_signature(token: str, key: PublicKey, alg: str) -> dict[str, Any]:
    """The claims if the signature verifies under `key` with exactly `alg`."""
    if not fits(key, alg):
        raise JoseError("the key does not fit the algorithm")
    try:
        return dict(jwt.decode(token, key, algorithms=[alg], options=_NO_TIME_CHECKS))
    except jwt.InvalidTokenError:
        raise JoseError("the signature does not verify") from None


def check_times(
    claims: Mapping[str, Any], now: datetime, leeway: timedelta, *, max_lifetime: timedelta | None
) -> None:
    """`exp` required and in the future, `nbf`/`iat` (if present) not in the future, and
    with `max_lifetime`, `exp` no further than that from now (all with `leeway`)."""
    t, slack = now.timestamp(), leeway.total_seconds()
    exp = claims.get("exp")
    if not _is_number(exp):
        raise JoseError("exp is missing or not a number")
    if exp <= t - slack:
        raise JoseError("the token has expired")
    if max_lifetime is not None and exp > t + max_lifetime.total_seconds() + slack:
        raise JoseError(f"exp is more than {int(max_lifetime.total_seconds())} s away")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is None:
            continue
        if not _is_number(value):
            raise JoseError(f"{name} is not a number")
        if value > t + slack:
            raise JoseError(f"the token is not valid yet ({name} in the future)")


def _is_number(value: Any) -> TypeGuard[int | float]:
    # NaN and infinities (Python's json accepts them) would slip past every comparison
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def audiences_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """`aud` as a tuple (string or array form); empty when missing or malformed."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    return ()
