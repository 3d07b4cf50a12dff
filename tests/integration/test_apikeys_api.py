"""End to end over real HTTP (a dev server on loopback): the API key lifecycle as an operator and
a verifying service see it, one uniform 401 for every unusable key, bad input, decommission,
the audit log never holding a key, and the `tessera apikey` commands as subprocesses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.apikeys import format as key_format
from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.integration.test_cli import Cli, failed, ok, parallel

INVALID = "urn:tessera:problem:invalid-api-key"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("apikeys"), "--dev")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def root(dev: ServerProcess) -> Iterator[httpx.Client]:
    with dev.client(dev_root_token(dev)) as http:
        yield http


def identity(root: httpx.Client, name: str) -> None:
    root.post("/v1/identities", json={"name": name, "owner": "team-" + name}).raise_for_status()


def token_with(root: httpx.Client, policy: str, rules: list[dict[str, Any]]) -> str:
    root.put(f"/v1/sys/policies/{policy}", json={"rules": rules}).raise_for_status()
    made = root.post("/v1/auth/token/create", json={"policies": [policy]})
    made.raise_for_status()
    return str(made.json()["token"])


def create(root: httpx.Client, **body: Any) -> dict[str, Any]:
    resp = root.post("/v1/apikeys", json=body)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


@pytest.fixture(scope="module")
def verifier(dev: ServerProcess, root: httpx.Client) -> Iterator[httpx.Client]:
    token = token_with(
        root, "key-verifier", [{"path": "apikeys/verify", "capabilities": ["update"]}]
    )
    with dev.client(token) as http:
        yield http


def verify(http: httpx.Client, key: str) -> httpx.Response:
    return http.post("/v1/apikeys/verify", json={"key": key})


def assert_invalid(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 401, resp.text
    body: dict[str, Any] = resp.json()
    assert body["type"] == INVALID
    assert resp.headers["content-type"].startswith("application/problem+json")
    return body


def test_lifecycle_over_http(
    dev: ServerProcess, root: httpx.Client, verifier: httpx.Client
) -> None:
    identity(root, "checkout")
    created = create(root, identity="checkout", scopes=["orders:read", "orders:write"],
                     ttl="90d", name="checkout prod")  # fmt: skip
    key, info = created["key"], created["info"]
    assert key_format.well_formed(key) and info["status"] == "active"
    assert info["scopes"] == ["orders:read", "orders:write"] and info["identity"] == "checkout"

    answer = verify(verifier, key)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert (got["key_id"], got["identity"], got["scopes"]) == (
        info["id"], "checkout", ["orders:read", "orders:write"],
    )  # fmt: skip
    assert got["expires_at"] == info["expires_at"]
    for _ in range(20):  # cached path
        assert verify(verifier, key).status_code == 200

    shown = root.get(f"/v1/apikeys/{info['id']}")
    assert shown.status_code == 200 and shown.json()["name"] == "checkout prod"
    listed = root.get("/v1/apikeys", params={"identity": "checkout"}).json()
    assert [k["id"] for k in listed["items"]] == [info["id"]] and listed["next_cursor"] is None
    cred = root.get(f"/v1/inventory/credentials/{info['credential_id']}").json()
    assert (cred["kind"], cred["owner"], cred["status"]) == ("api_key", "team-checkout", "active")
    assert cred["not_after"] == info["expires_at"] and key not in json.dumps(cred)

    rotated = root.post(f"/v1/apikeys/{info['id']}/rotate", json={"overlap": "1h"})
    assert rotated.status_code == 200, rotated.text
    new_key, new, previous = (rotated.json()[k] for k in ("key", "info", "previous"))
    assert previous["status"] == "superseded" and previous["replaced_by"] == new["id"]
    assert new["replaces"] == info["id"] and new["scopes"] == info["scopes"]
    assert verify(verifier, key).status_code == 200  # in the overlap: both work
    assert verify(verifier, new_key).json()["key_id"] == new["id"]
    again = root.post(f"/v1/apikeys/{info['id']}/rotate", json={})
    assert again.status_code == 409 and new["id"] in again.json()["detail"]

    # a rotation without overlap stops the predecessor at once
    third = root.post(f"/v1/apikeys/{new['id']}/rotate", json={"overlap": 0}).json()
    assert_invalid(verify(verifier, new_key))
    assert verify(verifier, third["key"]).status_code == 200

    revoked = root.post(f"/v1/apikeys/{third['info']['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert_invalid(verify(verifier, third["key"]))  # at once on this node
    creds = root.get(f"/v1/inventory/credentials/{third['info']['credential_id']}").json()
    assert creds["status"] == "revoked"

    # nothing of a key reaches the audit log
    audit = dev.audit_log.read_text()
    for k in (key, new_key, third["key"]):
        assert k not in audit and k[15:-6] not in audit


def test_every_unusable_key_gets_the_same_answer(
    root: httpx.Client, verifier: httpx.Client
) -> None:
    identity(root, "uniform")
    good = create(root, identity="uniform")
    revoked = create(root, identity="uniform")
    root.post(f"/v1/apikeys/{revoked['info']['id']}/revoke").raise_for_status()
    key = good["key"]
    head = key[:15] + "0" * 33
    wrong = head + key_format._checksum(head)
    typo = key[:-1] + ("A" if key[-1] != "A" else "B")
    unknown = key_format.generate(_Rng()).key
    bodies = [
        assert_invalid(verify(verifier, candidate))
        for candidate in (wrong, typo, unknown, revoked["key"], "tsk_short", "", "x" * 200_000,
                          key.lower(), " " + key, key + "\n")
    ]  # fmt: skip
    assert all(b == bodies[0] for b in bodies), bodies
    assert bodies[0]["detail"] == "the API key is invalid, expired or revoked"
    # the caller's own token failing is a different problem type
    bad_caller = httpx.post(
        f"{root.base_url}/v1/apikeys/verify", json={"key": key},
        headers={"X-Tessera-Token": "tsr_nope"},
    )  # fmt: skip
    assert bad_caller.status_code == 401 and bad_caller.json()["type"] != INVALID
    # a token without apikeys/verify may not verify
    no_verify = httpx.post(
        f"{root.base_url}/v1/apikeys/verify", json={"key": key},
        headers={"X-Tessera-Token": token_with(root, "nothing", [])},
    )  # fmt: skip
    assert no_verify.status_code == 403


class _Rng:
    def token_bytes(self, n: int) -> bytes:
        return bytes([7] * n)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"identity": "bad-input", "scopes": ["Orders:Read"]}, "scope"),
        ({"identity": "bad-input", "scopes": "orders:read"}, "scopes"),
        ({"identity": "bad-input", "ttl": "400d"}, "ttl must be between 1m and 366d"),
        ({"identity": "bad-input", "ttl": "30s"}, "ttl must be between"),
        ({"identity": "bad-input", "ttl": "soon"}, "ttl"),
        ({"identity": "bad-input", "unexpected": 1}, "unexpected"),
        ({"identity": "bad/input"}, "identity"),
        ({"scopes": []}, "identity"),
    ],
)
def test_bad_create_input(root: httpx.Client, body: dict[str, Any], needle: str) -> None:
    if root.get("/v1/identities/bad-input").status_code == 404:
        identity(root, "bad-input")
    resp = root.post("/v1/apikeys", json=body)
    assert resp.status_code == 400, resp.text
    assert needle in resp.text


def test_bad_ids_rotation_input_and_decommission(
    root: httpx.Client, verifier: httpx.Client
) -> None:
    identity(root, "retiring")
    created = create(root, identity="retiring", scopes=["jobs:run"])
    key_id = created["info"]["id"]
    for path in ("/v1/apikeys/short", "/v1/apikeys/AAAAAAAAAAA", "/v1/apikeys/x%20y"):
        assert root.get(path).status_code in (400, 404)
    assert root.post("/v1/apikeys/AAAAAAAAAAA/revoke").status_code == 404
    too_long = root.post(f"/v1/apikeys/{key_id}/rotate", json={"overlap": "31d"})
    assert too_long.status_code == 400 and "overlap" in too_long.text
    assert root.post("/v1/apikeys", json={"identity": "ghost"}).status_code == 404

    assert verify(verifier, created["key"]).status_code == 200
    gone = root.post("/v1/identities/retiring/decommission")
    assert gone.status_code == 200, gone.text
    assert_invalid(verify(verifier, created["key"]))
    assert root.get(f"/v1/apikeys/{key_id}").json()["status"] == "revoked"
    refused = root.post("/v1/apikeys", json={"identity": "retiring"})
    assert refused.status_code == 409 and "decommissioned" in refused.text


def test_cli_commands(dev: ServerProcess, root: httpx.Client, tmp_path: Path) -> None:
    identity(root, "cli-svc")
    cli = Cli(dev.addr, tmp_path, dev_root_token(dev))
    made, table, bad_scope, bad_id = parallel(
        cli.spawn("apikey", "create", "--identity", "cli-svc", "--scopes", "a:read, b:write",
                  "--ttl", "30d", "--name", "from cli", "-o", "json"),
        cli.spawn("apikey", "create", "--identity", "cli-svc"),
        cli.spawn("apikey", "create", "--identity", "cli-svc", "--scopes", "A B"),
        cli.spawn("apikey", "show", "not/an/id"),
    )  # fmt: skip
    created = json.loads(ok(made).out)
    key, key_id = created["key"], created["info"]["id"]
    assert created["info"]["scopes"] == ["a:read", "b:write"]
    assert "tsk_" in ok(table).out and "shown only once" in table.out
    failed(bad_scope, "scope")
    failed(bad_id, "not an API key id")

    listed, shown, checked = parallel(
        cli.spawn("apikey", "list", "--identity", "cli-svc", "-o", "json"),
        cli.spawn("apikey", "show", key_id),
        cli.spawn("apikey", "verify", key, "-o", "json"),
    )
    assert key_id in {k["id"] for k in json.loads(ok(listed).out)["items"]}
    assert "from cli" in ok(shown).out and key not in shown.out
    assert json.loads(ok(checked).out)["scopes"] == ["a:read", "b:write"]

    rotated = ok(cli.spawn("apikey", "rotate", key_id, "--overlap", "2h", "-o", "json").result())
    new = json.loads(rotated.out)
    assert new["previous"]["id"] == key_id and new["key"] != key
    revoked, verify_old_after = parallel(
        cli.spawn("apikey", "revoke", key_id, "-o", "json"),
        cli.spawn("apikey", "verify", new["key"], "-o", "json"),
    )
    assert json.loads(ok(revoked).out)["status"] == "revoked"
    ok(verify_old_after)
    failed(cli.spawn("apikey", "verify", key).result(), "invalid, expired or revoked")
