"""Shared fixtures: database URLs for both engines, and a real server process on loopback.

PostgreSQL tests use `TESSERA_TEST_POSTGRES_URL`. Unset: they skip with a reason, except under
CI (`CI=true`), where a missing or unreachable service fails the run instead.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

POSTGRES_ENV = "TESSERA_TEST_POSTGRES_URL"
MYSQL_ENV = "TESSERA_TEST_MYSQL_URL"


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if _on_ci():
            pytest.fail(f"{POSTGRES_ENV} is not set on CI: PostgreSQL tests must run there")
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    return url


def mysql_admin_url() -> str:
    """`mysql://root@127.0.0.1:3306/test`-style URL of a MySQL/MariaDB admin login (skip/fail
    like PostgreSQL)."""
    url = os.environ.get(MYSQL_ENV)
    if not url:
        if _on_ci():
            pytest.fail(f"{MYSQL_ENV} is not set on CI: MySQL/MariaDB tests must run there")
        pytest.skip(f"MySQL/MariaDB tests need {MYSQL_ENV} (e.g. mysql://root@127.0.0.1:3306/test)")
    return url


def _psycopg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    import psycopg

    admin = postgres_admin_url()
    name = "tessera_t_" + secrets.token_hex(6)
    with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(_psycopg_dsn(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each contract test runs once per storage engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    return str(request.getfixturevalue("postgres_url"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    addr: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def audit_log(self) -> Path:
        return self.data_dir / "audit.log"

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"X-Tessera-Token": token} if token else {}
        return httpx.Client(base_url=self.addr, headers=headers, timeout=30)

    def stop(self, sig: int | None = None) -> None:
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
    """Start `tessera server` on a free loopback port and wait until it answers."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "tessera",
        "server",
        "--data-dir",
        str(data_dir),
        "--listen",
        f"127.0.0.1:{port}",
        *args,
    ]
    full_env = {**os.environ, **(env or {})}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env)
    server = ServerProcess(f"http://127.0.0.1:{port}", data_dir, proc, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            httpx.get(f"{server.addr}/v1/sys/seal-status", timeout=1)
            return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not start:\n{server.log()}")


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """An uninitialised production-mode server, once per storage engine."""
    args: list[str] = []
    if request.param == "postgres":
        args = ["--database-url", str(request.getfixturevalue("postgres_url"))]
    srv = start_server(tmp_path / "data", *args)
    yield srv
    srv.stop()


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A dev-mode server on SQLite (auto-initialised, auto-unsealed)."""
    srv = start_server(tmp_path / "dev", "--dev")
    yield srv
    srv.stop()


def dev_root_token(srv: ServerProcess) -> str:
    return (srv.data_dir / "dev-root-token").read_text().strip()
