"""The OAuth endpoints over real HTTP on loopback, driven by real clients: authlib's OAuth 2
client (client_secret_basic, client_secret_post, private_key_jwt) and PyJWT's PyJWKClient.

Most tests serve an app with the real gate middleware and only the OAuth routers, in this
process; the last ones run against `tessera server` and need the OAuth server wired into the
composition root (they skip, saying so, until it is)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from joserfc.jwk import ECKey

from tessera.api import errors
from tessera.api.middleware import GateMiddleware, Metrics
from tessera.api.routers import oauth as oauth_router
from tessera.app import Container
from tessera.core.clock import FakeClock
from tests.conftest import ServerProcess, dev_root_token, free_port, start_server
from tests.unit.test_oauth_support import Env, jwk_of, new_ec_key, sign


class WallClock(FakeClock):
    """Real time (clients such as authlib and PyJWT use the wall clock)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclasses.dataclass
class Served:
    env: Env
    addr: str
    root_token: str

    def form(self, path: str, data: dict[str, str], **kw: Any) -> httpx.Response:
        return httpx.post(self.addr + path, data=data, timeout=10, **kw)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    env, root_token = _wall_clock_env(tmp_path, addr)
    app = FastAPI()
    app.state.container = env.c
    errors.install(app)
    app.include_router(oauth_router.standard)
    app.include_router(oauth_router.router)
    app.add_middleware(GateMiddleware, container=env.c, metrics=Metrics())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield Served(env, addr, root_token)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _wall_clock_env(tmp_path: Path, addr: str) -> tuple[Env, str]:
    """An environment whose every service reads real time, and its root token."""
    from tessera.inventory.models import CreateIdentityRequest
    from tessera.oauth import build_oauth
    from tests.helpers import make_container, root_principal
    from tests.unit.test_oauth_support import StubVerifier

    clock = WallClock()
    c, _shares, root_token = make_container(tmp_path / "wall", clock=clock)
    oauth = build_oauth(
        c.db, c.clock, c.rng, c.barrier, c.policies, c.inventory, addr, StubVerifier(clock)
    )
    c.inventory.add_revoker(oauth)
    c.oauth = oauth  # type: ignore[attr-defined]
    root = root_principal(c, root_token)
    c.inventory.create_identity(root, CreateIdentityRequest(name="billing-api", owner="team-pay"))
    return Env(c, oauth, root, clock), root_token


def _create_client(s: Served, **body: Any) -> dict[str, Any]:
    doc = {"identity": "billing-api", "audiences": ["https://orders"], "scopes": ["orders:read"]}
    resp = httpx.post(
        s.addr + "/v1/oauth/clients",
        json={**doc, **body},
        headers={"X-Tessera-Token": s.root_token},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def _verify_with_jwks(addr: str, token: str) -> dict[str, Any]:
    signing_key = jwt.PyJWKClient(addr + "/oauth2/jwks").get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        signing_key.key,
        algorithms=["ES256", "EdDSA"],
        audience="https://orders",
        issuer=addr,
    )
    return claims


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials_and_pyjwk_verification(served: Served, method: str) -> None:
    created = _create_client(served)
    with OAuth2Client(
        created["client_id"], created["client_secret"], token_endpoint_auth_method=method
    ) as client:
        token = client.fetch_token(served.addr + "/oauth2/token", grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["scope"] == "orders:read"
    claims = _verify_with_jwks(served.addr, token["access_token"])
    assert claims["client_id"] == created["client_id"] and claims["sub"] == "billing-api"
    shown = httpx.get(
        f"{served.addr}/v1/oauth/clients/{created['client_id']}",
        headers={"X-Tessera-Token": served.root_token},
    ).json()
    assert shown["last_used_at"] is not None and "client_secret" not in shown


def test_authlib_private_key_jwt_and_replay(served: Served) -> None:
    key = new_ec_key()
    created = _create_client(
        served,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [jwk_of(key, "k1")]},
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token_url = served.addr + "/oauth2/token"
    with OAuth2Client(
        created["client_id"], ECKey.import_key(pem), token_endpoint_auth_method="private_key_jwt"
    ) as client:
        client.register_client_auth_method(PrivateKeyJWT(token_url, alg="ES256"))
        token = client.fetch_token(token_url, grant_type="client_credentials")
    assert (
        _verify_with_jwks(served.addr, token["access_token"])["client_id"] == created["client_id"]
    )
    now = int(time.time())
    cid = created["client_id"]
    assertion = sign(
        key,
        {"iss": cid, "sub": cid, "aud": token_url, "exp": now + 60, "jti": "once"},
        headers={"kid": "k1"},
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    assert served.form("/oauth2/token", form).status_code == 200
    replay = served.form("/oauth2/token", form)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


def test_errors_are_rfc6749_json(served: Served) -> None:
    created = _create_client(served)
    auth = (created["client_id"], created["client_secret"])
    cases = [
        ({"grant_type": "password"}, auth, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "admin"}, auth, 400, "invalid_scope"),
        ({}, auth, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, (created["client_id"], "wrong"), 401,
         "invalid_client"),
        ({"grant_type": "client_credentials", "resource": "https://x"}, auth, 400,
         "invalid_target"),
        ({"grant_type": "client_credentials", "pad": "x" * 20_000}, auth, 400,
         "invalid_request"),
    ]  # fmt: skip
    for data, basic, status, error in cases:
        resp = served.form("/oauth2/token", data, auth=basic)
        assert resp.status_code == status, (data, resp.text)
        assert resp.headers["content-type"] == "application/json"
        assert resp.json()["error"] == error and resp.headers["cache-control"] == "no-store"
        if status == 401:
            assert resp.headers["www-authenticate"].startswith("Basic")
    assert (
        created["client_secret"]
        not in served.env.c.settings.data_dir.joinpath("audit.log").read_text()
    )


def test_introspection_revocation_metadata_and_key_rotation(served: Served) -> None:
    created = _create_client(served)
    auth = (created["client_id"], created["client_secret"])
    token = served.form("/oauth2/token", {"grant_type": "client_credentials"}, auth=auth).json()
    access = token["access_token"]
    rotated = httpx.post(
        served.addr + "/v1/oauth/keys/rotate",
        json={"alg": "ES256"},
        headers={"X-Tessera-Token": served.root_token},
    ).json()
    assert rotated["kid"] != jwt.get_unverified_header(access)["kid"]
    assert _verify_with_jwks(served.addr, access)["jti"]  # the old key is still published
    active = served.form("/oauth2/introspect", {"token": access}, auth=auth).json()
    assert active["active"] is True and active["client_id"] == created["client_id"]
    assert served.form("/oauth2/revoke", {"token": access}, auth=auth).status_code == 200
    assert served.form("/oauth2/introspect", {"token": access}, auth=auth).json() == {
        "active": False
    }
    meta = httpx.get(served.addr + "/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == served.addr
    assert meta["token_endpoint"] == served.addr + "/oauth2/token"
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    oidc = httpx.get(served.addr + "/.well-known/openid-configuration").json()
    assert oidc["jwks_uri"] == served.addr + "/oauth2/jwks"


def test_token_exchange_over_http(served: Served) -> None:
    key = new_ec_key()
    issuer = {
        "name": "ci",
        "issuer": "https://ci.example.test",
        "subject_audience": "tessera",
        "static_keys": [jwk_of(key, "ci-1")],
        "algorithms": ["ES256"],
        "bindings": [
            {
                "claims": {"repository": ["acme/billing"]},
                "identity": "billing-api",
                "scopes": ["deploy"],
                "audiences": ["https://orders"],
            }
        ],
    }
    resp = httpx.post(
        served.addr + "/v1/oauth/exchange-issuers",
        json=issuer,
        headers={"X-Tessera-Token": served.root_token},
    )
    assert resp.status_code == 201, resp.text
    now = int(time.time())
    ci_token = sign(
        key,
        {"iss": "https://ci.example.test", "aud": "tessera", "exp": now + 300,
         "repository": "acme/billing", "sub": "repo:acme/billing"},
        headers={"kid": "ci-1"},
    )  # fmt: skip
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": ci_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "audience": "https://orders",
    }
    answer = served.form("/oauth2/token", form)
    assert answer.status_code == 200, answer.text
    claims = _verify_with_jwks(served.addr, answer.json()["access_token"])
    assert claims["sub"] == "billing-api" and claims["scope"] == "deploy"


def test_cli_manages_clients_and_keys(served: Served) -> None:
    from typer.testing import CliRunner

    from tessera.cli.oauth import app

    runner = CliRunner()
    env = {"TESSERA_ADDR": served.addr, "TESSERA_TOKEN": served.root_token}
    made = runner.invoke(
        app,
        ["client", "create", "--identity", "billing-api", "--audience", "https://orders",
         "-o", "json"],
        env=env,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    doc = json.loads(made.output)
    assert doc["client_secret"].startswith("tcs_")
    listed = runner.invoke(app, ["client", "list", "-o", "json"], env=env)
    assert doc["client_id"] in listed.output
    rotated = runner.invoke(
        app, ["client", "rotate-secret", doc["client_id"], "-o", "json"], env=env
    )
    assert (
        rotated.exit_code == 0
        and json.loads(rotated.output)["client_secret"] != doc["client_secret"]
    )
    assert runner.invoke(app, ["keys", "rotate", "--alg", "EdDSA"], env=env).exit_code == 0
    gone = runner.invoke(app, ["client", "delete", doc["client_id"], "-o", "json"], env=env)
    assert json.loads(gone.output)["status"] == "revoked"
    missing = runner.invoke(app, ["client", "show", "0" * 26], env=env)
    assert missing.exit_code == 1 and "Traceback" not in missing.output


# -- against `tessera server` ----------------------------------------------------------------
_WIRED = any(f.name == "oauth" for f in dataclasses.fields(Container))
needs_wiring = pytest.mark.skipif(
    not _WIRED, reason="the OAuth server is not wired into tessera.app.Container yet"
)


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path / "dev", "--dev")
    yield srv
    srv.stop()


@needs_wiring
def test_real_server_client_credentials_and_jwks(real_server: ServerProcess) -> None:
    root = dev_root_token(real_server)
    with real_server.client(root) as http:
        made = http.post("/v1/identities", json={"name": "billing-api", "owner": "team-pay"})
        assert made.status_code in (200, 201), made.text
        created = http.post(
            "/v1/oauth/clients",
            json={"identity": "billing-api", "audiences": ["https://orders"]},
        )
        assert created.status_code == 201, created.text
        doc = created.json()
    meta = httpx.get(real_server.addr + "/.well-known/oauth-authorization-server").json()
    with OAuth2Client(doc["client_id"], doc["client_secret"]) as client:
        token = client.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(token["access_token"])
    claims = jwt.decode(
        token["access_token"], key.key, algorithms=["ES256"], audience="https://orders",
        issuer=meta["issuer"],
    )  # fmt: skip
    assert claims["client_id"] == doc["client_id"]
    bad = httpx.post(meta["token_endpoint"], data={"grant_type": "password"})
    assert bad.status_code == 400 and bad.json()["error"] == "unsupported_grant_type"


def test_exchange_with_the_real_verifier_and_a_loopback_jwks(tmp_path: Path) -> None:
    """A CI-style token signed by a test issuer whose JWKS is served on loopback, checked
    by `tessera.auth.jwtverify.JwtVerifier` (the production verifier)."""
    import http.server

    from tessera.auth.jwtverify import JwtVerifier
    from tessera.inventory.models import CreateIdentityRequest
    from tessera.oauth import build_oauth
    from tessera.oauth.errors import InvalidOAuthRequest
    from tessera.oauth.models import ExchangeBinding, ExchangeIssuer
    from tests.helpers import make_container, root_principal

    key = new_ec_key()
    body = json.dumps({"keys": [{**jwk_of(key, "ci-1"), "alg": "ES256", "use": "sig"}]}).encode()

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        clock = WallClock()
        c, _shares, root_token = make_container(tmp_path / "real", clock=clock)
        oauth = build_oauth(
            c.db, clock, c.rng, c.barrier, c.policies, c.inventory, "https://t", JwtVerifier(clock)
        )
        root = root_principal(c, root_token)
        c.inventory.create_identity(root, CreateIdentityRequest(name="deployer", owner="ops"))
        ci = "https://ci.example.test"
        oauth.exchange.create_issuer(
            root,
            ExchangeIssuer(
                name="ci",
                issuer=ci,
                subject_audience="https://t",
                jwks_url=f"http://127.0.0.1:{httpd.server_address[1]}/jwks",
                algorithms=("ES256",),
                bindings=(
                    ExchangeBinding(
                        claims={"repository": ("acme/app",)},
                        identity="deployer",
                        audiences=("https://deploy",),
                    ),
                ),
            ),
        )
        now = int(time.time())
        claims = {"iss": ci, "aud": "https://t", "sub": "repo:acme/app", "iat": now,
                  "exp": now + 300, "repository": "acme/app"}  # fmt: skip
        form = {
            "grant_type": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "subject_token_type": ["urn:ietf:params:oauth:token-type:jwt"],
        }
        good = sign(key, claims, headers={"kid": "ci-1"})
        issued = oauth.endpoints.token({**form, "subject_token": [good]}, None)
        out = jwt.decode(issued.access_token, options={"verify_signature": False})
        assert out["sub"] == "deployer" and out["aud"] == "https://deploy"
        for bad in (
            sign(key, {**claims, "aud": "https://other"}, headers={"kid": "ci-1"}),
            sign(new_ec_key(), claims, headers={"kid": "ci-1"}),
            sign(key, {**claims, "exp": now - 600}, headers={"kid": "ci-1"}),
        ):
            with pytest.raises(InvalidOAuthRequest, match="subject_token refused"):
                oauth.endpoints.token({**form, "subject_token": [bad]}, None)
    finally:
        httpd.shutdown()
        thread.join(timeout=5)
