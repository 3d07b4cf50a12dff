"""Server start modes (dev, production auto-unseal) and the operational endpoints."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ServerProcess, dev_root_token, start_server


def test_dev_mode_key_file_is_private_and_restart_auto_unseals(dev_server: ServerProcess) -> None:
    key_file = dev_server.data_dir / "dev-unseal.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "NOT FOR PRODUCTION" in dev_server.log()
    root = dev_root_token(dev_server)
    assert root in dev_server.log()  # make run prints the root token
    with dev_server.client(root) as c:
        assert c.post("/v1/identities", json={"name": "svc", "owner": "o"}).status_code == 201
    dev_server.stop()
    again = start_server(dev_server.data_dir, "--dev")
    try:
        with again.client(root) as c:
            assert c.get("/v1/sys/seal-status").json()["sealed"] is False
            assert c.get("/v1/identities/svc").json()["owner"] == "o"
    finally:
        again.stop()


def test_production_auto_unseal_from_key_file_and_env(tmp_path: Path) -> None:
    data = tmp_path / "prod"
    srv = start_server(data)
    with srv.client() as c:
        init = c.post("/v1/sys/init", json={"secret_shares": 3, "secret_threshold": 2}).json()
    srv.stop()
    keys = init["keys"]

    sealed = start_server(data)
    try:
        assert httpx.get(sealed.addr + "/v1/sys/seal-status").json()["sealed"] is True
    finally:
        sealed.stop()

    key_file = tmp_path / "unseal.keys"
    key_file.write_text("\n".join(keys[:2]) + "\n")
    from_file = start_server(data, "--unseal-key-file", str(key_file))
    try:
        with from_file.client(init["root_token"]) as c:
            assert c.get("/v1/auth/token/lookup-self").status_code == 200
    finally:
        from_file.stop()

    from_env = start_server(data, env={"TESSERA_UNSEAL_KEYS": f"{keys[0]},{keys[2]}"})
    try:
        assert httpx.get(from_env.addr + "/v1/sys/seal-status").json()["sealed"] is False
    finally:
        from_env.stop()

    key_file.write_text(keys[0] + "\n")  # below the threshold: refuse to start, say why
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tessera",
            "server",
            "--data-dir",
            str(data),
            "--listen",
            "127.0.0.1:1",
            "--unseal-key-file",
            str(key_file),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "did not unseal" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    assert keys[0] not in done.stderr + done.stdout


def test_metrics_openapi_and_health(dev_server: ServerProcess) -> None:
    root = dev_root_token(dev_server)
    with dev_server.client(root) as c:
        c.get("/v1/auth/token/lookup-self")
        metrics = c.get("/metrics")
        assert metrics.status_code == 200
        assert (
            'tessera_http_requests_total{method="GET",route="/v1/auth/token/lookup-self"'
            in metrics.text
        )
        assert "tessera_sealed 0.0" in metrics.text
        spec = c.get("/openapi.json").json()
        assert "/v1/identities" in spec["paths"]
        owner = spec["components"]["schemas"]["IdentityIn"]["properties"]["owner"]
        assert "owner" in owner["description"].lower() or "team" in owner["description"]
        health = c.get("/v1/sys/health")
        assert health.status_code == 200
        assert health.json()["database"] is True and health.json()["audit"] is True


def test_startup_mistakes_are_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for args in (
        ["--data-dir", str(blocker / "sub")],
        ["--data-dir", str(tmp_path / "d"), "--database-url", "mysql://x/y"],
        [
            "--data-dir",
            str(tmp_path / "d"),
            "--database-url",
            "postgresql://nobody:s3cret@127.0.0.1:1/none",
        ],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "tessera", "server", "--listen", "127.0.0.1:1", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        out = done.stdout + done.stderr
        assert done.returncode != 0, args
        assert "Error:" in out and "Traceback" not in out, out
        assert "s3cret" not in out
