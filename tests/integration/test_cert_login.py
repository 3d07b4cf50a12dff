"""TLS certificate login against a real `tessera server` with its mutual-TLS listener: a
client certificate a Tessera CA issued (profile usage `client`, a SPIFFE URI SAN) logs in and
its token works on the main API; revoked, the same certificate is refused at once after a
restart; the CLI logs in the same way and prints a refusal as one line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, dev_root_token, free_port, start_server
from tests.unit.test_cert_auth import SPIFFE, ExternalCA, Issued, key_pem, pem, tls_login

ROLE = {
    "allowed_cas": ["root"],
    "allowed_uri_sans": ["spiffe://example.org/ns/*/sa/billing"],
    "identity": "billing",
    "policies": ["billing"],
    "token_ttl": "10m",
}


def ok(resp: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert resp.status_code < 300, resp.text
    return resp.json() if resp.content else {}  # type: ignore[no-any-return]


def serve(data: Path, tmp: Path, port: int) -> ServerProcess:
    return start_server(
        data,
        "--dev",
        "--tls-login-listen",
        f"127.0.0.1:{port}",
        "--tls-cert",
        str(tmp / "listener.pem"),
        "--tls-key",
        str(tmp / "listener.key"),
    )


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[ServerProcess, httpx.Client, int, Path]]:
    # the listener's own certificate comes from a CA of the test: it must exist before start
    listener_ca = ExternalCA("Listener CA")
    server_cert, server_key = listener_ca.issue_server("127.0.0.1")
    (tmp_path / "listener.pem").write_text(pem(server_cert))
    (tmp_path / "listener.key").write_text(key_pem(server_key))
    (tmp_path / "listener-ca.pem").write_text(pem(listener_ca.cert))
    port = free_port()
    srv = serve(tmp_path / "data", tmp_path, port)
    api = srv.client(dev_root_token(srv))
    ok(api.post("/v1/pki/cas", json={"name": "root", "kind": "root", "common_name": "Root"}))
    ok(
        api.post(
            "/v1/pki/cas",
            json={
                "name": "int",
                "kind": "intermediate",
                "common_name": "Issuing",
                "parent": "root",
            },
        )
    )
    ok(
        api.put(
            "/v1/pki/profiles/client",
            json={
                "issuer": "int",
                "usage": "client",
                "allowed_uri_sans": ["spiffe://example.org/**"],
                "ttl": "1h",
            },
        )
    )
    ok(
        api.put(
            "/v1/sys/policies/billing",
            json={"rules": [{"path": "auth/token/lookup-self", "capabilities": ["read"]}]},
        )
    )
    ok(api.post("/v1/identities", json={"name": "billing", "owner": "team-billing"}))
    ok(api.put("/v1/auth/cert/roles/billing", json=ROLE))
    try:
        yield srv, api, port, tmp_path
    finally:
        api.close()
        srv.stop()


def issue(api: httpx.Client, uri: str = SPIFFE) -> tuple[Issued, dict]:  # type: ignore[type-arg]
    out = ok(api.post("/v1/pki/issue/client", json={"uri_sans": [uri]}))
    return Issued(out["certificate_pem"] + out["chain_pem"], out["private_key"]), out


def cli_login(tmp: Path, issued: Issued, port: int) -> subprocess.CompletedProcess[str]:
    (tmp / "cli.pem").write_text(issued.cert)
    (tmp / "cli.key").write_text(issued.key)
    cmd = [
        sys.executable,
        "-m",
        "tessera",
        "auth",
        "cert",
        "login",
        "--cert",
        str(tmp / "cli.pem"),
        "--key",
        str(tmp / "cli.key"),
        "--ca",
        str(tmp / "listener-ca.pem"),
        "--role",
        "billing",
        "--login-addr",
        f"https://127.0.0.1:{port}",
        "-o",
        "json",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_tessera_client_certificate_logs_in_over_mutual_tls(
    setup: tuple[ServerProcess, httpx.Client, int, Path],
) -> None:
    srv, api, port, tmp = setup
    issued, _ = issue(api)
    resp = tls_login(("127.0.0.1", port), tmp / "listener-ca.pem", tmp, issued, "billing")
    assert resp.status_code == 200, resp.text
    token = resp.json()["token"]
    with srv.client(token) as as_workload:  # the token works on the main API
        me = ok(as_workload.get("/v1/auth/token/lookup-self"))
    assert set(me["policies"]) == {"billing", "default"}
    assert me["meta"]["subject"] == SPIFFE
    assert me["identity_id"] == ok(api.get("/v1/identities/billing"))["id"]
    wrong, _ = issue(api, "spiffe://example.org/ns/prod/sa/payroll")
    refused = tls_login(("127.0.0.1", port), tmp / "listener-ca.pem", tmp, wrong, "billing")
    assert refused.status_code == 401
    assert refused.json()["type"].endswith(":cert-not-matched")
    lines = [json.loads(x) for x in srv.audit_log.read_text().splitlines() if x]
    decisions = [
        d
        for x in lines
        if x["type"] == "response"
        for d in x["data"]["decisions"]
        if d.get("path") == "auth/cert/login"
    ]
    assert [d["allowed"] for d in decisions][-2:] == [True, False]
    assert token not in srv.audit_log.read_text()


def test_revoked_certificate_refused_just_after_restart(
    setup: tuple[ServerProcess, httpx.Client, int, Path],
) -> None:
    srv, api, port, tmp = setup
    issued, out = issue(api)
    done = cli_login(tmp, issued, port)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["info"]["meta"]["role"] == "billing"
    ok(api.post("/v1/pki/revoke", json={"ca": "int", "serial": out["certificate"]["serial"]}))
    api.close()
    srv.stop()
    srv = serve(srv.data_dir, tmp, port)
    try:
        # at once: start_server returns as soon as the API answers, the listener already serves
        resp = tls_login(("127.0.0.1", port), tmp / "listener-ca.pem", tmp, issued, "billing")
        assert resp.status_code == 401
        assert resp.json()["type"].endswith(":cert-revoked")
        done = cli_login(tmp, issued, port)
        assert done.returncode == 1
        assert "revoked" in done.stderr and "Traceback" not in done.stderr
    finally:
        srv.stop()
