"""The agent's HTTP client against httpx.MockTransport: the issue request it sends, token and
token-file logins, AppRole login and re-login (expiry on the FakeClock, or a 401), errors
that never carry the token."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.agent.client import AgentCallError, AgentClient, token_source
from tessera.agent.config import AuthConfig, CertificateConfig
from tessera.core.clock import FakeClock
from tests.unit.test_agent_runner import make_issued

NOW = datetime(2031, 5, 1, tzinfo=UTC)
SPEC = CertificateConfig.model_validate({
    "profile": "web/edge", "common_name": "a.example.test", "alt_names": ["a.example.test"],
    "ttl": "6s", "key_type": "ec-p256", "cert_file": "/x/a.crt", "key_file": "/x/a.key",
})  # fmt: skip


def issued_body() -> dict[str, Any]:
    issued = make_issued(SPEC, NOW, timedelta(hours=1))
    cert = {
        "id": "c1", "ca": "root", "ca_id": "ca1", "serial": issued.serial, "status": "issued",
        "profile": "web", "identity_id": None, "credential_id": None, "fingerprint": None,
        "common_name": "a.example.test", "not_before": issued.not_before.isoformat(),
        "not_after": issued.not_after.isoformat(), "certificate_pem": issued.certificate_pem,
        "renewed_from": None, "revoked_at": None, "revocation_reason": None,
    }  # fmt: skip
    return {
        "certificate": cert,
        "certificate_pem": issued.certificate_pem,
        "chain_pem": issued.chain_pem,
        "private_key": issued.private_key_pem,
    }


class Server:
    """Records requests; `valid` is the set of tokens the fake server accepts."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.valid: set[str] = set()
        self.logins = 0
        self.login_ttl = 600

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/v1/auth/approle/login":
            self.logins += 1
            body = json.loads(request.content)
            if body != {"role_id": "role-1", "secret_id": "s3cret-id"}:
                return httpx.Response(401, json={"title": "Login refused"})
            token = f"tok-{self.logins}"
            self.valid.add(token)
            expires = (NOW + timedelta(seconds=self.login_ttl)).isoformat()
            return httpx.Response(200, json={"token": token, "info": {"expires_at": expires}})
        if request.headers.get("X-Tessera-Token") not in self.valid:
            return httpx.Response(401, json={"title": "Missing, invalid, expired or revoked token"})
        return httpx.Response(200, json=issued_body())


def client(server: Callable[[httpx.Request], httpx.Response], auth: dict[str, Any],
           clock: FakeClock | None = None) -> AgentClient:  # fmt: skip
    http = httpx.Client(base_url="http://tessera.test", transport=httpx.MockTransport(server))
    return AgentClient(
        http, token_source(AuthConfig.model_validate(auth), http, clock or FakeClock(NOW))
    )


def test_issue_sends_names_ttl_key_type_and_token() -> None:
    server = Server()
    server.valid.add("root-token")
    issued = client(server, {"token": "root-token"}).issue(SPEC)
    req = server.requests[0]
    assert req.url.raw_path == b"/v1/pki/issue/web%2Fedge"  # the profile stays one segment
    assert req.headers["X-Tessera-Token"] == "root-token"
    assert json.loads(req.content) == {
        "common_name": "a.example.test", "alt_names": ["a.example.test"], "ip_sans": [],
        "uri_sans": [], "ttl": 6, "key_type": "ec-p256",
    }  # fmt: skip
    assert "BEGIN PRIVATE KEY" in issued.private_key_pem and issued.not_after > issued.not_before


def test_token_file_rotation_recovers_without_restart(tmp_path: Path) -> None:
    server = Server()
    server.valid.add("old-token")
    token_file = tmp_path / "token"
    token_file.write_text("old-token\n")
    c = client(server, {"token_file": str(token_file)})
    c.issue(SPEC)
    server.valid = {"new-token"}
    token_file.write_text("new-token\n")
    c.issue(SPEC)
    sent = [r.headers["X-Tessera-Token"] for r in server.requests]
    assert sent == ["old-token", "old-token", "new-token"]


def test_static_token_refused_is_an_error_without_the_token() -> None:
    server = Server()
    with pytest.raises(AgentCallError) as err:
        client(server, {"token": "wrong-token-value"}).issue(SPEC)
    assert err.value.status == 401 and "wrong-token-value" not in str(err.value)
    assert len(server.requests) == 2  # one retry after dropping the token, then give up


def test_approle_login_relogin_on_expiry_and_on_401(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret-id\n")
    server, clock = Server(), FakeClock(NOW)
    auth = {"approle": {"role_id": "role-1", "secret_id_file": str(tmp_path / "secret")}}
    c = client(server, auth, clock)
    c.issue(SPEC)
    c.issue(SPEC)
    assert server.logins == 1  # token cached while fresh
    clock.advance(timedelta(seconds=560))  # past 90 % of the 600 s token life
    c.issue(SPEC)
    assert server.logins == 2
    server.valid.clear()  # the server forgot every token (revoked, restarted on a new db…)
    c.issue(SPEC)
    assert server.logins == 3
    tokens = [r.headers.get("X-Tessera-Token") for r in server.requests if "issue" in r.url.path]
    assert tokens == ["tok-1", "tok-1", "tok-2", "tok-2", "tok-3"]


def test_approle_refused_and_missing_secret_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("wrong")
    auth = {"approle": {"role_id": "role-1", "secret_id_file": str(tmp_path / "secret")}}
    with pytest.raises(AgentCallError) as err:
        client(Server(), auth).issue(SPEC)
    assert err.value.status == 401 and "wrong" not in str(err.value)
    auth = {"approle": {"role_id": "role-1", "secret_id_file": str(tmp_path / "absent")}}
    with pytest.raises(AgentCallError, match="cannot read secret_id_file"):
        client(Server(), auth).issue(SPEC)


def test_unreachable_and_problem_answers() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(AgentCallError) as err:
        client(down, {"token": "t"}).issue(SPEC)
    assert err.value.status is None and "ConnectError" in str(err.value)

    def denied(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"title": "Invalid request", "detail": "name not allowed"})

    with pytest.raises(AgentCallError, match="HTTP 400 name not allowed") as err:
        client(denied, {"token": "t"}).issue(SPEC)
    assert err.value.status == 400

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>proxy</html>")

    with pytest.raises(AgentCallError, match="not JSON"):
        client(garbage, {"token": "t"}).issue(SPEC)
