"""Scans as jobs into the inventory over real HTTP: the CLI uploads what `scan files` and
`scan secrets` find; re-scans refresh and mark what is gone; the server runs a TLS scan itself
against a loopback listener; bad uploads are refused."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import ServerProcess, dev_root_token, start_server

DEADLINE = 30.0


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("disc") / "d", "--dev")
    yield server
    server.stop()


def _cert(cn: str) -> tuple[bytes, bytes, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, hashes_hex(der)


def hashes_hex(der: bytes) -> str:
    import hashlib

    return hashlib.sha256(der).hexdigest()


def _cli(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TESSERA_ADDR": srv.addr, "TESSERA_TOKEN": dev_root_token(srv),
           "TESSERA_SCAN_KEY": "00" * 32}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "tessera", "scan", *args], env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip


def _discovered(c: httpx.Client, kind: str) -> dict[str, dict[str, Any]]:
    r = c.get("/v1/inventory/credentials",
              params={"kind": kind, "source": "discovered", "limit": 1000})  # fmt: skip
    assert r.status_code == 200, r.text
    return {i["fingerprint"]: i for i in r.json()["items"]}


def _locations(c: httpx.Client, cred_id: str) -> list[str]:
    r = c.get(f"/v1/inventory/credentials/{cred_id}")
    assert r.status_code == 200, r.text
    return sorted(loc["location"] for loc in r.json()["locations"])


def test_file_scan_upload_rescan_and_gone(srv: ServerProcess, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "b").mkdir()
    cert_pem, key_pem, fp = _cert("files.example.test")
    (tree / "a" / "web.crt").write_bytes(cert_pem)
    (tree / "a" / "web.key").write_bytes(key_pem)
    (tree / "b" / "copy.key").write_bytes(key_pem)
    first = _cli(srv, "files", str(tree), "--upload", "-o", "json")
    assert first.returncode == 0, first.stderr
    with srv.client(dev_root_token(srv)) as c:
        certs = _discovered(c, "x509_certificate")
        assert fp in certs
        assert _locations(c, certs[fp]["id"]) == [f"{tree}/a/web.crt"]
        keys = _discovered(c, "private_key")
        key = next(k for k in keys.values() if f"{tree}/a/web.key" in _locations(c, k["id"]))
        assert _locations(c, key["id"]) == [f"{tree}/a/web.key", f"{tree}/b/copy.key"]
        assert "PRIVATE KEY" not in c.get(f"/v1/inventory/credentials/{key['id']}").text

        again = _cli(srv, "files", str(tree), "--upload")
        assert again.returncode == 0 and "(0 new)" in again.stderr, again.stderr
        (tree / "b" / "copy.key").unlink()
        third = _cli(srv, "files", str(tree), "--upload")
        assert "1 locations no longer found" in third.stderr, third.stderr
        assert _locations(c, key["id"]) == [f"{tree}/a/web.key"]
        shown = c.get(f"/v1/inventory/credentials/{key['id']}").json()
        assert "missing_since" not in shown["attributes"]
        (tree / "a" / "web.key").unlink()
        _cli(srv, "files", str(tree), "--upload")
        shown = c.get(f"/v1/inventory/credentials/{key['id']}").json()
        assert "missing_since" in shown["attributes"]
        assert [g["location"] for g in shown["attributes"]["gone_locations"]] == [
            f"{tree}/b/copy.key", f"{tree}/a/web.key"]  # fmt: skip


def test_secret_scan_upload_keeps_no_secret(srv: ServerProcess, tmp_path: Path) -> None:
    token = "ghp_" + "".join(secrets.choice("abcdefghijkLMNOP0123456789") for _ in range(36))
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "deploy.sh").write_text(f"#!/bin/sh\nexport GH={token}\n")
    done = _cli(srv, "secrets", str(tmp_path / "repo"), "--upload", "-o", "json")
    assert done.returncode == 1, done.stderr  # findings → exit 1, and uploaded
    assert token not in done.stdout + done.stderr
    with srv.client(dev_root_token(srv)) as c:
        leaked = _discovered(c, "leaked_secret")
        mine = [x for x in leaked.values() if x["name"] == "github-pat"]
        assert len(mine) == 1
        body = c.get(f"/v1/inventory/credentials/{mine[0]['id']}").text
        assert token not in body and token[:10] not in body
        assert f"{tmp_path / 'repo'}/deploy.sh:2" in _locations(c, mine[0]["id"])


class _TlsServer:
    def __init__(self, tmp: Path) -> None:
        cert_pem, key_pem, self.fingerprint = _cert("tls.example.test")
        (tmp / "c.pem").write_bytes(cert_pem)
        (tmp / "k.pem").write_bytes(key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
        import socket

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.ctx, self.stop = ctx, threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass


def test_server_runs_a_tls_scan_job(srv: ServerProcess, tmp_path: Path) -> None:
    listener = _TlsServer(tmp_path)
    try:
        with srv.client(dev_root_token(srv)) as c:
            r = c.post("/v1/discovery/scans/tls",
                       json={"targets": [f"127.0.0.1:{listener.port}"], "timeout": 5})  # fmt: skip
            assert r.status_code == 202, r.text
            scan_id = r.json()["id"]
            deadline = time.monotonic() + DEADLINE
            while (scan := c.get(f"/v1/discovery/scans/{scan_id}").json())["status"] == "running":
                assert time.monotonic() < deadline, scan
                time.sleep(0.1)
            assert scan["status"] == "completed" and scan["credentials"] == 1, scan
            cert = _discovered(c, "x509_certificate")[listener.fingerprint]
            assert _locations(c, cert["id"]) == [f"127.0.0.1:{listener.port}"]
            detail = c.get(f"/v1/inventory/credentials/{cert['id']}").json()
            flags = detail["attributes"]["endpoints"][f"127.0.0.1:{listener.port}"]["flags"]
            assert "self_signed" in flags
            listed = c.get("/v1/discovery/scans").json()["items"]
            assert scan_id in [s["id"] for s in listed]
    finally:
        listener.stop.set()


def test_bad_uploads_are_refused(srv: ServerProcess) -> None:
    with srv.client(dev_root_token(srv)) as c:
        assert c.post("/v1/discovery/scans", json={"kind": "nope"}).status_code == 400
        r = c.post("/v1/discovery/scans/01ARZ3NDEKTSV4RRFFQ69G5FAV/results", json={})
        assert r.status_code == 404
        scan = c.post("/v1/discovery/scans", json={"kind": "files", "scope": []}).json()
        path = f"/v1/discovery/scans/{scan['id']}"
        item = {"kind": "x509_certificate", "fingerprint": "ab" * 32, "name": "x"}
        big = {**item, "attributes": {"blob": "x" * 20000}}
        assert c.post(f"{path}/results", json={"credentials": [big]}).status_code == 400
        issued = {**item, "locations": [{"kind": "issued", "location": "tessera:x"}]}
        assert c.post(f"{path}/results", json={"credentials": [issued]}).status_code == 400
        assert (
            c.post(f"{path}/results", json={"credentials": [{**item, "kind": "?"}]}).status_code
            == 400
        )
        assert c.post(f"{path}/results", json={"credentials": [item] * 1001}).status_code in (
            400,
            422,
        )
        assert c.post(f"{path}/complete").status_code == 200
        r = c.post(f"{path}/results", json={"credentials": [item]})
        assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem")
        r = c.post("/v1/discovery/scans/tls", json={"targets": ["not a target!"]})
        assert r.status_code == 400, r.text
