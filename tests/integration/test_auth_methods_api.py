"""End to end over real HTTP: a dev server on loopback, a test OIDC issuer whose JWKS is served
on loopback, AppRole and JWT logins, refusals (401 / 404 / 429 with Retry-After) and what
the audit log says about them (reasons, never secrets); the CLI for one AppRole round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.unit.test_jwtverify import Issuer, public_jwk, sign

ISS = "https://token.actions.example.test"
AUD = "https://tessera.example.test"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("auth-methods"), "--dev")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(srv: ServerProcess) -> Iterator[httpx.Client]:
    with srv.client(dev_root_token(srv)) as c:
        ok(c.put("/v1/sys/policies/ci-deploy", json={
            "rules": [{"path": "kv/data/deploy/*", "capabilities": ["read"]}]}))  # fmt: skip
        ok(c.post("/v1/identities", json={"name": "ci-web", "owner": "team-web"}))
        yield c


@pytest.fixture(scope="module")
def oidc() -> Iterator[Issuer]:
    issuer = Issuer()
    yield issuer
    issuer.close()


def ok(resp: httpx.Response) -> Any:
    assert resp.status_code < 300, resp.text
    return resp.json() if resp.content else None


def ci_claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {
        "iss": ISS,
        "aud": AUD,
        "sub": "repo:acme/web:environment:prod",
        "repository": "acme/web",
        "ref": "refs/heads/main",
        "environment": "prod",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def audit_lines(srv: ServerProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in srv.audit_log.read_text().splitlines() if line]


# -- JWT / OIDC ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ci_role(root: httpx.Client, oidc: Issuer) -> str:
    ok(root.put("/v1/auth/jwt/issuers/actions", json={
        "issuer": ISS, "jwks_url": oidc.jwks_url, "algorithms": ["RS256", "ES256"]}))  # fmt: skip
    ok(root.put("/v1/auth/jwt/roles/web-deploy", json={
        "issuer": "actions",
        "bound_audiences": [AUD],
        "bound_claims": {"repository": "acme/web", "ref": ["refs/heads/main"],
                         "environment": "prod"},
        "user_claim": "sub",
        "identity": "ci-web",
        "policies": ["ci-deploy"],
        "token_ttl": "10m",
    }))  # fmt: skip
    return "web-deploy"


def test_ci_oidc_token_logs_in(srv: ServerProcess, ci_role: str, oidc: Issuer) -> None:
    token = sign(oidc.rsa, ci_claims())
    with srv.client() as anon:
        out = ok(anon.post("/v1/auth/jwt/login", json={"role": " Web-Deploy ", "jwt": token}))
    info = out["info"]
    assert set(info["policies"]) == {"ci-deploy", "default"}
    assert info["meta"]["auth_method"] == "jwt"
    assert info["meta"]["user"] == "repo:acme/web:environment:prod"
    assert info["identity_id"] and 0 < info["ttl"] <= 600
    with srv.client(out["token"]) as me:
        assert ok(me.get("/v1/auth/token/lookup-self"))["accessor"] == info["accessor"]
    assert token not in srv.audit_log.read_text()


@pytest.mark.parametrize(
    ("claims", "status", "reason"),
    [
        ({"ref": "refs/heads/feature"}, 401, "bound claim 'ref' does not match"),
        ({"environment": None}, 401, "bound claim 'environment' is missing"),
        ({"aud": ["other"]}, 401, "the token is not meant for this audience"),
        ({"exp": int(time.time()) - 3600}, 401, "the token has expired"),
        ({"iss": ISS + ".evil"}, 401, "the token's issuer is not the expected one"),
    ],
)
def test_bad_ci_tokens_refused_and_audited(
    srv: ServerProcess,
    ci_role: str,
    oidc: Issuer,
    claims: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    token = sign(oidc.ec, ci_claims(**claims), kid="ec-1")

    def logins() -> list[dict[str, Any]]:
        return [
            d for line in audit_lines(srv) if line["type"] == "response"
            for d in line["data"]["decisions"] if d.get("path") == "auth/jwt/login"
        ]  # fmt: skip

    before = len(logins())
    with srv.client() as anon:
        resp = anon.post("/v1/auth/jwt/login", json={"role": ci_role, "jwt": token})
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    # the response line is written once the answer has gone out: wait for it (bounded)
    deadline = time.monotonic() + 10
    while len(refusals := logins()) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(refusals) > before
    assert refusals[-1]["reasons"] == [reason] and not refusals[-1]["allowed"]
    assert token not in srv.audit_log.read_text()


def test_kubernetes_style_token_with_static_keys(
    srv: ServerProcess, root: httpx.Client, oidc: Issuer
) -> None:
    k8s_iss = "https://kubernetes.default.svc.cluster.local"
    ok(root.put("/v1/auth/jwt/issuers/k8s", json={
        "issuer": k8s_iss, "static_keys": [public_jwk(oidc.ec, "sa-key")],
        "algorithms": ["ES256"]}))  # fmt: skip
    ok(root.put("/v1/auth/jwt/roles/k8s-web", json={
        "issuer": "k8s", "bound_audiences": ["tessera"],
        "bound_claims": {"kubernetes.io/serviceaccount/namespace": "prod",
                         "/kubernetes.io/serviceaccount/name": ["web", "web-canary"]},
        "policies": ["ci-deploy"]}))  # fmt: skip
    claims = ci_claims(iss=k8s_iss, aud=["tessera"], sub="system:serviceaccount:prod:web")
    claims["kubernetes.io/serviceaccount/namespace"] = "prod"
    claims["kubernetes.io"] = {"serviceaccount": {"name": "web"}}
    with srv.client() as anon:
        good = sign(oidc.ec, claims, kid="sa-key")
        assert ok(anon.post("/v1/auth/jwt/login", json={"role": "k8s-web", "jwt": good}))["token"]
        claims["kubernetes.io/serviceaccount/namespace"] = "dev"
        bad = sign(oidc.ec, claims, kid="sa-key")
        resp = anon.post("/v1/auth/jwt/login", json={"role": "k8s-web", "jwt": bad})
    assert resp.status_code == 401


def test_jwt_issuer_config_refusals(root: httpx.Client) -> None:
    hs = root.put("/v1/auth/jwt/issuers/bad", json={"issuer": ISS, "jwks_url": "https://x.test",
                                                   "algorithms": ["HS256"]})  # fmt: skip
    assert hs.status_code == 400
    oct_key = root.put("/v1/auth/jwt/issuers/bad", json={
        "issuer": ISS, "static_keys": [{"kty": "oct", "k": "c2VjcmV0"}]})  # fmt: skip
    assert oct_key.status_code == 400
    role = {"issuer": "nope", "bound_audiences": ["a"], "bound_claims": {"sub": "x"}}
    assert root.put("/v1/auth/jwt/roles/x", json=role).status_code == 404
    unbound = {"issuer": "nope", "bound_audiences": ["a"]}  # any workload of the issuer
    assert root.put("/v1/auth/jwt/roles/x", json=unbound).status_code == 400


# -- AppRole ------------------------------------------------------------------------------------
def approle(root: httpx.Client, name: str, **spec: Any) -> tuple[str, str]:
    ok(root.put(f"/v1/auth/approle/roles/{name}", json={"policies": ["ci-deploy"], **spec}))
    role_id = ok(root.get(f"/v1/auth/approle/roles/{name}/role-id"))["role_id"]
    secret = ok(root.post(f"/v1/auth/approle/roles/{name}/secret-id", json={}))["secret_id"]
    return role_id, secret


def test_approle_login_and_refusals(srv: ServerProcess, root: httpx.Client) -> None:
    role_a, secret_a = approle(root, "api-a", identity="ci-web", secret_id_num_uses=5)
    role_b, secret_b = approle(root, "api-b")
    with srv.client() as anon:
        out = ok(
            anon.post("/v1/auth/approle/login", json={"role_id": role_a, "secret_id": secret_a})
        )
        assert out["info"]["meta"] == {"auth_method": "approle", "role": "api-a"}
        other = anon.post("/v1/auth/approle/login", json={"role_id": role_a, "secret_id": secret_b})
        assert other.status_code == 401
        assert other.json()["type"] == "urn:tessera:problem:login-refused"
    acc_a = ok(root.get("/v1/auth/approle/roles/api-a/secret-id"))["secret_ids"][0]["accessor"]
    assert (
        ok(root.get(f"/v1/auth/approle/roles/api-a/secret-id-accessors/{acc_a}"))["uses_left"] == 4
    )
    assert root.get(f"/v1/auth/approle/roles/api-b/secret-id-accessors/{acc_a}").status_code == 404
    assert (
        root.delete(f"/v1/auth/approle/roles/api-b/secret-id-accessors/{acc_a}").status_code == 404
    )
    text = srv.audit_log.read_text()
    assert "secret_id belongs to another role" in text
    assert secret_a not in text and secret_b not in text
    assert role_b  # role b exists; its secret was refused under role a


def test_approle_cidr_bound_role_refuses_loopback(srv: ServerProcess, root: httpx.Client) -> None:
    role_id, secret = approle(root, "dc-only", token_bound_cidrs=["10.0.0.0/8"])
    with srv.client() as anon:
        resp = anon.post("/v1/auth/approle/login", json={"role_id": role_id, "secret_id": secret})
    assert resp.status_code == 401


def test_approle_lockout_answers_429_with_retry_after(
    srv: ServerProcess, root: httpx.Client
) -> None:
    role_id, secret = approle(root, "locked")
    variants = [role_id, role_id.upper(), f" {role_id} ", role_id.title(), f"\t{role_id}"]
    with srv.client() as anon:
        for variant in variants:
            bad = anon.post("/v1/auth/approle/login", json={"role_id": variant, "secret_id": "no"})
            assert bad.status_code == 401
        locked = anon.post("/v1/auth/approle/login", json={"role_id": role_id, "secret_id": secret})
    assert locked.status_code == 429, locked.text
    assert locked.json()["type"] == "urn:tessera:problem:rate-limited"
    assert int(locked.headers["retry-after"]) > 0


def test_cli_approle_round_trip(srv: ServerProcess, root: httpx.Client, tmp_path: Path) -> None:
    env = {**os.environ, "TESSERA_ADDR": srv.addr, "TESSERA_TOKEN": dev_root_token(srv),
           "HOME": str(tmp_path)}  # fmt: skip

    def cli(*args: str, **extra: str) -> Any:
        cmd = [sys.executable, "-m", "tessera", *args, "-o", "json"]
        proc = subprocess.run(cmd, env={**env, **extra}, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(proc.stdout)

    cli("auth", "approle", "role", "write", "cli-role", "--policy", "ci-deploy",
        "--secret-id-num-uses", "1")  # fmt: skip
    role_id = cli("auth", "approle", "role-id", "cli-role")["role_id"]
    secret = cli("auth", "approle", "secret-id", "create", "cli-role")["secret_id"]
    out = cli("auth", "approle", "login", "--role-id", role_id, TESSERA_SECRET_ID=secret,
              TESSERA_TOKEN="")  # fmt: skip
    assert out["token"].startswith("tsr_") and "ci-deploy" in out["info"]["policies"]
