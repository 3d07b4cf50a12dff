"""OAuth clients: creation (inventory, hashed secrets), secret and private_key_jwt client
authentication, indistinguishable failures, rotation, revocation, throttled last use."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from tessera.core.clock import as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.inventory.models import CredentialKind
from tessera.oauth.errors import InvalidClient, InvalidOAuthRequest
from tessera.oauth.jose import public_jwk
from tessera.oauth.models import AuthMethod, CreateClientRequest, RotateSecretRequest
from tessera.storage.models import CredentialRow
from tessera.storage.models_oauth import OAuthClientRow
from tests.unit.test_oauth_support import (
    TOKEN_URL,
    Env,
    assertion_claims,
    jwk_of,
    make_env,
    new_ec_key,
    sign,
)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


def _secret_client(env: Env, **kw: object) -> tuple[str, str]:
    req = CreateClientRequest(identity=env.identity, audiences=("https://api",), **kw)  # type: ignore[arg-type]
    created = env.oauth.clients.create(env.root, req)
    assert created.client_secret is not None
    return created.client.client_id, created.client_secret


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _auth(env: Env, params: dict[str, str], authorization: str | None = None):  # type: ignore[no-untyped-def]
    return env.oauth.endpoints._auth.authenticate(params, authorization, TOKEN_URL)


def test_create_records_inventory_and_stores_only_a_hash(env: Env) -> None:
    client_id, secret = _secret_client(env, scopes=("orders:read",))
    assert secret.startswith("tcs_") and len(base64.urlsafe_b64decode(secret[4:] + "=")) == 32
    with env.c.db.session() as s:
        row = s.get(OAuthClientRow, client_id)
        cred = s.execute(
            select(CredentialRow).where(CredentialRow.fingerprint == f"oauth-client:{client_id}")
        ).scalar_one()
    assert row is not None and row.secret_hash is not None
    assert secret.encode() not in row.secret_hash and len(row.secret_hash) == 32
    assert cred.kind == CredentialKind.OAUTH_CLIENT.value and cred.owner == "team-pay"
    shown = env.oauth.clients.get(env.root, client_id)
    assert shown.scopes == ("orders:read",) and shown.identity == env.identity


def test_basic_and_post_authenticate(env: Env) -> None:
    client_id, secret = _secret_client(env)
    by_basic = _auth(env, {}, _basic(client_id, secret))
    assert by_basic.client_id == client_id and by_basic.method is AuthMethod.CLIENT_SECRET_BASIC
    by_post = _auth(env, {"client_id": client_id, "client_secret": secret})
    assert by_post.method is AuthMethod.CLIENT_SECRET_POST and by_post.identity == env.identity


def test_unknown_and_wrong_client_are_indistinguishable(env: Env) -> None:
    client_id, secret = _secret_client(env)
    unknown_id = "0" * 26
    errors = []
    for cid, sec in ((client_id, secret + "x"), (unknown_id, secret), ("not-an-id", secret)):
        with pytest.raises(InvalidClient) as exc:
            _auth(env, {}, _basic(cid, sec))
        errors.append((exc.value.status, str(exc.value.body()), exc.value.basic))
        with pytest.raises(InvalidClient) as exc:
            _auth(env, {"client_id": cid, "client_secret": sec})
        errors.append((exc.value.status, str(exc.value.body()), exc.value.basic))
    assert len({e for e in errors[0::2]}) == 1 and len({e for e in errors[1::2]}) == 1
    assert errors[0][0] == 401 and errors[0][2] is True and errors[1][2] is False


def test_two_methods_at_once_and_malformed_basic_are_refused(env: Env) -> None:
    client_id, secret = _secret_client(env)
    with pytest.raises(InvalidOAuthRequest):
        _auth(env, {"client_id": client_id, "client_secret": secret}, _basic(client_id, secret))
    with pytest.raises(InvalidClient):
        _auth(env, {}, "Basic !!!not-base64")
    with pytest.raises(InvalidClient):
        _auth(env, {}, "Bearer something")
    with pytest.raises(InvalidClient):
        _auth(env, {})


def test_rotation_with_overlap_then_without(env: Env) -> None:
    client_id, old = _secret_client(env)
    rotated = env.oauth.clients.rotate_secret(
        env.root, client_id, RotateSecretRequest(overlap=timedelta(hours=1))
    )
    new = rotated.client_secret
    assert new is not None and new != old
    assert _auth(env, {}, _basic(client_id, old)).client_id == client_id
    assert _auth(env, {}, _basic(client_id, new)).client_id == client_id
    env.clock.advance(timedelta(hours=1, seconds=1))
    with pytest.raises(InvalidClient):
        _auth(env, {}, _basic(client_id, old))
    newest = env.oauth.clients.rotate_secret(env.root, client_id, RotateSecretRequest())
    with pytest.raises(InvalidClient):
        _auth(env, {}, _basic(client_id, new))
    assert newest.client_secret and _auth(env, {}, _basic(client_id, newest.client_secret))
    with pytest.raises(InvalidRequest):
        env.oauth.clients.rotate_secret(
            env.root, client_id, RotateSecretRequest(overlap=timedelta(days=30))
        )


def test_revoke_and_decommission_stop_the_client(env: Env) -> None:
    client_id, secret = _secret_client(env)
    other_id, other_secret = _secret_client(env)
    env.oauth.clients.revoke(env.root, client_id)
    with pytest.raises(InvalidClient):
        _auth(env, {}, _basic(client_id, secret))
    with pytest.raises(Conflict):
        env.oauth.clients.rotate_secret(env.root, client_id, RotateSecretRequest())
    env.c.inventory.decommission(env.root, env.identity)
    with pytest.raises(InvalidClient):
        _auth(env, {}, _basic(other_id, other_secret))
    page = env.oauth.clients.list_clients(env.root, env.identity, 10, None)
    assert {c.status.value for c in page.items} == {"revoked"}
    with pytest.raises(NotFound):
        env.oauth.clients.get(env.root, "0" * 26)


def test_last_used_is_written_at_most_once_a_minute(env: Env) -> None:
    client_id, secret = _secret_client(env)
    first = env.clock.now()
    _auth(env, {}, _basic(client_id, secret))
    env.clock.advance(30)
    _auth(env, {}, _basic(client_id, secret))
    assert env.oauth.clients.get(env.root, client_id).last_used_at == first
    env.clock.advance(31)
    _auth(env, {}, _basic(client_id, secret))
    shown = env.oauth.clients.get(env.root, client_id)
    assert shown.last_used_at == env.clock.now()
    with env.c.db.session() as s:
        cred = s.get(CredentialRow, shown.credential_id)
    assert cred is not None and cred.last_used_at is not None
    assert as_utc(cred.last_used_at) == env.clock.now()


def test_private_key_jwt_registration_refuses_unsafe_keys(env: Env) -> None:
    key = new_ec_key()
    bad_sets = [
        {"keys": [{**jwk_of(key, "k1"), "d": "AAAA"}]},  # a private key
        {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},  # a symmetric key
        {"keys": [public_jwk(rsa.generate_private_key(65537, 1024).public_key())]},
        {"keys": []},
        {"not": "a jwks"},
    ]
    for jwks in bad_sets:
        with pytest.raises(InvalidRequest):
            env.oauth.clients.create(
                env.root,
                CreateClientRequest(
                    identity=env.identity,
                    audiences=("https://api",),
                    auth_method=AuthMethod.PRIVATE_KEY_JWT,
                    jwks=jwks,
                ),
            )
    with pytest.raises(InvalidRequest):  # no key at all
        env.oauth.clients.create(
            env.root,
            CreateClientRequest(
                identity=env.identity,
                audiences=("https://api",),
                auth_method=AuthMethod.PRIVATE_KEY_JWT,
            ),
        )


def test_private_key_jwt_authenticates_once_per_jti(env: Env) -> None:
    key = new_ec_key()
    created = env.oauth.clients.create(
        env.root,
        CreateClientRequest(
            identity=env.identity,
            audiences=("https://api",),
            auth_method=AuthMethod.PRIVATE_KEY_JWT,
            jwks={"keys": [jwk_of(key, "k1")]},
        ),
    )
    assert created.client_secret is None
    client_id = created.client.client_id
    token = sign(key, assertion_claims(client_id, env.clock.now()), headers={"kid": "k1"})
    params = {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": token,
    }
    assert _auth(env, params).method is AuthMethod.PRIVATE_KEY_JWT
    with pytest.raises(InvalidClient, match="used already"):
        _auth(env, params)
    with pytest.raises(InvalidClient):  # a secret is no way in for a key client
        _auth(env, {"client_id": client_id, "client_secret": "tcs_x"})
