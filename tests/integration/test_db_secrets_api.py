"""Database secrets over real HTTP against the real PostgreSQL and MariaDB: issued logins work
and can do what the role grants and nothing more; after revoke and after expiry they are gone;
static and root passwords rotate; bad input is refused and leaves nothing behind."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, dev_root_token, free_port, start_server
from tests.integration.test_secret_engines import (  # noqa: F401 (fixtures)
    Backend,
    MySQLBackend,
    PgBackend,
    mysql_backend,
    postgresql_backend,
)

DEADLINE = 30.0


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("dbsecrets") / "d", "--dev")
    yield server
    server.stop()


@pytest.fixture(params=["postgresql", "mysql"])
def real(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")  # type: ignore[no-any-return]


def _config(b: Backend, password: str | None = None) -> dict[str, Any]:
    c = b.conn
    return {"plugin": b.plugin, "host": c.host, "port": c.port, "database": c.database,
            "username": c.username, "password": password or c.password}  # fmt: skip


def _setup(c: httpx.Client, b: Backend) -> str:
    """Connection and role both named after the backend's tag; returns that name."""
    r = c.put(f"/v1/database/config/{b.tag}", json=_config(b))
    assert r.status_code == 200, r.text
    assert "password" not in r.json()
    grants = [{"privileges": ["SELECT"], "on": b.granted}]
    role = {"connection": b.tag, "grants": grants, "default_ttl": "1h", "max_ttl": "2h"}
    r = c.put(f"/v1/database/roles/{b.tag}", json=role)
    assert r.status_code == 200, r.text
    return b.tag


def _wait_state(c: httpx.Client, lease_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        lease: dict[str, Any] = c.post("/v1/leases/lookup", json={"lease_id": lease_id}).json()
        if lease.get("state") == state or time.monotonic() > deadline:
            return lease
        time.sleep(0.2)


def test_dynamic_credentials_grant_revoke_and_expiry(srv: ServerProcess, real: Backend) -> None:
    with srv.client(dev_root_token(srv)) as c:
        role = _setup(c, real)
        r = c.post(f"/v1/database/creds/{role}", json={})
        assert r.status_code == 200, r.text
        made = r.json()
        user, password = made["username"], made["password"]
        assert user.startswith(f"tdb_{real.tag}_") and made["lease"]["state"] == "active"
        assert real.login_ok(user, password)
        assert real.can_run(user, password, f"SELECT * FROM {real.granted}")
        assert not real.can_run(user, password, f"INSERT INTO {real.granted} VALUES (1)")
        assert not real.can_run(user, password, f"SELECT * FROM {real.other}")
        # the lease is an inventory credential of the dynamic_lease kind
        inv = c.get("/v1/inventory/credentials", params={"kind": "dynamic_lease", "limit": 1000})
        assert any(i["name"].endswith(user) for i in inv.json()["items"])

        r = c.post("/v1/leases/revoke", json={"lease_id": made["lease"]["lease_id"]})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "revoked"
        assert not real.login_ok(user, password)

        short = c.post(f"/v1/database/creds/{role}", json={"ttl": "2s"}).json()
        assert real.login_ok(short["username"], short["password"])
        lease = _wait_state(c, short["lease"]["lease_id"], "revoked")
        assert lease["state"] == "revoked", lease
        assert not real.login_ok(short["username"], short["password"])


def test_renew_and_revoke_prefix(srv: ServerProcess, real: Backend) -> None:
    with srv.client(dev_root_token(srv)) as c:
        role = _setup(c, real)
        made = [c.post(f"/v1/database/creds/{role}", json={}).json() for _ in range(3)]
        lease_id = made[0]["lease"]["lease_id"]
        r = c.post("/v1/leases/renew", json={"lease_id": lease_id, "increment": "90m"})
        assert r.status_code == 200, r.text
        assert r.json()["ttl"] > 3600
        listed = c.get("/v1/leases", params={"prefix": f"database/creds/{role}/"}).json()
        assert {x["lease_id"] for x in listed["items"]} >= {m["lease"]["lease_id"] for m in made}
        r = c.post("/v1/leases/revoke-prefix", json={"prefix": f"database/creds/{role}/"})
        assert r.status_code == 200 and r.json()["count"] >= 3, r.text
        for m in made:
            lease = _wait_state(c, m["lease"]["lease_id"], "revoked")
            assert lease["state"] == "revoked"
            assert not real.login_ok(m["username"], m["password"])


def _make_user(b: Backend, name: str, password: str) -> None:
    if isinstance(b, PgBackend):
        with b.su() as su:
            su.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
            su.execute(f'GRANT "{name}" TO "{b.admin}" WITH ADMIN OPTION')
    else:
        assert isinstance(b, MySQLBackend)
        b.run_root(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")


def _drop_user(b: Backend, name: str) -> None:
    if isinstance(b, PgBackend):
        with b.su() as su:
            su.execute(f'DROP ROLE IF EXISTS "{name}"')
    else:
        assert isinstance(b, MySQLBackend)
        b.run_root(f"DROP USER IF EXISTS '{name}'@'%'")


def test_static_role_and_root_rotation(srv: ServerProcess, real: Backend) -> None:
    static_user, initial = f"tst_{real.tag}", "initial-password-" + real.tag * 3
    _make_user(real, static_user, initial)
    try:
        with srv.client(dev_root_token(srv)) as c:
            _setup(c, real)
            r = c.put(f"/v1/database/static-roles/s{real.tag}",
                      json={"connection": real.tag, "username": static_user,
                            "rotation_period": "1h"})  # fmt: skip
            assert r.status_code == 200, r.text
            first = c.get(f"/v1/database/static-creds/s{real.tag}").json()
            assert first["username"] == static_user
            assert real.login_ok(static_user, first["password"])
            assert not real.login_ok(static_user, initial)
            r = c.post(f"/v1/database/rotate-role/s{real.tag}")
            assert r.status_code == 200, r.text
            second = c.get(f"/v1/database/static-creds/s{real.tag}").json()
            assert second["password"] != first["password"]
            assert not real.login_ok(static_user, first["password"])
            assert real.login_ok(static_user, second["password"])

            r = c.post(f"/v1/database/rotate-root/{real.tag}")
            assert r.status_code == 200, r.text
            assert r.json()["root_rotated_at"] is not None
            assert not real.login_ok(real.conn.username, real.conn.password)
            made = c.post(f"/v1/database/creds/{real.tag}", json={}).json()
            assert real.login_ok(made["username"], made["password"])
            c.post("/v1/leases/revoke", json={"lease_id": made["lease"]["lease_id"]})
            c.delete(f"/v1/database/static-roles/s{real.tag}")
    finally:
        _drop_user(real, static_user)
        _reset_admin(real)


def _reset_admin(b: Backend) -> None:
    """Give the module's admin login its first password back (the next test logs in with it)."""
    if isinstance(b, PgBackend):
        with b.su() as su:
            su.execute(f"ALTER ROLE \"{b.admin}\" PASSWORD '{b.conn.password}'")
    else:
        assert isinstance(b, MySQLBackend)
        b.run_root(f"ALTER USER '{b.admin}'@'%' IDENTIFIED BY '{b.conn.password}'")


def test_bad_input_is_refused_and_leaves_nothing(srv: ServerProcess, real: Backend) -> None:
    with srv.client(dev_root_token(srv)) as c:
        role = _setup(c, real)
        # names that try SQL are refused before any SQL runs
        for bad in ['x";DROP TABLE x;--', "x'; DROP USER root; --", "A B", "a/../b"]:
            r = c.put(f"/v1/database/roles/{bad}", json={"connection": role, "grants": []})
            assert r.status_code in (400, 404), (bad, r.text)
        # an injection in a grant target reaches the database only quoted
        inj = [{"privileges": ["SELECT"], "on": real.injection}]
        r = c.put(f"/v1/database/roles/inj{real.tag}", json={"connection": role, "grants": inj})
        assert r.status_code == 200, r.text
        r = c.post(f"/v1/database/creds/inj{real.tag}", json={})
        assert r.status_code in (400, 502), r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert real.table_x_exists()
        # a template with an unknown placeholder, a privilege outside the allowlist
        evil = {"connection": role, "creation_statements": ["CREATE USER {{name}} {{evil}}"]}
        r = c.put(f"/v1/database/roles/t{real.tag}", json=evil)
        assert r.status_code in (200, 400)
        if r.status_code == 200:
            assert c.post(f"/v1/database/creds/t{real.tag}", json={}).status_code == 400
        # an unreachable database: clear error, no lease left behind
        down = {**_config(real), "port": free_port(), "verify": True, "connect_timeout": 2}
        r = c.put(f"/v1/database/config/down{real.tag}", json=down)
        assert r.status_code == 502 and r.json()["type"].endswith("engine-unavailable"), r.text
        assert real.conn.password not in r.text
        r = c.put(f"/v1/database/config/down{real.tag}", json={**down, "verify": False})
        assert r.status_code == 200, r.text
        r = c.put(f"/v1/database/roles/down{real.tag}",
                  json={"connection": f"down{real.tag}", "grants": inj[:0] or
                        [{"privileges": ["SELECT"], "on": real.granted}]})  # fmt: skip
        assert r.status_code == 200, r.text
        r = c.post(f"/v1/database/creds/down{real.tag}", json={})
        assert r.status_code == 502 and r.json()["type"].endswith("engine-unavailable"), r.text
        leases = c.get("/v1/leases", params={"prefix": f"database/creds/down{real.tag}/",
                                             "all_states": True}).json()  # fmt: skip
        assert leases["items"] == []
        # a lease id with dot segments, and an unknown lease
        r = c.post("/v1/leases/lookup", json={"lease_id": "database/../x"})
        assert r.status_code == 400
        r = c.post("/v1/leases/revoke", json={"lease_id": "database/creds/none/x"})
        assert r.status_code == 404
