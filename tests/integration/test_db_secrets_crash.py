"""SIGKILL the server while it creates database users, once between the lease record and the
user's creation and once after the creation but before the lease became active; restart on the
same data: no database user without a lease survives, no lease points to a missing user.

The pauses come from the role's own creation statements (`pg_sleep` before, or after a
`COMMIT`), so the real server and the real PostgreSQL run unmodified."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, dev_root_token, postgres_admin_url, start_server
from tests.integration.test_secret_engines import PgBackend

DEADLINE = 30.0
CREATE = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'"


@pytest.fixture
def pg() -> Iterator[PgBackend]:
    b = PgBackend(postgres_admin_url())
    b.setup()
    try:
        yield b
    finally:
        with b.su() as su:
            for (user,) in _users(b):
                su.execute(f'DROP ROLE IF EXISTS "{user}"')
        b.teardown()


def _users(b: PgBackend) -> list[tuple[str]]:
    with b.su() as su:
        rows = su.execute(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)", (f"tdb_{b.tag}",)
        ).fetchall()
    return [(str(r[0]),) for r in rows]


def _leases(c: httpx.Client, prefix: str) -> list[dict[str, Any]]:
    r = c.get("/v1/leases", params={"prefix": prefix, "all_states": True})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_sigkill_during_user_creation_is_repaired(tmp_path, pg: PgBackend) -> None:
    data = tmp_path / "d"
    srv: ServerProcess = start_server(data, "--dev")
    token = dev_root_token(srv)
    conn = pg.conn
    before, after = f"{pg.tag}b", f"{pg.tag}a"
    try:
        with srv.client(token) as c:
            cfg = {"plugin": "postgresql", "host": conn.host, "port": conn.port,
                   "database": conn.database, "username": conn.username,
                   "password": conn.password}  # fmt: skip
            assert c.put(f"/v1/database/config/{pg.tag}", json=cfg).status_code == 200
            slow_first = ["SELECT pg_sleep(60)", CREATE]
            slow_after = [CREATE, "COMMIT", "SELECT pg_sleep(60)"]
            for name, statements in ((before, slow_first), (after, slow_after)):
                doc = {"connection": pg.tag, "creation_statements": statements}
                r = c.put(f"/v1/database/roles/{name}", json=doc)
                assert r.status_code == 200, r.text

        def ask(role: str) -> None:
            try:
                with httpx.Client(base_url=srv.addr, timeout=90) as h:
                    h.post(f"/v1/database/creds/{role}", json={},
                           headers={"X-Tessera-Token": token})  # fmt: skip
            except httpx.HTTPError:
                pass  # the server dies under this request

        threads = [threading.Thread(target=ask, args=(r,), daemon=True) for r in (before, after)]
        for t in threads:
            t.start()
        with srv.client(token) as c:
            _until(lambda: len(_leases(c, "database/creds/")) >= 2, "two pending leases")
            pending = _leases(c, "database/creds/")
        assert {x["state"] for x in pending} == {"pending"}
        _until(lambda: len(_users(pg)) == 1, "the second user to be created")
    finally:
        srv.stop(signal.SIGKILL)
    # the crash left: one pending lease without a user, one pending lease with a user
    assert len(_users(pg)) == 1

    srv = start_server(data, "--dev")
    try:
        with srv.client(token) as c:
            _until(lambda: not _users(pg), "the orphaned user to be dropped")
            _until(
                lambda: {x["state"] for x in _leases(c, "database/creds/")} == {"revoked"},
                "every interrupted lease to be revoked",
            )
            assert len(_leases(c, "database/creds/")) == 2
            live = c.get("/v1/leases", params={"prefix": "database/creds/"}).json()["items"]
            assert live == []
            # the engine still works after the repair
            r = c.put(f"/v1/database/roles/ok{pg.tag}",
                      json={"connection": pg.tag, "creation_statements": [CREATE]})  # fmt: skip
            assert r.status_code == 200, r.text
            made = c.post(f"/v1/database/creds/ok{pg.tag}", json={}).json()
            assert made["lease"]["state"] == "active"
            c.post("/v1/leases/revoke", json={"lease_id": made["lease"]["lease_id"]})
    finally:
        srv.stop()
