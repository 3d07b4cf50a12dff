"""TLS endpoint discovery against real listeners on 127.0.0.2-127.0.0.60 (one port for all):
a test CA with an intermediate, and endpoints that are valid, expired, not yet valid,
self-signed, RSA-1024, SHA-1-signed, misnamed, missing their intermediate, wildcard, hanging,
resetting, speaking plain HTTP, or absent. Every endpoint's flags are asserted exactly."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tessera.discovery.tls import TlsScanRequest, report_json, scan_tls
from tessera.discovery.tls_checks import Flag, load_trust
from tessera.discovery.tls_targets import expand_targets

NOW = datetime.now(UTC)
TIMEOUT = 3.0  # generous: only the endpoint that hangs waits it out
VALID = range(15, 61)  # 127.0.0.15 … 127.0.0.60: valid leaf + intermediate
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def ip(n: int) -> str:
    return f"127.0.0.{n}"


# -- certificates --------------------------------------------------------------------------------
def make_cert(
    cn: str,
    key: Key,
    issuer: x509.Certificate | None,
    issuer_key: Key,
    *,
    ca: bool = False,
    sans: tuple[x509.GeneralName, ...] = (),
    days: tuple[int, int] = (-1, 30),
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + timedelta(days=days[0]))
        .not_valid_after(NOW + timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    usage = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
        False,
    )  # fmt: skip
    if ca:
        usage.update(key_cert_sign=True, crl_sign=True)
    else:
        usage.update(digital_signature=True, key_encipherment=True)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), False)
    return b.add_extension(x509.KeyUsage(**usage), critical=True).sign(issuer_key, hashes.SHA256())


def ip_san(n: int) -> tuple[x509.GeneralName, ...]:
    return (x509.IPAddress(ipaddress.ip_address(ip(n))),)


def pem(*items: x509.Certificate | Key) -> bytes:
    out = b""
    for item in items:
        if isinstance(item, x509.Certificate):
            out += item.public_bytes(serialization.Encoding.PEM)
        else:
            out += item.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
    return out


def sha1_signed(tmp: Path, key: Key, root_pem: Path, root_key: Path, n: int) -> x509.Certificate:
    """cryptography refuses to sign with SHA-1, so openssl signs this one."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sha1")])
    )
    (tmp / "sha1.csr").write_bytes(
        csr.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )
    (tmp / "sha1.cnf").write_text(
        "[v3]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName=IP:{ip(n)}\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    subprocess.run(
        ["openssl", "x509", "-req", "-in", "sha1.csr", "-CA", str(root_pem), "-CAkey",
         str(root_key), "-sha1", "-days", "30", "-set_serial", "4660", "-extfile", "sha1.cnf",
         "-extensions", "v3", "-out", "sha1.pem"],
        cwd=tmp, check=True, capture_output=True,
    )  # fmt: skip
    return x509.load_pem_x509_certificate((tmp / "sha1.pem").read_bytes())


# -- listeners -----------------------------------------------------------------------------------
async def serve_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        await reader.read()  # until the scanner hangs up
    writer.close()


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await serve_tls(reader, writer)  # accepts TCP, never says a word


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1)  # the ClientHello has arrived: now answer it with a RST
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    writer.close()


class Listeners:
    """Asyncio servers in one background thread, all on one port, bound only to 127.0.0.x."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.servers: list[asyncio.Server] = []

    def start(self, plan: dict[str, tuple[Handler, ssl.SSLContext | None]]) -> int:
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self._start(plan), self.loop).result(30)

    async def _start(self, plan: dict[str, tuple[Handler, ssl.SSLContext | None]]) -> int:
        for _ in range(20):  # another process may hold the port on one of the addresses
            port = 0
            try:
                for host, (handler, context) in plan.items():
                    server = await asyncio.start_server(handler, host, port, ssl=context)
                    self.servers.append(server)
                    port = port or server.sockets[0].getsockname()[1]
                return port
            except OSError:
                await self._close()
        raise RuntimeError("no port free on every 127.0.0.x address")

    async def _close(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        self.servers = []

    async def _shutdown(self) -> None:
        await self._close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@dataclass(frozen=True)
class Lab:
    port: int
    ca_file: Path
    root: x509.Certificate
    inter: x509.Certificate
    leaves: dict[int, x509.Certificate]

    def at(self, n: int, sni: str | None = None) -> str:
        return f"{sni + '@' if sni else ''}{ip(n)}:{self.port}"

    def label(self, n: int, sni: str | None = None) -> str:
        return f"{ip(n)}:{self.port}{'#' + sni if sni else ''}"


def server_context(chain: bytes, tmp: Path, name: str) -> ssl.SSLContext:
    (tmp / f"{name}.pem").write_bytes(chain)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # else OpenSSL refuses to serve RSA-1024, SHA-1
    context.load_cert_chain(tmp / f"{name}.pem")
    return context


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("tls")
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    weak_key = rsa.generate_private_key(65537, 1024)
    root = make_cert("Test Root", root_key, None, root_key, ca=True, days=(-3650, 3650))
    inter = make_cert("Test Inter", inter_key, root, root_key, ca=True, days=(-3650, 3650))
    (tmp / "root.pem").write_bytes(pem(root))
    (tmp / "root.key").write_bytes(pem(root_key))
    leaves = {
        2: make_cert("sni", leaf_key, root, root_key, sans=(x509.DNSName("www.example.test"),)),
        3: make_cert("expired", leaf_key, inter, inter_key, sans=ip_san(3), days=(-60, -1)),
        4: make_cert("future", leaf_key, inter, inter_key, sans=ip_san(4), days=(5, 60)),
        5: make_cert("self", leaf_key, None, leaf_key, sans=ip_san(5)),
        6: make_cert("rsa1024", weak_key, inter, inter_key, sans=ip_san(6)),
        7: sha1_signed(tmp, leaf_key, tmp / "root.pem", tmp / "root.key", 7),
        8: make_cert("misnamed", leaf_key, inter, inter_key, sans=(x509.DNSName("x.test"),)),
        9: make_cert("chainless", leaf_key, inter, inter_key, sans=ip_san(9)),
        10: make_cert("wild", leaf_key, root, root_key, sans=(x509.DNSName("*.example.test"),)),
    }
    leaves.update(
        {n: make_cert(f"v{n}", leaf_key, inter, inter_key, sans=ip_san(n)) for n in VALID}
    )
    sends_inter = {3, 4, 6, 8, *VALID}
    plan: dict[str, tuple[Handler, ssl.SSLContext | None]] = {}
    for n, cert in leaves.items():
        key = weak_key if n == 6 else leaf_key
        chain = pem(cert, *([inter] if n in sends_inter else []), key)
        plan[ip(n)] = (serve_tls, server_context(chain, tmp, f"leaf{n}"))
    plan.update({ip(11): (hang, None), ip(12): (reset, None), ip(13): (plain_http, None)})
    listeners = Listeners()
    try:
        port = listeners.start(plan)  # 127.0.0.14 stays unbound: connection refused
        yield Lab(port, tmp / "root.pem", root, inter, leaves)
    finally:
        listeners.stop()


def expected(lab: Lab) -> dict[str, set[Flag] | str]:
    """The exact flags of every endpoint, or a fragment of its error."""
    f = Flag
    out: dict[str, set[Flag] | str] = {
        lab.label(2, "www.example.test"): set(),
        lab.label(2): {f.HOSTNAME_MISMATCH},
        lab.label(3): {f.EXPIRED},
        lab.label(4): {f.NOT_YET_VALID},
        lab.label(5): {f.SELF_SIGNED, f.UNTRUSTED},
        lab.label(6): {f.WEAK_KEY},
        # SHA-1 is also refused by the web PKI verifier, as by every current client.
        lab.label(7): {f.WEAK_SIGNATURE, f.UNTRUSTED},
        lab.label(8): {f.HOSTNAME_MISMATCH},
        lab.label(9): {f.CHAIN_INCOMPLETE},
        lab.label(10, "a.example.test"): set(),
        lab.label(10, "a.b.example.test"): {f.HOSTNAME_MISMATCH},
        lab.label(11): f"timed out after {TIMEOUT:g}s in the TLS handshake",
        lab.label(12): "connection reset in the TLS handshake",
        lab.label(13): "not TLS",
        lab.label(14): "connection refused",
    }
    out.update({lab.label(n): set() for n in VALID})
    return out


def check(lab: Lab, endpoints: list[dict[str, Any]], want: dict[str, set[Flag] | str]) -> None:
    labels = [e["endpoint"] for e in endpoints]
    assert sorted(labels) == sorted(want), "every endpoint exactly once"
    for e in endpoints:
        expect = want[e["endpoint"]]
        if isinstance(expect, str):
            assert e["error"] and expect in e["error"], e
            assert e["chain"] == [] and e["flags"] == []
        else:
            assert e["error"] is None, e
            assert set(e["flags"]) == {str(x) for x in expect}, e
            assert e["protocol"] and e["protocol"].startswith("TLSv"), e
            leaf_fp = lab.leaves[int(e["host"].rsplit(".", 1)[1])].fingerprint(hashes.SHA256())
            assert e["chain"][0]["fingerprint"] == leaf_fp.hex()


def test_scan_every_kind_of_endpoint_in_one_run(lab: Lab) -> None:
    targets = [
        lab.at(2, "www.example.test"), lab.at(2), *(lab.at(n) for n in range(3, 10)),
        lab.at(10, "a.example.test"), lab.at(10, "a.b.example.test"),
        *(lab.at(n) for n in range(11, 15)),
        "127.0.0.16/28", "127.0.0.32/27", "127.0.0.8/30",  # → .17-.30, .33-.62, .9-.10
        *(lab.at(n) for n in VALID),
    ]  # fmt: skip
    endpoints = expand_targets(targets, ports=[lab.port])
    trust = load_trust([lab.ca_file], use_system=False)
    report = scan_tls(TlsScanRequest(tuple(endpoints), trust, concurrency=100, timeout=TIMEOUT))
    want = expected(lab)
    want.update({lab.label(n): "connection refused" for n in (61, 62)})
    want[lab.label(10)] = {Flag.HOSTNAME_MISMATCH}  # .10 reached through the /30, without SNI
    doc = report_json(report)
    check(lab, doc["endpoints"], want)
    assert {e["where"] for e in doc["errors"]} == {k for k, v in want.items() if isinstance(v, str)}

    creds = {c.fingerprint: c for c in report.credentials}
    assert len(creds) == len(report.credentials), "one credential per certificate"
    inter_fp = lab.inter.fingerprint(hashes.SHA256()).hex()
    inter_at = {loc.location for loc in creds[inter_fp].locations}
    assert inter_at == {lab.label(n) for n in (3, 4, 6, 8, *VALID)}
    wild = creds[lab.leaves[10].fingerprint(hashes.SHA256()).hex()]
    assert {loc.location for loc in wild.locations} == {
        lab.label(10),
        lab.label(10, "a.example.test"),
        lab.label(10, "a.b.example.test"),
    }
    # 58 leaves (the SNI one twice) plus the intermediate; the root is never sent.
    assert set(creds) == {c.fingerprint(hashes.SHA256()).hex() for c in lab.leaves.values()} | {
        inter_fp
    }
    for cred in report.credentials:
        assert cred.kind == "x509_certificate"
        assert cred.locations and all(loc.kind == "endpoint" for loc in cred.locations)
    sha1 = next(e for e in doc["endpoints"] if e["endpoint"] == lab.label(7))["chain"][0]
    assert sha1["signature_algorithm"] == "ecdsa-with-SHA1"
    weak = next(e for e in doc["endpoints"] if e["endpoint"] == lab.label(6))["chain"][0]
    assert (weak["key_type"], weak["key_size"]) == ("RSA", 1024)


def test_chain_is_untrusted_without_the_ca_and_incomplete_only_when_intermediate_known(
    lab: Lab,
) -> None:
    endpoints = expand_targets([lab.at(15), lab.at(9)], ports=[lab.port])
    alone = scan_tls(TlsScanRequest((endpoints[1],), load_trust([lab.ca_file], False), 5, TIMEOUT))
    assert alone.results[0].flags == (Flag.UNTRUSTED,)  # nobody sent the intermediate
    assert alone.results[0].trust_error
    untrusting = scan_tls(TlsScanRequest(tuple(endpoints), load_trust([], False), 5, TIMEOUT))
    assert [r.flags for r in untrusting.results] == [(Flag.UNTRUSTED,), (Flag.UNTRUSTED,)]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    return subprocess.run(
        [sys.executable, "-m", "tessera", "scan", "tls", *args],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_cli_json(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "targets.txt").write_text(f"# more\n{ip(5)}\n\n{lab.at(10, 'a.example.test')}\n")
    proc = run_cli(
        lab.at(3), lab.at(6), lab.at(9), lab.at(12), lab.at(17), "--targets-file",
        str(tmp_path / "targets.txt"), "--ports", str(lab.port), "--ca-file", str(lab.ca_file),
        "--ca-file", str(lab.ca_file), "--no-system-ca", "--timeout", str(TIMEOUT),
        "--output", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    all_want = expected(lab)
    # .9 lacks its intermediate, which .3 and .6 send: incomplete, as in the big run.
    names = (lab.label(n) for n in (3, 6, 9, 12, 17, 5))
    want = {k: all_want[k] for k in (*names, lab.label(10, "a.example.test"))}
    check(lab, doc["endpoints"], want)
    fps = {c["fingerprint"] for c in doc["credentials"]}
    inter_fp = hashlib.sha256(lab.inter.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert inter_fp in fps and len(fps) == 7  # six leaves and the intermediate


def test_cli_table(lab: Lab) -> None:
    proc = run_cli(lab.at(5), lab.at(14), "--ca-file", str(lab.ca_file), "--timeout", str(TIMEOUT))
    assert proc.returncode == 0, proc.stderr
    lines = [" ".join(line.split()) for line in proc.stdout.splitlines()]
    assert "2 endpoints, 1 unreachable, 1 certificates" in lines[0]
    row = next(line for line in lines if lab.label(5) in line)
    assert "self" in row and "self_signed, untrusted" in row and "TLSv1.3" in row
    assert any(lab.label(14) in line and "error: connection refused" in line for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ok.test", "bad host!", "127.0.0.1:99999"), "bad targets: 'bad host!' (not a host name"),
        (("10.0.0.0/8",), "16,777,216 endpoints, more than the limit of 65,536"),
        (("ok.test", "--ca-file", "/nonexistent/ca.pem"), "cannot read CA file"),
    ],
)
def test_cli_refuses_bad_input_clearly(args: tuple[str, ...], message: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 1
    assert message in " ".join(proc.stderr.split()), proc.stderr
    assert "Traceback" not in proc.stderr
