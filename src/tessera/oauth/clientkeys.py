"""Public keys registered by `private_key_jwt` clients (RFC 7523): a JWK Set or one PEM public
key, validated on registration and stored as a JWK Set of public keys only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization

from tessera.core.errors import InvalidRequest
from tessera.oauth.jose import (
    JoseError,
    PublicKey,
    fits,
    load_public_jwk,
    public_jwk,
    thumbprint,
)
from tessera.oauth.models import MAX_CLIENT_KEYS

MAX_PEM_CHARS = 16 * 1024
_KEEP = {"kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"}


def client_jwks(jwks: Mapping[str, Any] | None, pem: str | None) -> dict[str, Any]:
    """The JWK Set to store for a `private_key_jwt` client; exactly one of the two inputs.
    Keys without a `kid` get their RFC 7638 thumbprint."""
    if (jwks is None) == (pem is None):
        raise InvalidRequest("a private_key_jwt client needs exactly one of jwks, public_key_pem")
    if pem is not None:
        docs: list[Mapping[str, Any]] = [public_jwk(_load_pem(pem))]
    else:
        keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_CLIENT_KEYS:
            raise InvalidRequest(f"jwks must be a JWK Set with 1-{MAX_CLIENT_KEYS} keys")
        docs = keys
    out: list[dict[str, Any]] = []
    for doc in docs:
        try:
            load_public_jwk(doc)
            clean = {k: v for k, v in doc.items() if k in _KEEP}
            clean.setdefault("kid", thumbprint(clean))
        except JoseError as exc:
            raise InvalidRequest(f"jwks: {exc}") from None
        if not isinstance(clean["kid"], str) or not 1 <= len(clean["kid"]) <= 128:
            raise InvalidRequest("jwks: kid must be a string of 1-128 characters")
        if clean.get("use", "sig") != "sig":
            raise InvalidRequest("jwks: keys must be signing keys (use 'sig')")
        out.append(clean)
    if len({k["kid"] for k in out}) != len(out):
        raise InvalidRequest("jwks: kids must be unique")
    return {"keys": out}


def _load_pem(pem: str) -> PublicKey:
    if len(pem) > MAX_PEM_CHARS:
        raise InvalidRequest("public_key_pem is too long")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise InvalidRequest("public_key_pem is not a PEM public key") from None
    if not isinstance(key, PublicKey):
        raise InvalidRequest("public_key_pem must be an EC, RSA or Ed25519 public key")
    try:
        load_public_jwk(public_jwk(key))  # the same checks (e.g. RSA size) as for a JWK
    except JoseError as exc:
        raise InvalidRequest(f"public_key_pem: {exc}") from None
    return key


def candidate_keys(jwks: Mapping[str, Any], kid: str | None, alg: str) -> list[PublicKey]:
    """The registered keys an assertion with this `kid` (if any) and `alg` may be verified
    with: the key named by `kid`, else every key of a type that fits `alg`."""
    found: list[PublicKey] = []
    for doc in jwks.get("keys", []):
        if kid is not None and doc.get("kid") != kid:
            continue
        if doc.get("alg") not in (None, alg):
            continue
        try:
            key = load_public_jwk(doc)
        except JoseError:
            continue
        if fits(key, alg):
            found.append(key)
    return found
