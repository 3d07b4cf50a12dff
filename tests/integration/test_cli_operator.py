"""End to end: `tessera operator init|seal|status|unseal|rotate` against a production-mode server.

Runs once per storage engine (the `server` fixture: SQLite and PostgreSQL), with the CLI as a
subprocess; helpers are shared with `test_cli.py`.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ServerProcess, start_server
from tests.integration.test_cli import Cli, failed, ok, parallel


def test_operator_init_seal_unseal_rotate(server: ServerProcess, tmp_path: Path) -> None:
    anonymous = Cli(server.addr, tmp_path)

    fresh = anonymous("operator", "status", "--output", "json")
    assert fresh.code == 2, str(fresh)
    assert (fresh.json()["initialized"], fresh.json()["sealed"]) == (False, True)

    init = anonymous.json("operator", "init", "--shares", "5", "--threshold", "3")
    keys, root_token = init["keys"], init["root_token"]
    assert len(keys) == 5 and len(set(keys)) == 5
    assert init["secret_threshold"] == 3
    assert root_token.startswith("tsr_")
    operator = anonymous.as_(root_token)

    failed(anonymous("operator", "init", "--shares", "5", "--threshold", "3"), "already")
    assert ok(operator("operator", "seal", "--output", "json")).json()["sealed"] is True
    # while sealed, init is refused like everything but health, status and unseal
    failed(anonymous("operator", "init", "--shares", "1", "--threshold", "1"), "sealed")

    status, garbage, first = parallel(
        anonymous.spawn("operator", "status"),
        anonymous.spawn("operator", "unseal", "not-a-share!"),
        anonymous.spawn("operator", "unseal", keys[0], "--output", "json"),
    )
    assert status.code == 2, str(status)  # sealed (progress may already count keys[0])
    rows = dict(line.split(None, 1) for line in status.out.strip().splitlines())
    assert (rows["initialized"].strip(), rows["sealed"].strip()) == ("True", "True")
    assert (rows["t"].strip(), rows["n"].strip()) == ("3", "5")
    failed(garbage, "base64")
    assert (ok(first).json()["sealed"], first.json()["progress"]) == (True, 1)
    failed(anonymous("operator", "unseal", keys[0]), "already submitted")
    second = anonymous.json("operator", "unseal", keys[3])  # any three of the five
    assert (second["sealed"], second["progress"]) == (True, 2)
    unsealed = anonymous.json("operator", "unseal", keys[1])
    assert (unsealed["sealed"], unsealed["progress"]) == (False, 0)
    assert unsealed["keyring_version"] == 1

    rotated, after = parallel(
        operator.spawn("operator", "rotate", "--output", "json"),
        anonymous.spawn("operator", "status", "--output", "json"),
    )
    assert ok(rotated).json() == {"keyring_version": 2}
    assert ok(after).json()["sealed"] is False  # and exit 0 now that it is unsealed


def test_unseal_refuses_base64_that_is_no_share_and_does_not_keep_it(tmp_path: Path) -> None:
    """Regression: "AAAA" used to be accepted as a first share and poison the unseal."""
    srv = start_server(tmp_path / "data")
    try:
        with srv.client() as http:
            init = http.post("/v1/sys/init", json={"secret_shares": 3, "secret_threshold": 2})
            keys, root_token = init.json()["keys"], init.json()["root_token"]
            http.post("/v1/sys/seal", headers={"X-Tessera-Token": root_token}).raise_for_status()
        cli = Cli(srv.addr, tmp_path)
        failed(cli("operator", "unseal", "AAAA"), one_line=True)  # 3 bytes, x = 0: no share
        # ...and it was not kept: a real share still counts as the first of the two
        assert cli.json("operator", "unseal", keys[0])["progress"] == 1
    finally:
        srv.stop()
