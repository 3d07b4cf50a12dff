"""Versioned KV over real HTTP: the whole flow, each kind of bad input with its problem type
(and nothing stored), denials that reveal nothing, and concurrent check-and-set writers on
SQLite and PostgreSQL of which exactly one wins."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, dev_root_token, start_server

SECRET = "s3cr3t-value-that-must-never-leak"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("kv") / "d", "--dev")
    yield server
    server.stop()


@pytest.fixture
def root(srv: ServerProcess) -> Iterator[httpx.Client]:
    with srv.client(dev_root_token(srv)) as c:
        yield c


def problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["type"] == f"urn:tessera:problem:{slug}", body
    return body


def raw_request(srv: ServerProcess, token: str, method: str, target: str) -> tuple[int, str]:
    """Send `target` byte for byte: httpx would resolve the dot segments before sending."""
    host, port = srv.addr.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body = '{"data": {"k": "v"}}' if method == "POST" else None
    headers = {"X-Tessera-Token": token, "Content-Type": "application/json"}
    try:
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_full_flow(srv: ServerProcess, root: httpx.Client) -> None:
    r = root.post("/v1/kv/data/flow/db", json={"data": {"password": SECRET}, "options": {"cas": 0}})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and r.json()["deleted_at"] is None
    r = root.put("/v1/kv/data/flow/db", json={"data": {"password": "p2", "n": [1, {"x": None}]}})
    assert r.json()["version"] == 2
    got = root.get("/v1/kv/data/flow/db").json()
    assert got["data"] == {"password": "p2", "n": [1, {"x": None}]}
    assert got["metadata"]["version"] == 2 and got["metadata"]["destroyed"] is False
    assert root.get("/v1/kv/data/flow/db", params={"version": 1}).json()["data"] == {
        "password": SECRET
    }
    meta = root.post(
        "/v1/kv/metadata/flow/db",
        json={"owner": "team-db", "custom_metadata": {"env": "prod"}, "rotation_period": "90d",
              "max_versions": 5},
    ).json()  # fmt: skip
    assert (meta["owner"], meta["rotation_period"], meta["max_versions"]) == (
        "team-db",
        90 * 86400,
        5,
    )
    assert meta["current_version"] == 2 and [v["version"] for v in meta["versions"]] == [1, 2]
    assert meta["last_rotated_at"] is not None and meta["rotation_due_at"] is not None
    assert meta["last_used_at"] is not None  # the reads above
    assert root.get("/v1/kv/list").json()["keys"][:1] == ["flow/"]
    assert root.get("/v1/kv/list/flow/").json() == {"keys": ["db"], "next_cursor": None}

    assert root.delete("/v1/kv/data/flow/db").status_code == 204
    body = problem(root.get("/v1/kv/data/flow/db"), 404, "secret-deleted")
    assert body["version"] == 2 and body["deleted_at"]
    assert root.post("/v1/kv/undelete/flow/db", json={"versions": [2]}).status_code == 204
    assert root.get("/v1/kv/data/flow/db").status_code == 200
    assert root.post("/v1/kv/delete/flow/db", json={"versions": [1]}).status_code == 204
    problem(root.get("/v1/kv/data/flow/db?version=1"), 404, "secret-deleted")
    assert root.post("/v1/kv/destroy/flow/db", json={"versions": [1]}).status_code == 204
    assert (
        problem(root.get("/v1/kv/data/flow/db?version=1"), 410, "secret-destroyed")["version"] == 1
    )
    problem(root.get("/v1/kv/data/flow/db?version=9"), 404, "not-found")

    cred_id = meta["credential_id"]
    assert root.get(f"/v1/inventory/credentials/{cred_id}").json()["status"] == "active"
    assert root.delete("/v1/kv/metadata/flow/db").status_code == 204
    problem(root.get("/v1/kv/data/flow/db"), 404, "not-found")
    problem(root.get("/v1/kv/metadata/flow/db"), 404, "not-found")
    cred = root.get(f"/v1/inventory/credentials/{cred_id}").json()
    assert (cred["kind"], cred["name"], cred["status"]) == ("static_secret", "flow/db", "revoked")
    # values never reach the audit trail or the server log
    assert SECRET not in srv.audit_log.read_text() and SECRET not in srv.log()


@pytest.mark.parametrize(
    "target",
    [
        "/v1/kv/data/trav/../escaped",
        "/v1/kv/data/./x",
        "/v1/kv/data/trav/%2e%2e/escaped",
        "/v1/kv/data/trav/%2E%2E",
        "/v1/kv/data/trav%2fescaped",
        "/v1/kv/data/trav/%25",
    ],
)
def test_path_traversal_is_refused_and_writes_nothing(
    srv: ServerProcess, root: httpx.Client, target: str
) -> None:
    token = dev_root_token(srv)
    for method in ("POST", "GET"):
        status, text = raw_request(srv, token, method, target)
        assert status == 400, text
        assert "urn:tessera:problem:invalid-path" in text and "Traceback" not in text
    keys = root.get("/v1/kv/list").json()["keys"]
    assert not {"escaped", "x", "trav/"} & set(keys)


def test_value_above_the_limit_is_413_and_stores_nothing(root: httpx.Client) -> None:
    big = "x" * (512 * 1024)
    r = root.post("/v1/kv/data/big/one", json={"data": {"k": big}})
    assert "must-not-echo" not in r.text
    body = problem(r, 413, "payload-too-large")
    assert big[:100] not in body["detail"]
    problem(root.get("/v1/kv/metadata/big/one"), 404, "not-found")
    assert root.get("/v1/kv/list/big").json()["keys"] == []
    many = {f"k{i}": 1 for i in range(1001)}
    problem(root.post("/v1/kv/data/big/keys", json={"data": many}), 400, "invalid-request")


def test_cas_mismatch_is_409_and_changes_nothing(root: httpx.Client) -> None:
    assert root.post("/v1/kv/data/cas/x", json={"data": {"v": 1}}).status_code == 200
    for cas in (0, 2):
        body = problem(
            root.post("/v1/kv/data/cas/x", json={"data": {"v": 2}, "options": {"cas": cas}}),
            409,
            "cas-mismatch",
        )
        assert "current version is 1" in body["detail"]
    root.post("/v1/kv/metadata/cas/x", json={"cas_required": True})
    problem(root.post("/v1/kv/data/cas/x", json={"data": {"v": 3}}), 400, "cas-required")
    assert root.get("/v1/kv/data/cas/x").json()["data"] == {"v": 1}


@pytest.mark.parametrize(
    ("method", "url", "body", "slug"),
    [
        ("POST", "/v1/kv/data/t/x", b'{"data": {"k": ', "malformed-json"),
        ("POST", "/v1/kv/data/t/x", b'{"data": "not-an-object"}', "invalid-request"),
        ("POST", "/v1/kv/data/t/x", b'{"data": ["a"]}', "invalid-request"),
        ("POST", "/v1/kv/data/t/x", b'{"k": "v"}', "invalid-request"),
        ("POST", "/v1/kv/data/t/x", b'{"data": {}, "options": {"cas": "one"}}', "invalid-request"),
        ("POST", "/v1/kv/data/t/x", b'{"data": {}, "options": {"cas": -1}}', "invalid-request"),
        ("POST", "/v1/kv/data/t/x", b'{"data": {"n": NaN}}', "invalid-request"),
        ("POST", "/v1/kv/destroy/t/x", b'{"versions": ["one", 1.5]}', "invalid-request"),
        ("POST", "/v1/kv/destroy/t/x", b'{"versions": []}', "invalid-request"),
        ("POST", "/v1/kv/metadata/t/x", b'{"max_versions": 5000}', "invalid-request"),
        ("POST", "/v1/kv/metadata/t/x", b'{"rotation_period": "soon"}', "invalid-request"),
        ("POST", "/v1/kv/metadata/t/x", b'{"custom_metadata": {"k": 1}}', "invalid-request"),
        ("GET", "/v1/kv/data/t/x?version=abc", None, "invalid-request"),
        ("GET", "/v1/kv/data/t/x?version=0", None, "invalid-request"),
        ("GET", "/v1/kv/list?limit=0", None, "invalid-request"),
        ("GET", "/v1/kv/list?cursor=%21%21", None, "invalid-request"),
    ],
)
def test_malformed_and_wrong_types(
    root: httpx.Client, method: str, url: str, body: bytes | None, slug: str
) -> None:
    headers = {"Content-Type": "application/json"}
    problem(root.request(method, url, content=body, headers=headers), 400, slug)
    problem(root.get("/v1/kv/metadata/t/x"), 404, "not-found")  # nothing was created


def test_denied_requests_reveal_nothing(srv: ServerProcess, root: httpx.Client) -> None:
    root.post("/v1/kv/data/hidden/there", json={"data": {"v": 1}})
    rules = [{"path": "kv/data/open/*", "capabilities": ["create", "read", "update"]}]
    assert root.put("/v1/sys/policies/kv-open", json={"rules": rules}).status_code == 200
    token = root.post("/v1/auth/token/create", json={"policies": ["kv-open"]}).json()["token"]
    with srv.client(token) as c:
        assert c.post("/v1/kv/data/open/a", json={"data": {"v": 1}}).status_code == 200
        bodies = []
        for path in ("hidden/there", "hidden/missing"):
            for r in (
                c.get(f"/v1/kv/data/{path}"),
                c.post(f"/v1/kv/data/{path}", json={"data": {"v": 2}}),
                c.get(f"/v1/kv/metadata/{path}"),
                c.delete(f"/v1/kv/metadata/{path}"),
                c.post(f"/v1/kv/destroy/{path}", json={"versions": [1]}),
            ):
                body = problem(r, 403, "permission-denied")
                bodies.append(body["detail"].replace(path, "P"))
        assert bodies[:5] == bodies[5:]
        problem(c.get("/v1/kv/list/hidden"), 403, "permission-denied")
    assert root.get("/v1/kv/data/hidden/there").json()["data"] == {"v": 1}


# -- concurrency ----------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgres"])
def engine_server(
    request: pytest.FixtureRequest, srv: ServerProcess, tmp_path: Path
) -> Iterator[tuple[ServerProcess, str]]:
    if request.param == "sqlite":
        yield srv, dev_root_token(srv)
        return
    url = str(request.getfixturevalue("postgres_url"))
    server = start_server(tmp_path / "pg", "--dev", "--database-url", url)
    try:
        yield server, dev_root_token(server)
    finally:
        server.stop()


def test_concurrent_cas_writers_exactly_one_wins(
    engine_server: tuple[ServerProcess, str],
) -> None:
    server, token = engine_server
    writers, rounds = 8, 4
    for rnd in range(rounds):
        path = f"race/r{rnd}"
        # round 0 races on creation (cas 0); later rounds on an existing version 1
        cas = 0
        if rnd:
            with server.client(token) as c:
                assert c.post(f"/v1/kv/data/{path}", json={"data": {"w": -1}}).status_code == 200
            cas = 1
        start = threading.Barrier(writers)
        results: list[int] = []

        def write(
            n: int, path: str = path, cas: int = cas, start: Any = start, out: Any = results
        ) -> None:
            with server.client(token) as c:
                c.get("/v1/sys/health")  # connect before the race starts
                start.wait(timeout=30)
                r = c.post(f"/v1/kv/data/{path}", json={"data": {"w": n}, "options": {"cas": cas}})
            out.append(r.status_code)  # list.append is atomic

        threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(results) == [200] + [409] * (writers - 1), results
        with server.client(token) as c:
            meta = c.get(f"/v1/kv/metadata/{path}").json()
        assert meta["current_version"] == cas + 1
        assert [v["version"] for v in meta["versions"]] == list(range(1, cas + 2))
