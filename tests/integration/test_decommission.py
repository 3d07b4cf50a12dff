"""Decommissioning over real HTTP: `--dry-run` lists exactly what would go and changes nothing;
the real run revokes the identity's token, API key and certificate in one operation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import ServerProcess, dev_root_token, start_server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("decom") / "d", "--dev")
    yield server
    server.stop()


def test_dry_run_then_decommission(srv: ServerProcess) -> None:
    root = dev_root_token(srv)
    with srv.client(root) as c:
        assert (
            c.post("/v1/identities", json={"name": "batch-7", "owner": "team-data"}).status_code
            == 201
        )
        tok = c.post("/v1/auth/token/create",
                     json={"policies": ["default"], "identity": "batch-7"}).json()  # fmt: skip
        key = c.post("/v1/apikeys", json={"identity": "batch-7", "scopes": ["jobs:run"]}).json()
        assert c.post("/v1/pki/cas", json={"name": "r", "kind": "root",
                                           "common_name": "R"}).status_code == 201  # fmt: skip
        prof = {"issuer": "r", "allowed_domains": ["*.batch.test"]}
        assert c.put("/v1/pki/profiles/b", json=prof).status_code == 200
        asked = {"common_name": "j.batch.test", "identity": "batch-7"}
        cert = c.post("/v1/pki/issue/b", json=asked).json()
        assert "certificate" in cert, cert

        env = {**os.environ, "TESSERA_ADDR": srv.addr, "TESSERA_TOKEN": root}
        out = subprocess.run(
            [sys.executable, "-m", "tessera", "identity", "decommission", "batch-7", "--dry-run",
             "-o", "json"], env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        kinds = sorted(i["kind"] for i in json.loads(out.stdout)["items"])
        assert kinds == ["api_key", "tessera_token", "x509_certificate"]
        # nothing changed: the identity is active and its token and key still work
        assert c.get("/v1/identities/batch-7").json()["status"] == "active"
        who = c.get("/v1/auth/token/lookup-self", headers={"X-Tessera-Token": tok["token"]})
        assert who.status_code == 200
        ok = c.post("/v1/apikeys/verify", json={"key": key["key"]})
        assert ok.status_code == 200, ok.text

        done = c.post("/v1/identities/batch-7/decommission").json()
        assert done["revoked_credentials"] >= 3
        who = c.get("/v1/auth/token/lookup-self", headers={"X-Tessera-Token": tok["token"]})
        assert who.status_code == 401
        assert c.post("/v1/apikeys/verify", json={"key": key["key"]}).status_code == 401
        plan = c.post("/v1/identities/batch-7/decommission-plan").json()
        assert plan["items"] == []
        assert c.post("/v1/identities/nobody/decommission-plan").status_code == 404
