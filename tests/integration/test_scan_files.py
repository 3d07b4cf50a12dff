"""`tessera scan files` over a real tree with planted certificates, keys of every format,
PKCS#12, OpenSSH and SSH files, copies and noise: found completely and exactly, through the
library and the CLI; then each kind of bad input on its own."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tessera.discovery.files import FileScanRequest, FileScanResult, scan_files
from tessera.inventory.models import CredentialKind

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")

PEM, DER = serialization.Encoding.PEM, serialization.Encoding.DER
PKCS8 = serialization.PrivateFormat.PKCS8
TRAD = serialization.PrivateFormat.TraditionalOpenSSL
NOENC = serialization.NoEncryption()
LIST_PW, OTHER_PW = b"from-the-list", b"not-in-the-list"
CERT, KEY, SSH = (
    CredentialKind.X509_CERTIFICATE.value,
    CredentialKind.PRIVATE_KEY.value,
    CredentialKind.SSH_KEY.value,
)


def spki_fp(key: Any) -> str:
    key = key.public_key() if hasattr(key, "private_bytes") else key
    der = key.public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def cert_fp(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(DER)).hexdigest()


def ssh_line(key: Any) -> str:
    public = key.public_key() if hasattr(key, "private_bytes") else key
    fmt = serialization.PublicFormat.OpenSSH
    return public.public_bytes(serialization.Encoding.OpenSSH, fmt).decode()


def make_cert(key: Any, cn: str, signer: Any, issuer: str, ca: bool) -> x509.Certificate:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, algorithm)
    )


@dataclass
class Tree:
    root: Path
    password_file: Path
    expected: dict[tuple[str, str], set[str]]  # (kind, fingerprint) -> relative locations
    unencrypted: set[str]  # fingerprints of keys stored in clear somewhere
    links: dict[str, list[str]]  # private key fingerprint -> certificate fingerprints
    locked_pfx: str


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _ssh_keygen(path: Path, kind: str, passphrase: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "", "-f", str(path)],
        check=True,
        timeout=30,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    root = tmp_path_factory.mktemp("scan") / "root"
    ca_key = ec.generate_private_key(ec.SECP384R1())
    web_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sec1_key = ec.generate_private_key(ec.SECP256R1())
    der_key, enc_key, locked_key, p12_key, ssh_key = (
        ed25519.Ed25519PrivateKey.generate() for _ in range(5)
    )
    ca = make_cert(ca_key, "Scan CA", ca_key, "Scan CA", ca=True)
    web = make_cert(web_key, "web", ca_key, "Scan CA", ca=False)
    rsa_cert = make_cert(rsa_key, "rsa-server", rsa_key, "rsa-server", ca=False)
    p12_cert = make_cert(p12_key, "p12", ca_key, "Scan CA", ca=False)
    locked_cert = make_cert(locked_key, "locked", ca_key, "Scan CA", ca=False)

    web_pem = web_key.private_bytes(PEM, PKCS8, NOENC)
    locked_pem = locked_key.private_bytes(
        PEM, PKCS8, serialization.BestAvailableEncryption(OTHER_PW)
    )
    files = {
        "certs/web.pem": web.public_bytes(PEM),
        "certs/ca.der": ca.public_bytes(DER),
        "certs/chain.pem": web.public_bytes(PEM) + ca.public_bytes(PEM),
        "certs/no-extension": rsa_cert.public_bytes(DER),
        "keys/web.key": web_pem,
        "backup/old/web-copy.pem": web_pem,
        "keys/rsa.key": rsa_key.private_bytes(PEM, TRAD, NOENC),
        "keys/sec1.pem": sec1_key.private_bytes(PEM, TRAD, NOENC),
        "keys/key.der": der_key.private_bytes(DER, PKCS8, NOENC),
        "keys/enc.pem": enc_key.private_bytes(
            PEM, PKCS8, serialization.BestAvailableEncryption(LIST_PW)
        ),
        "keys/locked.pem": locked_pem,
        "p12/ok.p12": pkcs12.serialize_key_and_certificates(
            b"ok", p12_key, p12_cert, [ca], serialization.BestAvailableEncryption(LIST_PW)
        ),
        "p12/locked.pfx": pkcs12.serialize_key_and_certificates(
            b"no", locked_key, locked_cert, None, serialization.BestAvailableEncryption(OTHER_PW)
        ),
        "ssh/id_ed25519": ssh_key.private_bytes(PEM, serialization.PrivateFormat.OpenSSH, NOENC),
        "ssh/id_ed25519.pub": (ssh_line(ssh_key) + " me@laptop\n").encode(),
        "ssh/authorized_keys": (
            f'command="backup --all",no-pty {ssh_line(rsa_key)} rsa@host\n{ssh_line(ssh_key)}\n'
        ).encode(),
        "noise/readme.txt": b"-----BEGIN nothing here\nssh-rsa is a key type\n0 0 0\n",
        "noise/blob.bin": bytes((i * 131 + 7) % 256 for i in range(40_000)),
        "noise/utf8.txt": b"caf\xc3\xa9 \xff\xfe broken \x80 text\n",
        "noise/empty": b"",
    }
    for rel, data in files.items():
        _write(root, rel, data)
    _ssh_keygen(root / "ssh" / "id_ecdsa", "ecdsa", "a passphrase")
    ecdsa_pub = serialization.load_ssh_public_key((root / "ssh" / "id_ecdsa.pub").read_bytes())
    hashed = (
        "|1|" + base64.b64encode(b"s" * 20).decode() + "|" + base64.b64encode(b"h" * 20).decode()
    )
    _write(
        root,
        "ssh/known_hosts",
        f"{hashed} {ssh_line(ecdsa_pub)}\n@cert-authority *.corp {ssh_line(ca_key)}\n".encode(),
    )
    os.symlink("..", root / "backup" / "loop")  # a directory loop: walked once, no error
    os.mkfifo(root / "noise" / "pipe")  # must be passed over, never opened
    password_file = root.parent / "passwords.txt"
    password_file.write_bytes(b"first\n" + LIST_PW + b"\r\n\n")

    # No listed password opens it: its fingerprint is that of the encrypted PKCS#8 DER.
    locked_fp = hashlib.sha256(base64.b64decode(b"".join(locked_pem.split(b"\n")[1:-2])))
    locked_fp = locked_fp.hexdigest()
    expected = {
        (CERT, cert_fp(web)): {"certs/web.pem", "certs/chain.pem:1"},
        (CERT, cert_fp(ca)): {
            "certs/ca.der",
            "certs/chain.pem:" + _second_line(files),
            "p12/ok.p12",
        },
        (CERT, cert_fp(rsa_cert)): {"certs/no-extension"},
        (CERT, cert_fp(p12_cert)): {"p12/ok.p12"},
        (KEY, spki_fp(web_key)): {"keys/web.key", "backup/old/web-copy.pem"},
        (KEY, spki_fp(rsa_key)): {"keys/rsa.key"},
        (KEY, spki_fp(sec1_key)): {"keys/sec1.pem"},
        (KEY, spki_fp(der_key)): {"keys/key.der"},
        (KEY, spki_fp(enc_key)): {"keys/enc.pem"},
        (KEY, locked_fp): {"keys/locked.pem"},
        (KEY, spki_fp(p12_key)): {"p12/ok.p12"},
        (KEY, spki_fp(ssh_key)): {"ssh/id_ed25519"},
        (KEY, spki_fp(ecdsa_pub)): {"ssh/id_ecdsa"},
        (SSH, spki_fp(ssh_key)): {"ssh/id_ed25519.pub", "ssh/authorized_keys:2"},
        (SSH, spki_fp(rsa_key)): {"ssh/authorized_keys:1"},
        (SSH, spki_fp(ecdsa_pub)): {"ssh/id_ecdsa.pub", "ssh/known_hosts:1"},
        (SSH, spki_fp(ca_key)): {"ssh/known_hosts:2"},
    }
    unencrypted = {spki_fp(k) for k in (web_key, rsa_key, sec1_key, der_key, ssh_key)}
    links = {
        spki_fp(web_key): [cert_fp(web)],
        spki_fp(rsa_key): [cert_fp(rsa_cert)],
        spki_fp(p12_key): [cert_fp(p12_cert)],
    }
    return Tree(root, password_file, expected, unencrypted, links, "p12/locked.pfx")


def _second_line(files: dict[str, bytes]) -> str:
    lines = files["certs/chain.pem"].split(b"\n")
    return str(lines.index(b"-----BEGIN CERTIFICATE-----", 1) + 1)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tessera", "scan", "files", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def scan_json(*args: str) -> dict[str, Any]:
    done = run_cli(*args, "--output", "json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def check_found(tree: Tree, document: dict[str, Any]) -> None:
    prefix = str(tree.root) + os.sep
    got = {
        (c["kind"], c["fingerprint"]): {
            loc["location"].removeprefix(prefix) for loc in c["locations"]
        }
        for c in document["credentials"]
    }
    assert got == tree.expected
    assert len(document["credentials"]) == len(tree.expected)
    creds = {(c["kind"], c["fingerprint"]): c["attributes"] for c in document["credentials"]}
    keys = {fp: attrs for (kind, fp), attrs in creds.items() if kind == KEY}
    assert {fp for fp, attrs in keys.items() if attrs["unencrypted"]} == tree.unencrypted
    assert {fp: a["certificates"] for fp, a in keys.items() if a["certificates"]} == tree.links
    assert [a["duplicate_locations"] for a in keys.values()].count(True) == 1
    certs_with_key = {
        fp for (kind, fp), a in creds.items() if kind == CERT and a["private_key_found"]
    }
    assert certs_with_key == {fp for fps in tree.links.values() for fp in fps}
    assert [(e["where"].removeprefix(prefix), e["message"]) for e in document["errors"]] == [
        (tree.locked_pfx, "PKCS#12: no password in the list opens it (or it is malformed)")
    ]


def test_library_finds_everything_exactly(tree: Tree) -> None:
    passwords = tuple(tree.password_file.read_bytes().replace(b"\r", b"").split(b"\n"))

    class Count:
        def __init__(self) -> None:
            self.expected, self.done = -1, 0

        def total(self, units: int) -> None:
            self.expected = units

        def advance(self, units: int = 1) -> None:
            self.done += units

    progress = Count()
    result = scan_files(FileScanRequest((str(tree.root),), passwords), progress)
    files = sum(1 for p in tree.root.rglob("*") if p.is_file() and not p.is_symlink())
    assert progress.expected == progress.done == files
    assert result.files_scanned == files
    check_found(tree, _document(result))


def _document(result: FileScanResult) -> dict[str, Any]:
    from tessera.cli.scan_files import result_document

    return json.loads(json.dumps(result_document(result)))


def test_cli_json_finds_everything_exactly_without_private_material(tree: Tree) -> None:
    done = run_cli(str(tree.root), "--password-file", str(tree.password_file), "--output", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    check_found(tree, document)
    assert "PRIVATE KEY" not in done.stdout
    for secret_file in ("keys/web.key", "keys/rsa.key", "ssh/id_ed25519"):
        body = b"".join((tree.root / secret_file).read_bytes().split(b"\n")[1:-2]).decode()
        assert body[20:60] not in done.stdout
    assert LIST_PW.decode() not in done.stdout + done.stderr
    ed = next(
        c for c in document["credentials"] if c["locations"][0]["location"].endswith("id_ed25519")
    )
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(tree.root / "ssh" / "id_ed25519.pub")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert ed["attributes"]["ssh_fingerprint"] == listed.stdout.split()[1]


def test_cli_table_output(tree: Tree) -> None:
    done = run_cli(str(tree.root / "certs"))
    assert done.returncode == 0, done.stderr
    assert "x509_certificate" in done.stdout and "Scan CA" in done.stdout
    assert "3 credentials in 4 files" in done.stdout


# Bad input, one at a time: each is reported (or passed over) and the scan goes on.


@pytest.fixture(scope="module")
def good_cert() -> x509.Certificate:
    key = ed25519.Ed25519PrivateKey.generate()
    return make_cert(key, "good", key, "good", ca=False)


def _scan(root: Path, max_size: int | None = None) -> tuple[set[str], list[tuple[str, str]]]:
    """Fingerprints and (relative where, message) errors of an in-process scan of `root`."""
    request = FileScanRequest((str(root),), max_file_size=max_size or 10_000_000)
    document = _document(scan_files(request))
    prefix = str(root) + os.sep
    fps = {c["fingerprint"] for c in document["credentials"]}
    errors = [(e["where"].removeprefix(prefix), e["message"]) for e in document["errors"]]
    return fps, errors


def test_malformed_pem_and_truncated_der(tmp_path: Path, good_cert: x509.Certificate) -> None:
    (tmp_path / "good.pem").write_bytes(good_cert.public_bytes(PEM))
    (tmp_path / "bad.pem").write_bytes(
        b"x\n-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "cut.der").write_bytes(good_cert.public_bytes(DER)[:100])
    fps, errors = _scan(tmp_path)
    assert fps == {cert_fp(good_cert)}
    size = len(good_cert.public_bytes(DER))
    assert errors == [
        ("bad.pem:2", "PEM block CERTIFICATE is not valid base64"),
        ("cut.der", f"truncated DER: declares {size} bytes, file has 100"),
    ]


def test_wrong_pkcs12_password(tmp_path: Path, good_cert: x509.Certificate) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    enc = serialization.BestAvailableEncryption(b"right")
    (tmp_path / "a.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(b"a", key, None, None, enc)
    )
    (tmp_path / "pw").write_bytes(b"wrong\n")
    document = scan_json(str(tmp_path / "a.p12"), "--password-file", str(tmp_path / "pw"))
    assert document["credentials"] == []
    errors = [(e["where"], e["message"]) for e in document["errors"]]
    assert errors == [
        (str(tmp_path / "a.p12"), "PKCS#12: no password in the list opens it (or it is malformed)")
    ]


def test_invalid_utf8_and_binary_files(tmp_path: Path, good_cert: x509.Certificate) -> None:
    (tmp_path / "mixed.txt").write_bytes(b"\xff\xfe\x80 " + good_cert.public_bytes(PEM) + b"\xc3(")
    (tmp_path / "random.bin").write_bytes(bytes(range(1, 256)) * 300)
    fps, errors = _scan(tmp_path)
    assert fps == {cert_fp(good_cert)}
    assert errors == []


def test_huge_file_is_skipped_with_an_error(tmp_path: Path, good_cert: x509.Certificate) -> None:
    pem = good_cert.public_bytes(PEM)
    (tmp_path / "big.pem").write_bytes(pem + b"#" * 5000)
    (tmp_path / "small.pem").write_bytes(pem)
    fps, errors = _scan(tmp_path, max_size=len(pem) + 10)
    assert fps == {cert_fp(good_cert)}
    assert errors == [("big.pem", f"larger than {len(pem) + 10} bytes, skipped")]


def test_symlink_loops(tmp_path: Path, good_cert: x509.Certificate) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "c.pem").write_bytes(good_cert.public_bytes(PEM))
    os.symlink(tmp_path, tmp_path / "d" / "up")
    os.symlink("self", tmp_path / "self")
    document = _document(scan_files(FileScanRequest((str(tmp_path),))))
    assert [c["locations"] for c in document["credentials"]] == [
        [{"kind": "file", "location": str(tmp_path / "d" / "c.pem")}]
    ]
    assert document["errors"] == [
        {"where": str(tmp_path / "self"), "message": "symlink loop, not followed"}
    ]


def test_fifo_is_passed_over_not_opened(tmp_path: Path, good_cert: x509.Certificate) -> None:
    os.mkfifo(tmp_path / "a-pipe.pem")
    (tmp_path / "z.pem").write_bytes(good_cert.public_bytes(PEM))
    # A blocking open would hang: the subprocess timeout turns that into a failure.
    done = run_cli(str(tmp_path), "--output", "json", timeout=30)
    document = json.loads(done.stdout)
    assert {c["fingerprint"] for c in document["credentials"]} == {cert_fp(good_cert)}
    assert document["errors"] == [] and document["files_scanned"] == 1


def test_file_vanishing_during_the_scan(tmp_path: Path, good_cert: x509.Certificate) -> None:
    for name in ("a.pem", "b.pem", "c.pem"):
        (tmp_path / name).write_bytes(good_cert.public_bytes(PEM))

    class RemoveB:
        def total(self, units: int) -> None:
            assert units == 3

        def advance(self, units: int = 1) -> None:
            (tmp_path / "b.pem").unlink(missing_ok=True)

    result = scan_files(FileScanRequest((str(tmp_path),)), RemoveB())
    assert [(e.where, e.message) for e in result.errors] == [
        (str(tmp_path / "b.pem"), "cannot read: No such file or directory")
    ]
    assert [loc.location for loc in result.credentials[0].locations] == [
        str(tmp_path / "a.pem"),
        str(tmp_path / "c.pem"),
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads mode-000 directories")
def test_unreadable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        fps, errors = _scan(tmp_path)
    finally:
        locked.chmod(0o700)
    assert fps == set()
    assert errors == [("locked", "cannot list: Permission denied")]


def test_cli_refuses_missing_paths_and_bad_options(tmp_path: Path) -> None:
    done = run_cli(str(tmp_path / "nope"), "--output", "json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["errors"] == [
        {"where": str(tmp_path / "nope"), "message": "cannot read: No such file or directory"}
    ]
    bad = run_cli(str(tmp_path), "--max-file-size", "0")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    missing = run_cli(str(tmp_path), "--password-file", str(tmp_path / "none"))
    assert missing.returncode == 1
    assert "cannot read password file" in missing.stderr and "Traceback" not in missing.stderr
