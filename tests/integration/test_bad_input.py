"""Bad input over real HTTP: each case gets a typed problem+json error and changes nothing."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerProcess, dev_root_token

P = "urn:tessera:problem:"


@pytest.fixture
def root(dev_server: ServerProcess) -> Iterator[httpx.Client]:
    with dev_server.client(dev_root_token(dev_server)) as c:
        yield c


def _problem(r: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = r.json()
    assert body["type"] == P + slug
    assert "Traceback" not in r.text
    return body


def _identity_names(c: httpx.Client) -> list[str]:
    return [i["name"] for i in c.get("/v1/identities", params={"limit": 1000}).json()["items"]]


def _token_count(c: httpx.Client) -> int:
    r = c.get("/v1/inventory/credentials", params={"kind": "tessera_token", "limit": 1000})
    return len(r.json()["items"])


def test_malformed_json_unknown_fields_and_missing_owner(root: httpx.Client) -> None:
    before = _identity_names(root)
    _problem(
        root.post(
            "/v1/identities", content=b'{"name": "a",', headers={"content-type": "application/json"}
        ),
        400,
        "malformed-json",
    )
    body = _problem(
        root.post("/v1/identities", json={"name": "a", "owner": "o", "own": 1}),
        400,
        "invalid-request",
    )
    assert "own" in str(body["detail"])
    _problem(root.post("/v1/identities", json={"name": "a"}), 400, "invalid-request")
    _problem(
        root.post("/v1/identities", json={"name": "a", "owner": "   "}), 400, "invalid-request"
    )
    _problem(
        root.post("/v1/identities", json={"name": "a/b", "owner": "o"}), 400, "invalid-request"
    )
    _problem(
        root.post("/v1/identities", content=b"x", headers={"content-type": "text/plain"}),
        415,
        "unsupported-media-type",
    )
    assert _identity_names(root) == before


def test_oversize_body_refused_before_parsing(root: httpx.Client) -> None:
    big = b'{"name": "a", "owner": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    _problem(
        root.post("/v1/identities", content=big, headers={"content-type": "application/json"}),
        413,
        "payload-too-large",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"name": "b", "owner": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    _problem(
        root.post("/v1/identities", content=chunks(), headers={"content-type": "application/json"}),
        413,
        "payload-too-large",
    )
    assert "a" not in _identity_names(root) and "b" not in _identity_names(root)


def test_bad_tokens(dev_server: ServerProcess, root: httpx.Client) -> None:
    good = root.post("/v1/auth/token/create", json={"ttl": "1h"}).json()["token"]
    short = root.post("/v1/auth/token/create", json={"ttl": 1}).json()["token"]
    revoked = root.post("/v1/auth/token/create", json={"ttl": "1h"}).json()["token"]
    root.post("/v1/auth/token/revoke", json={"token": revoked})
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")  # checksum no longer matches
    time.sleep(1.1)  # let `short` expire (1 s TTL)
    cases = {
        "garbage": "hello",
        "tampered checksum": tampered,
        "expired": short,
        "revoked": revoked,
        "unknown but well-formed": "tsr_" + "0" * 49,
    }
    with httpx.Client(base_url=dev_server.addr) as c:
        for name, tok in cases.items():
            r = c.get("/v1/auth/token/lookup-self", headers={"X-Tessera-Token": tok})
            body = _problem(r, 401, "unauthenticated")
            assert tok not in str(body), name
        r = c.get("/v1/auth/token/lookup-self", headers={"Authorization": "Bearer  " + good})
        _problem(r, 401, "unauthenticated")
        _problem(c.get("/v1/auth/token/lookup-self"), 401, "unauthenticated")
        ok = c.get("/v1/auth/token/lookup-self", headers={"Authorization": "Bearer " + good})
        assert ok.status_code == 200
    # a padded token in a body is malformed, not silently trimmed
    _problem(
        root.post("/v1/auth/token/lookup", json={"token": f" {good} "}), 400, "invalid-request"
    )
    raw_log = dev_server.audit_log.read_text()
    for tok in (good, short, revoked, tampered):
        assert tok not in raw_log


def test_policy_paths_and_root_grant(dev_server: ServerProcess, root: httpx.Client) -> None:
    for path in ("secret/../sys", "secret//x", "a/%2e%2e/b", "/abs", "a/*/b"):
        r = root.put(
            "/v1/sys/policies/p1", json={"rules": [{"path": path, "capabilities": ["read"]}]}
        )
        assert r.status_code == 400, (path, r.text)
        assert r.json()["type"] in (P + "invalid-path", P + "invalid-request")
    _problem(
        root.put("/v1/sys/policies/p1", json={"rules": [{"path": "a", "capabilities": ["fly"]}]}),
        400,
        "invalid-request",
    )
    _problem(root.put("/v1/sys/policies/root", json={"rules": []}), 400, "invalid-request")
    assert "p1" not in root.get("/v1/sys/policies").json()["names"]

    root.put(
        "/v1/sys/policies/tokens",
        json={"rules": [{"path": "auth/token/create", "capabilities": ["create"]}]},
    )
    child = root.post("/v1/auth/token/create", json={"policies": ["tokens"]}).json()["token"]
    before = _token_count(root)
    with dev_server.client(child) as cc:
        _problem(
            cc.post("/v1/auth/token/create", json={"policies": ["root"]}), 403, "permission-denied"
        )
        _problem(
            cc.post("/v1/auth/token/create", json={"policies": ["tokens", "admin"]}),
            403,
            "permission-denied",
        )
        ok = cc.post("/v1/auth/token/create", json={"policies": ["tokens"]})
        assert ok.status_code == 200
        assert "root" not in ok.json()["info"]["policies"]
    assert _token_count(root) == before + 1


def test_encoded_separators_and_dot_segments_in_urls(
    dev_server: ServerProcess, root: httpx.Client
) -> None:
    for raw in (
        "/v1/identities/a%2Fb",
        "/v1/identities/%2e%2e",
        "/v1/identities/a%5cb",
        "/v1/identities//x",
    ):
        r = httpx.get(dev_server.addr + raw, headers=dict(root.headers))
        _problem(r, 400, "invalid-path")


def test_duplicate_and_sql_looking_names(root: httpx.Client) -> None:
    sql_name = "x';DROP_TABLE_identities;--"
    sql_owner = "team'); DROP TABLE identities; --"
    r = root.post(
        "/v1/identities",
        json={"name": sql_name, "owner": sql_owner, "labels": {"note": "1 OR 1=1"}},
    )
    assert r.status_code == 201, r.text
    _problem(
        root.post("/v1/identities", json={"name": sql_name, "owner": "other"}), 409, "conflict"
    )
    got = root.get(f"/v1/identities/{sql_name}").json()
    assert (got["name"], got["owner"], got["labels"]) == (sql_name, sql_owner, {"note": "1 OR 1=1"})
    listed = root.get("/v1/identities", params={"owner": sql_owner}).json()["items"]
    assert [i["name"] for i in listed] == [sql_name]


def test_bad_query_parameters(root: httpx.Client) -> None:
    _problem(root.get("/v1/identities", params={"limit": 0}), 400, "invalid-request")
    _problem(root.get("/v1/identities", params={"limit": "many"}), 400, "invalid-request")
    _problem(root.get("/v1/identities", params={"cursor": "!!!"}), 400, "invalid-request")
    _problem(root.get("/v1/identities", params={"kind": "spaceship"}), 400, "invalid-request")
    _problem(
        root.get("/v1/inventory/credentials", params={"expiring_within": "soon"}),
        400,
        "invalid-request",
    )
    _problem(root.get("/v1/nope"), 404, "not-found")


def test_audit_fail_closed(dev_server: ServerProcess, root: httpx.Client) -> None:
    log = dev_server.audit_log
    saved = log.with_name("audit.saved")
    shutil.move(log, saved)
    log.mkdir()  # no sink can write any more
    try:
        r = root.post("/v1/identities", json={"name": "while-blind", "owner": "o"})
        _problem(r, 503, "audit-unavailable")
        _problem(root.post("/v1/auth/token/create", json={}), 503, "audit-unavailable")
        assert root.get("/v1/sys/health").json()["audit"] is False
    finally:
        log.rmdir()
        shutil.move(saved, log)
    assert "while-blind" not in _identity_names(root)


def test_cross_origin_and_control_characters(dev_server: ServerProcess, root: httpx.Client) -> None:
    before = _identity_names(root)
    evil = {"Origin": "https://evil.example", "content-type": "application/x-www-form-urlencoded"}
    _problem(
        root.post("/v1/identities", content=b'{"name":"csrf","owner":"o"}', headers=evil),
        403,
        "cross-origin",
    )
    _problem(root.post("/v1/sys/init", content=b"{}", headers=evil), 403, "cross-origin")
    same = root.get("/v1/identities", headers={"Origin": dev_server.addr})
    assert same.status_code == 200
    _problem(root.get("/v1/identities", params={"owner": "a\x00b"}), 400, "invalid-request")
    _problem(root.post("/v1/auth/token/create", json={"ttl": "\u00b2"}), 400, "invalid-request")
    for body in (
        {"name": "s1", "owner": "o", "spiffe_id": "spiffe://x\x00/a"},
        {"name": "s2", "owner": "o", "spiffe_id": "spiffe://example.org/../a"},
        {"name": "s3", "owner": "team\u202egnp.exe"},
        {"name": "s4", "owner": "o", "labels": {"k": "v\x1b[31m"}},
    ):
        _problem(root.post("/v1/identities", json=body), 400, "invalid-request")
    deep = b'{"name": "x", "owner": "o", "labels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = root.post("/v1/identities", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "Traceback" not in r.text
    assert r.json()["type"] in (P + "malformed-json", P + "invalid-request")
    assert _identity_names(root) == before


def test_list_shows_only_what_the_caller_may_read(
    dev_server: ServerProcess, root: httpx.Client
) -> None:
    for name in ("web-1", "web-2", "db-1"):
        assert root.post("/v1/identities", json={"name": name, "owner": "o"}).status_code == 201
    root.put(
        "/v1/sys/policies/lister",
        json={
            "rules": [
                {"path": "identities", "capabilities": ["list"]},
                {"path": "identities/web-*", "capabilities": ["read"]},
                {"path": "identities/db-*", "capabilities": ["deny"]},
            ]
        },
    )
    tok = root.post("/v1/auth/token/create", json={"policies": ["lister"]}).json()["token"]
    with dev_server.client(tok) as c:
        names = [i["name"] for i in c.get("/v1/identities").json()["items"]]
        assert names == ["web-1", "web-2"]
        _problem(c.get("/v1/identities/db-1"), 403, "permission-denied")


def test_renew_arguments_are_checked_by_the_schema(root: httpx.Client) -> None:
    tok = root.post("/v1/auth/token/create", json={"ttl": "1h", "policies": ["default"]})
    info = tok.json()["info"]
    for body in ({}, {"token": tok.json()["token"], "accessor": info["accessor"]}):
        detail = _problem(root.post("/v1/auth/token/renew", json=body), 400, "invalid-request")
        assert "exactly one" in str(detail["detail"])
    _problem(
        root.post("/v1/auth/token/renew-self", json={"accessor": info["accessor"]}),
        400,
        "invalid-request",
    )
    ok = root.post("/v1/auth/token/renew", json={"accessor": info["accessor"], "increment": 60})
    assert ok.status_code == 200 and ok.json()["accessor"] == info["accessor"]
