"""The dev server under test and the benchmark's credentials.

Contract: `DevServer(data_dir)` picks a free loopback port; `start()` runs
`python -m tessera server --dev` (SQLite in `data_dir`, its own session, log in
`data_dir/server.log`) and returns once `/v1/sys/health` answers 200, raising `RuntimeError`
otherwise; `cpu_seconds()` reads the server's user+system CPU time from /proc; `stop()` is
idempotent (SIGTERM, then SIGKILL after 15 s). `make_bench_token(addr, root)` writes the bench
policy, returns a new non-root token holding it, and creates the identity the read-db run
reads.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tessera.app import DEV_ROOT_TOKEN_FILE
from workload import POLICY, POLICY_NAME, READ_PATH, SEED_IDENTITY, WRITE_PATH

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevServer:
    """`python -m tessera server --dev` in its own session; `stop()` is idempotent."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "tessera",
            "server",
            "--dev",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            f"127.0.0.1:{self.port}",
        ]
        with open(self.log_path, "wb") as log:
            # own session: a Ctrl-C on the terminal reaches us, and we stop the server cleanly
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.addr}/v1/sys/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the server did not become healthy in {timeout:.0f} s:\n{self.log()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def root_token(self) -> str:
        return (self.data_dir / DEV_ROOT_TOKEN_FILE).read_text().strip()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_bench_token(addr: str, root: str) -> str:
    """Write the bench policy, create a non-root token holding it (and `default`) and, with
    that token, the identity the read-db run reads."""
    with httpx.Client(base_url=addr, headers={"X-Tessera-Token": root}, timeout=30) as rc:
        r = rc.put(f"/v1/sys/policies/{POLICY_NAME}", json=POLICY)
        r.raise_for_status()
        r = rc.post(
            "/v1/auth/token/create",
            json={"policies": [POLICY_NAME], "ttl": "24h", "display_name": "bench"},
        )
        r.raise_for_status()
        token = str(r.json()["token"])
    with httpx.Client(base_url=addr, headers={"X-Tessera-Token": token}, timeout=30) as c:
        info = c.get(READ_PATH).json()
        if "root" in info["policies"] or POLICY_NAME not in info["policies"]:
            raise RuntimeError(f"unexpected bench token policies: {info['policies']}")
        # the identity that the read-db run looks up
        r = c.post(WRITE_PATH, json={"name": SEED_IDENTITY, "owner": "bench"})
        r.raise_for_status()
    return token
