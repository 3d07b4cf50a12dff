"""Token endpoint logic without HTTP: client credentials (RFC 6749 §4.4) with scope and
audience narrowing, RFC 9068 access tokens, private_key_jwt refusals, introspection,
revocation and signing-key rotation."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tessera.core.errors import InvalidRequest
from tessera.oauth.errors import (
    InvalidClient,
    InvalidOAuthRequest,
    InvalidScope,
    InvalidTarget,
    UnsupportedGrantType,
)
from tessera.oauth.jose import load_public_jwk
from tessera.oauth.models import ASSERTION_TYPE, AuthMethod, CreateClientRequest
from tessera.oauth.service import parse_form
from tests.unit.test_oauth_support import (
    ISSUER,
    Env,
    assertion_claims,
    jwk_of,
    make_env,
    new_ec_key,
    sign,
)

CC = {"grant_type": ["client_credentials"]}


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


def _client(env: Env) -> tuple[str, str]:
    created = env.oauth.clients.create(
        env.root,
        CreateClientRequest(
            identity=env.identity,
            audiences=("https://orders", "https://billing"),
            scopes=("orders:read", "orders:write"),
            token_ttl=timedelta(minutes=10),
        ),
    )
    assert created.client_secret is not None
    return created.client.client_id, created.client_secret


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _verify(env: Env, token: str, audience: str) -> dict[str, Any]:
    """Verify like a resource server would: with the published JWKS only."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in env.oauth.keys.jwks()["keys"] if k["kid"] == kid)
    return dict(
        jwt.decode(
            token,
            load_public_jwk(jwk),
            algorithms=[jwk["alg"]],
            audience=audience,
            issuer=ISSUER,
            options={"verify_exp": False},
        )
    )


def test_client_credentials_token_is_an_rfc9068_jwt(env: Env) -> None:
    client_id, secret = _client(env)
    issued = env.oauth.endpoints.token(CC, _basic(client_id, secret))
    body = issued.body()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "orders:read orders:write"
    header = jwt.get_unverified_header(issued.access_token)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    claims = _verify(env, issued.access_token, "https://orders")
    assert claims["sub"] == env.identity and claims["client_id"] == client_id
    assert claims["aud"] == ["https://orders", "https://billing"]
    assert claims["exp"] - claims["iat"] == 600 and claims["jti"]
    assert claims["iat"] == int(env.clock.now().timestamp())


def test_scope_and_audience_are_narrowed(env: Env) -> None:
    client_id, secret = _client(env)
    form = {**CC, "scope": ["orders:read"], "resource": ["https://billing"]}
    issued = env.oauth.endpoints.token(form, _basic(client_id, secret))
    claims = _verify(env, issued.access_token, "https://billing")
    assert claims["scope"] == "orders:read" and claims["aud"] == "https://billing"
    with pytest.raises(InvalidScope):
        env.oauth.endpoints.token({**CC, "scope": ["admin"]}, _basic(client_id, secret))
    with pytest.raises(InvalidScope):
        env.oauth.endpoints.token({**CC, "scope": ['bad"scope']}, _basic(client_id, secret))
    with pytest.raises(InvalidTarget):
        env.oauth.endpoints.token(
            {**CC, "audience": ["https://elsewhere"]}, _basic(client_id, secret)
        )


def test_grant_type_errors(env: Env) -> None:
    client_id, secret = _client(env)
    with pytest.raises(UnsupportedGrantType):
        env.oauth.endpoints.token({"grant_type": ["password"]}, _basic(client_id, secret))
    with pytest.raises(InvalidOAuthRequest, match="grant_type is required"):
        env.oauth.endpoints.token({}, _basic(client_id, secret))
    with pytest.raises(InvalidClient):
        env.oauth.endpoints.token(CC, None)


def test_form_parsing_refuses_repeats_oversize_and_control_characters() -> None:
    assert parse_form(b"grant_type=client_credentials&scope=a+b", 1024) == {
        "grant_type": ["client_credentials"],
        "scope": ["a b"],
    }
    assert parse_form(b"audience=x&audience=y", 1024)["audience"] == ["x", "y"]
    for body in (b"scope=a&scope=b", b"scope=%00", b"scope=%ff", b"x" * 2000):
        with pytest.raises(InvalidOAuthRequest):
            parse_form(body, 1024)


def _key_client(env: Env) -> tuple[str, Any]:
    key = new_ec_key()
    created = env.oauth.clients.create(
        env.root,
        CreateClientRequest(
            identity=env.identity,
            audiences=("https://orders",),
            auth_method=AuthMethod.PRIVATE_KEY_JWT,
            jwks={"keys": [jwk_of(key, "k1")]},
        ),
    )
    return created.client.client_id, key


def _with_assertion(assertion: str) -> dict[str, list[str]]:
    return {**CC, "client_assertion_type": [ASSERTION_TYPE], "client_assertion": [assertion]}


def test_private_key_jwt_token_and_replay(env: Env) -> None:
    client_id, key = _key_client(env)
    assertion = sign(key, assertion_claims(client_id, env.clock.now()))
    issued = env.oauth.endpoints.token(_with_assertion(assertion), None)
    assert _verify(env, issued.access_token, "https://orders")["client_id"] == client_id
    with pytest.raises(InvalidClient, match="used already"):
        env.oauth.endpoints.token(_with_assertion(assertion), None)


@pytest.mark.parametrize(
    "case",
    ["alg_none", "hs256_public_key", "wrong_aud", "expired", "too_long", "iss_not_sub",
     "jku_header", "malformed", "no_jti", "other_key", "future_nbf"],
)  # fmt: skip
def test_private_key_jwt_refusals(env: Env, case: str) -> None:
    client_id, key = _key_client(env)
    now = env.clock.now()
    claims = assertion_claims(client_id, now)
    t = int(now.timestamp())
    if case == "alg_none":
        assertion = jwt.encode(claims, None, algorithm="none")
    elif case == "hs256_public_key":
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assertion = _hs256(claims, pem)
    elif case == "malformed":
        assertion = "not.a-jwt"
    else:
        overrides: dict[str, Any] = {
            "wrong_aud": {"aud": "https://someone-else/token"},
            "expired": {"exp": t - 120},
            "too_long": {"exp": t + 7200},
            "iss_not_sub": {"sub": "someone"},
            "future_nbf": {"nbf": t + 600},
        }.get(case, {})
        claims = {**claims, **overrides}
        if case == "no_jti":
            del claims["jti"]
        signer = new_ec_key() if case == "other_key" else key
        headers = {"jku": "https://evil/jwks"} if case == "jku_header" else None
        assertion = sign(signer, claims, headers=headers)
    expected = {
        "alg_none": "alg must be asymmetric",
        "hs256_public_key": "alg must be asymmetric",
        "wrong_aud": "aud does not name",
        "expired": "expired",
        "too_long": "exp is more than",
        "iss_not_sub": "iss and sub",
        "jku_header": "jku",
        "malformed": "compact JWS",
        "no_jti": "jti is required",
        "other_key": "client authentication failed",
        "future_nbf": "not valid yet",
    }[case]
    with pytest.raises(InvalidClient, match=expected):
        env.oauth.endpoints.token(_with_assertion(assertion), None)


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 JWS MAC'd with the public key bytes, built by hand (PyJWT refuses PEM keys)."""
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "."
    signing_input += b64(json.dumps(claims).encode())
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def test_introspection_and_revocation(env: Env) -> None:
    client_id, secret = _client(env)
    auth = _basic(client_id, secret)
    token = env.oauth.endpoints.token(CC, auth).access_token
    answer = env.oauth.endpoints.introspect({"token": [token]}, auth)
    assert answer["active"] is True and answer["client_id"] == client_id
    assert answer["sub"] == env.identity and answer["scope"] == "orders:read orders:write"
    for junk in ("garbage", token[:-4] + "AAAA", "a.b.c"):
        assert env.oauth.endpoints.introspect({"token": [junk]}, auth) == {"active": False}
    with pytest.raises(InvalidClient):
        env.oauth.endpoints.introspect({"token": [token]}, None)
    env.oauth.endpoints.revoke({"token": [token]}, auth)
    assert env.oauth.endpoints.introspect({"token": [token]}, auth) == {"active": False}
    env.oauth.endpoints.revoke({"token": [token]}, auth)  # again: still success
    env.oauth.endpoints.revoke({"token": ["unknown"]}, auth)  # unknown: success (RFC 7009)
    # expiry and client revocation also make a token inactive
    second = env.oauth.endpoints.token(CC, auth).access_token
    other_id, other_secret = _client(env)
    other = _basic(other_id, other_secret)
    with pytest.raises(InvalidOAuthRequest, match="not issued to this client"):
        env.oauth.endpoints.revoke({"token": [second]}, other)
    assert env.oauth.endpoints.introspect({"token": [second]}, other)["active"] is True
    env.clock.advance(timedelta(minutes=11))
    assert env.oauth.endpoints.introspect({"token": [second]}, other) == {"active": False}
    third = env.oauth.endpoints.token(CC, auth).access_token
    env.oauth.clients.revoke(env.root, client_id)
    assert env.oauth.endpoints.introspect({"token": [third]}, other) == {"active": False}


def test_key_rotation_keeps_old_tokens_verifiable(env: Env) -> None:
    client_id, secret = _client(env)
    auth = _basic(client_id, secret)
    old = env.oauth.endpoints.token(CC, auth).access_token
    old_kid = jwt.get_unverified_header(old)["kid"]
    info = env.oauth.keys.rotate(env.root, "EdDSA")
    assert info.kid != old_kid and info.active
    new = env.oauth.endpoints.token(CC, auth).access_token
    assert jwt.get_unverified_header(new)["kid"] == info.kid
    assert jwt.get_unverified_header(new)["alg"] == "EdDSA"
    kids = {k["kid"] for k in env.oauth.keys.jwks()["keys"]}
    assert kids == {old_kid, info.kid}
    assert all("d" not in k for k in env.oauth.keys.jwks()["keys"])
    assert _verify(env, old, "https://orders")["client_id"] == client_id
    assert env.oauth.endpoints.introspect({"token": [old]}, auth)["active"] is True
    assert env.oauth.endpoints.introspect({"token": [new]}, auth)["active"] is True
    # once every token the old key signed has expired, it leaves the JWKS
    env.clock.advance(timedelta(hours=25))
    env.oauth.keys.rotate(env.root, "ES256")
    assert old_kid not in {k["kid"] for k in env.oauth.keys.jwks()["keys"]}
    with pytest.raises(InvalidRequest):
        env.oauth.keys.rotate(env.root, "HS256")
