"""The foundation's end-to-end story over real HTTP on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json

from tessera.audit import verify_file
from tests.conftest import ServerProcess

PROBLEM = "application/problem+json"


def _init(srv: ServerProcess, shares: int = 5, threshold: int = 3) -> dict[str, object]:
    with srv.client() as c:
        r = c.post("/v1/sys/init", json={"secret_shares": shares, "secret_threshold": threshold})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_init_policy_token_deny_revoke_seal_unseal_audit(server: ServerProcess) -> None:
    with server.client() as anon:
        status = anon.get("/v1/sys/seal-status").json()
        assert status["initialized"] is False
        r = anon.get("/v1/identities")
        assert r.status_code == 503
        assert r.json()["type"] == "urn:tessera:problem:not-initialized"

        bad = anon.post("/v1/sys/init", json={"secret_shares": 2, "secret_threshold": 3})
        assert bad.status_code == 400
        assert bad.json()["type"] == "urn:tessera:problem:invalid-request"
        assert anon.get("/v1/sys/seal-status").json()["initialized"] is False

    init = _init(server)
    keys = init["keys"]
    assert isinstance(keys, list) and len(keys) == 5
    root = str(init["root_token"])
    assert root.startswith("tsr_")

    with server.client(root) as rc:
        # a second init is refused and changes nothing
        again = rc.post("/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1})
        assert again.status_code == 409
        assert again.json()["type"] == "urn:tessera:problem:already-initialized"

        policy = {
            "rules": [
                {"path": "identities/web-*", "capabilities": ["create", "read"]},
                {"path": "identities", "capabilities": ["list"]},
            ]
        }
        assert rc.put("/v1/sys/policies/web", json=policy).status_code == 200
        created = rc.post("/v1/auth/token/create", json={"policies": ["web"], "ttl": "1h"})
        assert created.status_code == 200, created.text
        web_token = created.json()["token"]
        web_accessor = created.json()["info"]["accessor"]
        assert set(created.json()["info"]["policies"]) == {"web", "default"}

    with server.client(web_token) as wc:
        ok = wc.post("/v1/identities", json={"name": "web-1", "owner": "team-web"})
        assert ok.status_code == 201, ok.text
        assert wc.get("/v1/identities/web-1").json()["owner"] == "team-web"
        denied = wc.post("/v1/identities", json={"name": "db-1", "owner": "team-db"})
        assert denied.status_code == 403
        assert denied.headers["content-type"].startswith(PROBLEM)
        assert denied.json()["type"] == "urn:tessera:problem:permission-denied"
        denied_request_id = denied.headers["x-request-id"]
        # self-management through the built-in default policy
        assert wc.get("/v1/auth/token/lookup-self").json()["accessor"] == web_accessor

    with server.client(root) as rc:
        assert rc.get("/v1/identities/db-1").status_code == 404  # the denied call wrote nothing
        revoked = rc.post("/v1/auth/token/revoke-accessor", json={"accessor": web_accessor})
        assert revoked.json() == {"revoked": 1}

    with server.client(web_token) as wc:
        r = wc.get("/v1/identities/web-1")
        assert r.status_code == 401
        assert r.json()["type"] == "urn:tessera:problem:unauthenticated"

    # the denial is in the audit trail, with the decision and who asked (token never in clear)
    lines = [json.loads(x) for x in server.audit_log.read_text().splitlines()]
    response = next(
        x for x in lines if x["request_id"] == denied_request_id and x["type"] == "response"
    )
    assert response["data"]["status"] == 403
    assert response["data"]["auth"]["accessor"] == web_accessor
    assert response["data"]["decisions"][0]["allowed"] is False
    raw = server.audit_log.read_text()
    assert web_token not in raw and root not in raw
    assert "hmac-sha256:" in raw

    # seal: everything but health, seal status and unseal answers 503 `sealed`
    with server.client(root) as rc:
        assert rc.post("/v1/sys/seal").json()["sealed"] is True
        r = rc.get("/v1/auth/token/lookup-self")
        assert r.status_code == 503
        assert r.json()["type"] == "urn:tessera:problem:sealed"
        assert rc.get("/v1/sys/health").status_code == 503
        assert rc.get("/v1/sys/seal-status").json()["sealed"] is True
        for method, path in (
            ("POST", "/v1/sys/init"),
            ("GET", "/v1/sys/policies"),
            ("GET", "/openapi.json"),
            ("POST", "/v1/sys/rotate"),
        ):
            r = rc.request(method, path, json={} if method == "POST" else None)
            assert (r.status_code, r.json()["type"]) == (503, "urn:tessera:problem:sealed"), path
        assert "tessera_sealed 1.0" in rc.get("/metrics").text

    with server.client() as anon:
        # wrong share (well-formed, right length) fails cleanly and resets progress
        first = anon.post("/v1/sys/unseal", json={"key": keys[0]}).json()
        assert first["progress"] == 1
        # repeated share
        rep = anon.post("/v1/sys/unseal", json={"key": keys[0]})
        assert rep.status_code == 400
        assert rep.json()["type"] == "urn:tessera:problem:unseal-failed"
        assert anon.get("/v1/sys/seal-status").json()["progress"] == 1
        forged = base64.b64encode(bytes([9]) + bytes(32)).decode()
        anon.post("/v1/sys/unseal", json={"key": keys[1]})
        bad = anon.post("/v1/sys/unseal", json={"key": forged})
        assert bad.status_code == 400
        assert bad.json()["type"] == "urn:tessera:problem:unseal-failed"
        after = anon.get("/v1/sys/seal-status").json()
        assert after["sealed"] is True and after["progress"] == 0
        garbage = anon.post("/v1/sys/unseal", json={"key": "not base64 at all!"})
        assert garbage.status_code == 400
        for key in keys[2:5]:
            last = anon.post("/v1/sys/unseal", json={"key": key}).json()
        assert last["sealed"] is False

    with server.client(root) as rc:
        assert rc.get("/v1/identities/web-1").json()["name"] == "web-1"
        assert rc.post("/v1/sys/rotate").json() == {"keyring_version": 2}
        assert rc.get("/v1/auth/token/lookup-self").status_code == 200

    result = verify_file(server.audit_log)
    assert result.ok, result.reason
    assert result.lines > 20


def test_one_byte_edit_in_audit_log_is_caught(dev_server: ServerProcess) -> None:
    with dev_server.client((dev_server.data_dir / "dev-root-token").read_text().strip()) as c:
        for i in range(5):
            assert c.post("/v1/identities", json={"name": f"n{i}", "owner": "o"}).status_code == 201
    path = dev_server.audit_log
    assert verify_file(path).ok
    lines = path.read_bytes().splitlines(keepends=True)
    target = 4  # 1-based line number to tamper with
    line = bytearray(lines[target - 1])
    pos = line.index(b'"status"') if b'"status"' in line else line.index(b'"method"')
    line[pos + 1] = ord("X")
    lines[target - 1] = bytes(line)
    tampered = path.with_name("tampered.log")
    tampered.write_bytes(b"".join(lines))
    result = verify_file(tampered)
    assert not result.ok
    assert result.first_bad_line == target


def test_policy_change_applies_to_existing_token(dev_server: ServerProcess) -> None:
    root = (dev_server.data_dir / "dev-root-token").read_text().strip()
    with dev_server.client(root) as rc:
        rc.put(
            "/v1/sys/policies/reader",
            json={"rules": [{"path": "identities/*", "capabilities": ["read"]}]},
        )
        rc.post("/v1/identities", json={"name": "a1", "owner": "o"})
        tok = rc.post("/v1/auth/token/create", json={"policies": ["reader"]}).json()["token"]
        with dev_server.client(tok) as tc:
            assert tc.get("/v1/identities/a1").status_code == 200
            rc.put(
                "/v1/sys/policies/reader",
                json={"rules": [{"path": "identities/*", "capabilities": ["deny"]}]},
            )
            assert tc.get("/v1/identities/a1").status_code == 403
