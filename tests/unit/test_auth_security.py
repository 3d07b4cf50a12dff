"""Regressions found in the security review of the auth methods and the OAuth server: no
escalation through role or exchange-issuer writes, NaN times refused, lockouts per source,
JWT roles bound to at least one claim."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tessera.auth.methods import build_auth_methods
from tessera.auth.methods.models import AppRoleSpec, JwtIssuerSpec, JwtLogin, JwtRoleSpec
from tessera.auth.models import CreateTokenRequest, Principal
from tessera.core.errors import InvalidRequest, PermissionDenied
from tessera.oauth.errors import OAuthError
from tessera.oauth.models import (
    ASSERTION_TYPE,
    AuthMethod,
    CreateClientRequest,
    ExchangeBinding,
    ExchangeIssuer,
)
from tests.unit.test_oauth_support import TOKEN_URL, jwk_of, make_env, new_ec_key, sign

ADMIN = {"rules": [{"path": "*", "capabilities": ["create", "read", "update", "delete", "list"]}]}


def _principal(env: Any, name: str, rules: list[dict[str, Any]]) -> Principal:
    env.c.policies.write(env.root, name, {"rules": rules})
    made = env.c.tokens.create(env.root, CreateTokenRequest(policies=(name,)))
    return env.c.tokens.authenticate(made.token)  # type: ignore[no-any-return]


def _methods(env: Any) -> Any:
    c = env.c
    return build_auth_methods(c.db, c.clock, c.rng, c.barrier, c.policies, c.inventory, c.tokens)


def test_role_writer_cannot_grant_policies_or_identities_beyond_their_own(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    env.c.policies.write(env.root, "admin", ADMIN)
    op = _principal(env, "approle-op", [
        {"path": "auth/approle/roles/*", "capabilities": ["create", "update", "read"]},
    ])  # fmt: skip
    m = _methods(env)
    with pytest.raises(PermissionDenied):
        m.approle.write_role(op, "evil", AppRoleSpec(identity=None, policies=("admin",)))
    with pytest.raises(PermissionDenied):  # binding an identity needs update on it
        m.approle.write_role(op, "evil", AppRoleSpec(identity=env.identity, policies=()))
    m.approle.write_role(op, "fine", AppRoleSpec(identity=None, policies=("default",)))


def test_exchange_issuer_bindings_need_rights_over_their_identity(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    op = _principal(env, "xchg-op", [
        {"path": "oauth/exchange-issuers/*", "capabilities": ["create"]},
    ])  # fmt: skip
    key = new_ec_key()
    binding = ExchangeBinding(
        claims={"sub": ("me",)}, identity=env.identity, scopes=("payments:admin",),
        audiences=("https://payments",), token_ttl=timedelta(hours=1),
    )  # fmt: skip
    issuer = ExchangeIssuer(
        name="mine", issuer="https://attacker", subject_audience="x",
        static_keys=(jwk_of(key, "k"),), algorithms=("ES256",), bindings=(binding,),
    )  # fmt: skip
    with pytest.raises(PermissionDenied):
        env.oauth.exchange.create_issuer(op, issuer)


def test_client_assertion_with_nan_exp_is_an_oauth_error(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    key = new_ec_key()
    created = env.oauth.clients.create(
        env.root,
        CreateClientRequest(
            identity=env.identity, audiences=("https://a",),
            auth_method=AuthMethod.PRIVATE_KEY_JWT, jwks={"keys": [jwk_of(key, "k1")]},
        ),
    )  # fmt: skip
    cid = created.client.client_id
    for bad in (float("nan"), float("inf")):
        claims = {"iss": cid, "sub": cid, "aud": TOKEN_URL, "jti": f"j{bad}", "exp": bad}
        form = {
            "grant_type": ["client_credentials"], "client_assertion_type": [ASSERTION_TYPE],
            "client_assertion": [sign(key, claims, headers={"kid": "k1"})],
        }  # fmt: skip
        with pytest.raises(OAuthError):
            env.oauth.endpoints.token(form, None)


def test_failures_from_elsewhere_do_not_lock_a_jwt_role(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    m = _methods(env)
    key = new_ec_key()
    spec = JwtIssuerSpec(
        issuer="https://ci", static_keys=(jwk_of(key, "k"),), algorithms=("ES256",)
    )
    m.jwt.write_issuer(env.root, "ci", spec)
    with pytest.raises(InvalidRequest):  # no claim bound: any workload of the issuer could log in
        m.jwt.write_role(env.root, "open", JwtRoleSpec(issuer="ci", bound_audiences=("t",)))
    role = JwtRoleSpec(issuer="ci", bound_audiences=("tessera",), bound_claims={"sub": "x"})
    m.jwt.write_role(env.root, "deploy", role)
    for i in range(6):
        with pytest.raises(Exception):
            m.jwt.login(JwtLogin("deploy", "a.b.c", f"203.0.113.{i % 2}"))
    t = int(env.clock.now().timestamp())
    good = sign(key, {"iss": "https://ci", "aud": "tessera", "sub": "x", "exp": t + 60},
                headers={"kid": "k"})  # fmt: skip
    assert m.jwt.login(JwtLogin("deploy", good, "10.0.0.9")).token
