"""The peer: `cfssl serve` signing CSRs, optionally storing them in its SQLite certdb, and
`cfssl ocspserve` answering OCSP from responses it pre-signed.

Contract: `CfsslCA(dir, cfssl)` generates an ECDSA P-256 CA with `cfssl gencert -initca` and
writes the signing config (default profile, 720h, digital signature + server auth, as the
Tessera profile issues). `CfsslServer(ca, name, db=...)` runs `cfssl serve` on a free loopback
port in its own session (log in `<dir>/<name>.log`); with `db=True` it first creates a SQLite
certdb (cfssl's schema, WAL, as Tessera runs SQLite) and passes `-db-config`, so every
certificate it signs is stored; `stored()` counts the rows. `ocsp_server()` runs
`cfssl ocsprefresh` (the CA signs one response per stored certificate), `cfssl ocspdump` and
`cfssl ocspserve` over the dump. Every process is stopped by `stop()` (idempotent: SIGTERM,
then SIGKILL after 10 s); `start()` raises `RuntimeError` when the port does not open in time.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

from cryptography import x509

CA_CSR = {
    "CN": "Bench cfssl CA",
    "key": {"algo": "ecdsa", "size": 256},
    "names": [{"O": "Tessera bench"}],
}
SIGNING = {
    "signing": {
        "default": {"expiry": "720h", "usages": ["digital signature", "server auth"]},
    }
}
# cfssl's certdb schema (certdb/sqlite/migrations), as `cfssl serve -db-config` expects it
SCHEMA = """
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier)
    REFERENCES certificates(serial_number, authority_key_identifier)
);
"""
SIGN_PATH = "/api/v1/cfssl/sign"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], cwd: Path, timeout: float = 120) -> str:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return out.stdout


class CfsslCA:
    """A fresh cfssl CA (ECDSA P-256) and its signing config in `dir`."""

    def __init__(self, dir: Path, cfssl: str) -> None:
        self.dir = dir
        self.cfssl = cfssl
        dir.mkdir(parents=True, exist_ok=True)
        (dir / "ca-csr.json").write_text(json.dumps(CA_CSR))
        made = json.loads(_run([cfssl, "gencert", "-initca", "ca-csr.json"], dir))
        self.cert_pem: str = made["cert"]
        (dir / "ca.pem").write_text(made["cert"])
        key = dir / "ca-key.pem"
        key.write_text(made["key"])
        key.chmod(0o600)
        (dir / "config.json").write_text(json.dumps(SIGNING))
        self.certificate = x509.load_pem_x509_certificate(self.cert_pem.encode())


class _Process:
    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, cmd: list[str], cwd: Path, timeout: float = 30.0) -> None:
        with open(self.log_path, "wb") as log:
            # own session: a Ctrl-C on the terminal reaches us, and we stop it cleanly
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} {cmd[1]} exited early:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{cmd[0]} {cmd[1]} did not listen in {timeout:.0f} s:\n{self.log()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class CfsslServer(_Process):
    """`cfssl serve` with the CA; with `db`, a SQLite certdb that stores every certificate."""

    def __init__(self, ca: CfsslCA, name: str, db: bool = False, loglevel: int = 1) -> None:
        super().__init__(ca.dir / f"{name}.log")
        self.ca = ca
        self.name = name
        self.loglevel = loglevel
        self.db_path = ca.dir / f"{name}-certs.db" if db else None
        self.db_config = ca.dir / f"{name}-db.json"
        self.ocsp: _Process | None = None

    def start(self) -> None:
        cmd = [
            self.ca.cfssl, "serve", "-address", "127.0.0.1", "-port", str(self.port),
            "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "config.json",
            "-loglevel", str(self.loglevel),
        ]  # fmt: skip
        if self.db_path is not None:
            with closing(sqlite3.connect(self.db_path)) as db:
                db.executescript(SCHEMA)
                db.execute("PRAGMA journal_mode=WAL")  # persistent; synchronous stays FULL
            self.db_config.write_text(
                json.dumps({"driver": "sqlite3", "data_source": str(self.db_path)})
            )
            cmd += ["-db-config", str(self.db_config)]
        self._spawn(cmd, self.ca.dir)

    def stored(self) -> int:
        """Certificates in the certdb (0 without one)."""
        if self.db_path is None:
            return 0
        with closing(sqlite3.connect(self.db_path)) as db:
            return int(db.execute("SELECT count(*) FROM certificates").fetchone()[0])

    def ocsp_server(self) -> _Process:
        """Pre-sign OCSP responses for every stored certificate and serve them."""
        if self.db_path is None:
            raise RuntimeError("cfssl's OCSP responder needs the certdb")
        d, cfssl, cfg = self.ca.dir, self.ca.cfssl, str(self.db_config)
        _run([cfssl, "ocsprefresh", "-db-config", cfg, "-ca", "ca.pem",
              "-responder", "ca.pem", "-responder-key", "ca-key.pem"], d)  # fmt: skip
        (d / "ocsp-responses").write_text(_run([cfssl, "ocspdump", "-db-config", cfg], d))
        server = _Process(d / "ocspserve.log")
        self.ocsp = server
        server._spawn(
            [cfssl, "ocspserve", "-address", "127.0.0.1", "-port", str(server.port),
             "-responses", "ocsp-responses", "-loglevel", str(self.loglevel)], d,
        )  # fmt: skip
        return server

    def stop(self) -> None:
        if self.ocsp is not None:
            self.ocsp.stop()
        super().stop()
