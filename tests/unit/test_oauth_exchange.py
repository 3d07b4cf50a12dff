"""Token exchange (RFC 8693) of a CI-style OIDC token from a test issuer, and the validation
of exchange issuers (the external JWT checks themselves belong to the verifier, stubbed)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from tessera.core.errors import Conflict, InvalidRequest
from tessera.oauth.errors import InvalidOAuthRequest, InvalidScope, InvalidTarget
from tessera.oauth.models import (
    TOKEN_TYPE_ACCESS_TOKEN,
    TOKEN_TYPE_JWT,
    ExchangeBinding,
    ExchangeIssuer,
)
from tests.unit.test_oauth_support import Env, jwk_of, make_env, new_ec_key, sign

CI_ISSUER = "https://ci.example.test"
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


def _configure(env: Env, key: Any) -> None:
    env.oauth.exchange.create_issuer(
        env.root,
        ExchangeIssuer(
            name="ci",
            issuer=CI_ISSUER,
            subject_audience="tessera",
            static_keys=(jwk_of(key, "ci-1"),),
            algorithms=("ES256",),
            bindings=(
                ExchangeBinding(
                    claims={"repository": ("acme/billing",), "ref": ("refs/heads/main",)},
                    identity=env.identity,
                    scopes=("deploy", "read"),
                    audiences=("https://deploy.example",),
                    token_ttl=timedelta(minutes=5),
                ),
            ),
        ),
    )


def _ci_token(env: Env, key: Any, **extra: Any) -> str:
    t = int(env.clock.now().timestamp())
    claims = {
        "iss": CI_ISSUER,
        "sub": "repo:acme/billing:ref:refs/heads/main",
        "aud": "tessera",
        "iat": t,
        "exp": t + 300,
        "repository": "acme/billing",
        "ref": "refs/heads/main",
        **extra,
    }
    return sign(key, claims, headers={"kid": "ci-1"})


def _form(token: str, **extra: list[str]) -> dict[str, list[str]]:
    return {
        "grant_type": [GRANT],
        "subject_token": [token],
        "subject_token_type": [TOKEN_TYPE_JWT],
        **extra,
    }


def test_ci_token_is_exchanged_for_a_narrowed_access_token(env: Env) -> None:
    key = new_ec_key()
    _configure(env, key)
    issued = env.oauth.endpoints.token(_form(_ci_token(env, key), scope=["deploy"]), None)
    body = issued.body()
    assert body["issued_token_type"] == TOKEN_TYPE_ACCESS_TOKEN and body["expires_in"] == 300
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert claims["sub"] == env.identity and claims["scope"] == "deploy"
    assert claims["aud"] == "https://deploy.example" and claims["client_id"] == "exchange:ci"
    answer = env.oauth.endpoints.introspect(
        {"token": [issued.access_token]}, _basic_of_new_client(env)
    )
    assert answer["active"] is True and answer["sub"] == env.identity


def _basic_of_new_client(env: Env) -> str:
    import base64

    from tessera.oauth.models import CreateClientRequest

    created = env.oauth.clients.create(
        env.root, CreateClientRequest(identity=env.identity, audiences=("https://x",))
    )
    raw = f"{created.client.client_id}:{created.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"claims": {"ref": "refs/heads/feature"}}, InvalidOAuthRequest, "no binding"),
        ({"claims": {"aud": "someone-else"}}, InvalidOAuthRequest, "wrong aud"),
        ({"claims": {"iss": "https://unknown.test"}}, InvalidOAuthRequest, "not trusted"),
        ({"claims": {"exp": 1}}, InvalidOAuthRequest, "expired"),
        ({"other_key": True}, InvalidOAuthRequest, "signature"),
        ({"form": {"scope": ["admin"]}}, InvalidScope, "scope"),
        ({"form": {"audience": ["https://other"]}}, InvalidTarget, "audience"),
        ({"form": {"actor_token": ["x"]}}, InvalidOAuthRequest, "actor"),
        ({"form": {"subject_token_type": ["urn:x"]}}, InvalidOAuthRequest, "subject_token_type"),
        ({"form": {"subject_token": ["not-a-jwt"]}}, InvalidOAuthRequest, "compact JWS"),
    ],
)
def test_exchange_refusals(
    env: Env, change: dict[str, Any], error: type[Exception], message: str
) -> None:
    key = new_ec_key()
    _configure(env, key)
    signer = new_ec_key() if change.get("other_key") else key
    token = _ci_token(env, signer, **change.get("claims", {}))
    with pytest.raises(error, match=message):
        env.oauth.endpoints.token({**_form(token), **change.get("form", {})}, None)


def test_decommissioned_identity_cannot_be_exchanged_for(env: Env) -> None:
    key = new_ec_key()
    _configure(env, key)
    env.c.inventory.decommission(env.root, env.identity)
    with pytest.raises(InvalidOAuthRequest, match="not active"):
        env.oauth.endpoints.token(_form(_ci_token(env, key)), None)


def test_exchange_issuer_validation_and_management(env: Env) -> None:
    key = new_ec_key()
    _configure(env, key)
    good = env.oauth.exchange.get_issuer(env.root, "ci")
    with pytest.raises(Conflict):
        env.oauth.exchange.create_issuer(env.root, good)
    bad = [
        {"algorithms": ("HS256",)},
        {"algorithms": ("none",)},
        {"static_keys": ()},  # neither keys nor URL
        {"jwks_url": "ftp://x", "static_keys": ()},
        {"bindings": ()},
        {"issuer": "has space"},
        {"static_keys": ({"kty": "oct", "k": "AAAA"},)},
    ]
    from dataclasses import replace

    for change in bad:
        with pytest.raises(InvalidRequest):
            env.oauth.exchange.create_issuer(env.root, replace(good, name="other", **change))
    updated = env.oauth.exchange.update_issuer(env.root, replace(good, subject_audience="t2"))
    assert updated.subject_audience == "t2"
    assert [i.name for i in env.oauth.exchange.list_issuers(env.root)] == ["ci"]
    env.oauth.exchange.delete_issuer(env.root, "ci")
    assert env.oauth.exchange.list_issuers(env.root) == []
