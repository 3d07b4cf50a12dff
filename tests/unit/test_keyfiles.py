"""File parsing for key and certificate discovery: every format, fingerprints, links, and
bad input, on bytes built here (no file system)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tessera.discovery.files import parse_file
from tessera.discovery.keyinfo import Finding, Parsed
from tessera.discovery.keylinks import merge
from tessera.discovery.models import Location
from tessera.inventory.models import CredentialKind, LocationKind

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
NOENC = serialization.NoEncryption()


def spki_fp(key: Any) -> str:
    """SHA-256 of the SubjectPublicKeyInfo of a public key, or of a private key's public key."""
    key = key.public_key() if hasattr(key, "private_bytes") else key
    der = key.public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def cert_fp(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(DER)).hexdigest()


def make_cert(
    key: Any, cn: str, issuer_key: Any = None, issuer_cn: str | None = None, ca: bool = False
) -> x509.Certificate:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    signer = issuer_key or key
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn or cn)]))
        .public_key(key.public_key())
        .serial_number(0x1234ABCD)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(f"{cn}.example"), x509.DNSName("alt.test")]),
            critical=False,
        )
        .sign(signer, None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def only(parsed: Parsed) -> Finding:
    assert parsed.problems == []
    assert len(parsed.findings) == 1
    return parsed.findings[0]


def test_pem_certificate_fields(ec_key: Any) -> None:
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = make_cert(ca_key, "Test CA", ca=True)
    leaf = make_cert(ec_key, "web", issuer_key=ca_key, issuer_cn="Test CA")
    found = only(parse_file(leaf.public_bytes(PEM), "web.crt", []))
    assert found.kind is CredentialKind.X509_CERTIFICATE
    assert found.fingerprint == cert_fp(leaf)
    assert found.name == "web"
    assert found.not_after == datetime(2030, 4, 1, tzinfo=UTC)
    attrs = found.attributes
    assert attrs["subject"] == "CN=web"
    assert attrs["issuer"] == "CN=Test CA"
    assert attrs["serial"] == "1234abcd"
    assert attrs["sans"] == ["DNS:web.example", "DNS:alt.test"]
    assert attrs["not_before"] == "2030-01-01T00:00:00+00:00"
    assert attrs["signature_algorithm"] == "ecdsa_with_sha256"
    assert attrs["self_signed"] is False
    assert attrs["is_ca"] is False
    assert attrs["public_key_fingerprint"] == spki_fp(ec_key)
    assert (attrs["key_type"], attrs["curve"], attrs["key_size"]) == ("ec", "secp256r1", 256)
    root = only(parse_file(ca.public_bytes(PEM), "ca.pem", []))
    assert root.attributes["self_signed"] is True
    assert root.attributes["is_ca"] is True


def test_chain_file_gives_one_finding_per_certificate_with_lines(ec_key: Any, ed_key: Any) -> None:
    first, second = make_cert(ec_key, "one"), make_cert(ed_key, "two")
    data = b"intro text\n" + first.public_bytes(PEM) + b"\n" + second.public_bytes(PEM)
    parsed = parse_file(data, "chain.txt", [])
    assert parsed.problems == []
    second_line = data.split(b"\n").index(b"-----BEGIN CERTIFICATE-----", 2) + 1
    assert second_line > 10
    assert [(f.fingerprint, f.line) for f in parsed.findings] == [
        (cert_fp(first), 2),
        (cert_fp(second), second_line),
    ]
    assert parsed.findings[1].attributes["signature_algorithm"] == "ed25519"


def test_der_certificate_found_by_content_whatever_its_name(ed_key: Any) -> None:
    cert = make_cert(ed_key, "der")
    found = only(parse_file(cert.public_bytes(DER), "blob.bin", []))
    assert (found.kind, found.fingerprint) == (CredentialKind.X509_CERTIFICATE, cert_fp(cert))


@pytest.mark.parametrize(
    ("which", "encoding", "fmt", "expected"),
    [
        ("ec", PEM, serialization.PrivateFormat.PKCS8, "pkcs8"),
        ("rsa", PEM, serialization.PrivateFormat.TraditionalOpenSSL, "pkcs1"),
        ("ec", PEM, serialization.PrivateFormat.TraditionalOpenSSL, "sec1"),
        ("ed", DER, serialization.PrivateFormat.PKCS8, "der-pkcs8"),
        ("rsa", DER, serialization.PrivateFormat.TraditionalOpenSSL, "der-pkcs1"),
        ("ec", DER, serialization.PrivateFormat.TraditionalOpenSSL, "der-sec1"),
    ],
)
def test_unencrypted_private_keys(
    request: pytest.FixtureRequest, which: str, encoding: Any, fmt: Any, expected: str
) -> None:
    key = request.getfixturevalue(f"{which}_key")
    found = only(parse_file(key.private_bytes(encoding, fmt, NOENC), "k", []))
    assert found.kind is CredentialKind.PRIVATE_KEY
    assert found.fingerprint == spki_fp(key)
    assert found.attributes["format"] == expected
    assert found.attributes["unencrypted"] is True
    assert found.attributes["key_type"] == {"ec": "ec", "rsa": "rsa", "ed": "ed25519"}[which]
    if which == "rsa":
        assert found.attributes["key_size"] == 2048


def test_encrypted_keys_open_with_a_listed_password_only(ec_key: Any) -> None:
    enc = serialization.BestAvailableEncryption(b"s3cret")
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        data = ec_key.private_bytes(PEM, fmt, enc)
        opened = only(parse_file(data, "k.pem", [b"wrong", b"s3cret"]))
        assert opened.fingerprint == spki_fp(ec_key)
        assert opened.attributes["unencrypted"] is False
        locked = only(parse_file(data, "k.pem", [b"wrong"]))
        assert locked.kind is CredentialKind.PRIVATE_KEY
        assert locked.fingerprint != spki_fp(ec_key)
        assert locked.attributes["fingerprint_of"] == "encrypted_key"
        assert locked.attributes["unencrypted"] is False
    der = ec_key.private_bytes(DER, serialization.PrivateFormat.PKCS8, enc)
    assert only(parse_file(der, "k.der", [b"s3cret"])).fingerprint == spki_fp(ec_key)
    assert only(parse_file(der, "k.der", [])).fingerprint == hashlib.sha256(der).hexdigest()


def test_pkcs12_empty_listed_and_unknown_passwords(ec_key: Any) -> None:
    cert = make_cert(ec_key, "p12")

    def p12(password: bytes) -> bytes:
        enc = serialization.BestAvailableEncryption(password) if password else NOENC
        return pkcs12.serialize_key_and_certificates(b"n", ec_key, cert, None, enc)

    open_found = parse_file(p12(b""), "a.p12", [])
    assert open_found.problems == []
    assert {(f.kind, f.fingerprint) for f in open_found.findings} == {
        (CredentialKind.PRIVATE_KEY, spki_fp(ec_key)),
        (CredentialKind.X509_CERTIFICATE, cert_fp(cert)),
    }
    assert open_found.findings[0].attributes["unencrypted"] is True
    listed = parse_file(p12(b"pfxpass"), "b.pfx", [b"x", b"pfxpass"])
    assert len(listed.findings) == 2
    assert listed.findings[0].attributes["unencrypted"] is False
    refused = parse_file(p12(b"other"), "c.bin", [b"x", b"pfxpass"])
    assert refused.findings == []
    assert [p.message for p in refused.problems] == [
        "PKCS#12: no password in the list opens it (or it is malformed)"
    ]


def _ssh_fp(key: Any) -> str:
    blob = base64.b64decode(
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split()[1]
    )
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def test_openssh_private_key_plain(ed_key: Any) -> None:
    data = ed_key.private_bytes(PEM, serialization.PrivateFormat.OpenSSH, NOENC)
    found = only(parse_file(data, "id_ed25519", []))
    assert (found.kind, found.fingerprint) == (CredentialKind.PRIVATE_KEY, spki_fp(ed_key))
    assert found.attributes["format"] == "openssh"
    assert found.attributes["unencrypted"] is True
    assert found.attributes["ssh_fingerprint"] == _ssh_fp(ed_key)


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_openssh_private_key_with_passphrase_read_without_it(tmp_path: Path) -> None:
    path = tmp_path / "id_ecdsa"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-N", "pass phrase", "-C", "c", "-f", str(path)],
        check=True,
    )
    found = only(parse_file(path.read_bytes(), "id_ecdsa", []))
    assert found.attributes["unencrypted"] is False
    assert found.attributes["cipher"] == "aes256-ctr"
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path) + ".pub"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert found.attributes["ssh_fingerprint"] == listed.stdout.split()[1]
    public = serialization.load_ssh_public_key(path.with_suffix(".pub").read_bytes())
    assert found.fingerprint == spki_fp(public)


def _pub_line(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def test_authorized_keys_with_options(ed_key: Any, ec_key: Any) -> None:
    text = (
        "# comment\n\n"
        f"{_pub_line(ed_key)} deploy@ci\n"
        f'command="echo a, b c",no-pty,from="10.0.0.1" {_pub_line(ec_key)} ops\n'
        "garbage line\n"
    )
    parsed = parse_file(text.encode(), "authorized_keys", [])
    assert [(f.fingerprint, f.line, f.name) for f in parsed.findings] == [
        (spki_fp(ed_key), 3, "deploy@ci"),
        (spki_fp(ec_key), 4, "ops"),
    ]
    assert parsed.findings[0].attributes["options"] == []
    assert parsed.findings[1].attributes["options"] == ["command", "no-pty", "from"]
    assert parsed.findings[1].attributes["ssh_fingerprint"] == _ssh_fp(ec_key)
    assert "echo" not in json.dumps(parsed.findings[1].attributes)
    assert [(p.line, p.message) for p in parsed.problems] == [(5, "not an SSH public key line")]


def test_known_hosts_plain_hashed_and_markers(ed_key: Any, ec_key: Any, rsa_key: Any) -> None:
    hashed = "|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|aGFzaGhhc2hoYXNoaGFzaGhhc2g="
    text = (
        f"host.example,10.0.0.2 {_pub_line(ed_key)}\n"
        f"{hashed} {_pub_line(ec_key)}\n"
        f"@cert-authority *.example {_pub_line(rsa_key)}\n"
        f"@revoked * {_pub_line(ed_key)}\n"
        "host-only-no-key\n"
    )
    parsed = parse_file(text.encode(), "known_hosts", [])
    rows = [
        (
            f.fingerprint,
            f.attributes["hosts"],
            f.attributes["hashed_hosts"],
            f.attributes.get("marker"),
        )
        for f in parsed.findings
    ]
    assert rows == [
        (spki_fp(ed_key), ["host.example", "10.0.0.2"], False, None),
        (spki_fp(ec_key), [hashed], True, None),
        (spki_fp(rsa_key), ["*.example"], False, "cert-authority"),
        (spki_fp(ed_key), ["*"], False, "revoked"),
    ]
    assert [(p.line, p.message) for p in parsed.problems] == [(5, "not a known_hosts line")]


def test_public_key_lines_embedded_in_other_text(ed_key: Any) -> None:
    text = f"users:\n  - keys: [{_pub_line(ed_key)} someone]\nssh-rsa AAAAnotbase64!\n"
    found = only(parse_file(text.encode(), "cloud-init.yaml", []))
    assert (found.kind, found.fingerprint) == (CredentialKind.SSH_KEY, spki_fp(ed_key))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"-----BEGIN CERTIFICATE-----\nnot*base64\n-----END CERTIFICATE-----\n",
            "not valid base64",
        ),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "has no END line"),
        (
            b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n",
            "malformed certificate",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n",
            "malformed or unsupported",
        ),
        (
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n"
            b"-----END OPENSSH PRIVATE KEY-----\n",
            "truncated",
        ),
    ],
)
def test_malformed_pem_is_a_problem(data: bytes, message: str) -> None:
    parsed = parse_file(data, "bad.pem", [])
    assert parsed.findings == []
    assert len(parsed.problems) == 1
    assert message in parsed.problems[0].message
    assert parsed.problems[0].line == 1


def test_truncated_der_is_a_problem_only_when_named_der(ed_key: Any) -> None:
    der = make_cert(ed_key, "t").public_bytes(DER)[:-20]
    parsed = parse_file(der, "server.der", [])
    assert parsed.findings == []
    assert [p.message for p in parsed.problems] == [
        f"truncated DER: declares {len(der) + 20} bytes, file has {len(der)}"
    ]
    assert parse_file(der, "random.bin", []).problems == []


def test_invalid_utf8_and_binary_noise(ec_key: Any) -> None:
    cert = make_cert(ec_key, "u")
    data = b"\xff\xfe\xc3(" + b"\n" + cert.public_bytes(PEM) + b"\x80\x81 ssh-ed25519 AAAA\xff\n"
    assert only(parse_file(data, "weird.txt", [])).fingerprint == cert_fp(cert)
    junk = bytes((i * 37 + 11) % 256 for i in range(50_000))
    assert parse_file(junk, "blob.bin", []) == Parsed()
    assert parse_file(b"0\n", "zero.txt", []) == Parsed()
    assert parse_file(b"junk", "x.p12", []).problems[0].message.startswith("not a DER")


def test_no_private_material_in_findings(rsa_key: Any) -> None:
    pem = rsa_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NOENC)
    dumped = json.dumps([f.attributes for f in parse_file(pem, "k", []).findings], default=str)
    numbers = rsa_key.private_numbers()
    for secret in (numbers.d, numbers.p, numbers.q):
        assert str(secret) not in dumped and format(secret, "x") not in dumped
    body = b"".join(pem.split(b"\n")[1:-2]).decode()
    assert body[10:60] not in dumped


def test_merge_links_keys_to_certificates_and_flags_copies(ec_key: Any, ed_key: Any) -> None:
    cert = make_cert(ec_key, "linked")
    other = make_cert(ed_key, "lonely")
    pkcs8 = ec_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NOENC)
    openssh = ed_key.private_bytes(PEM, serialization.PrivateFormat.OpenSSH, NOENC)
    files = {
        "/a/key.pem": pkcs8,
        "/b/key-copy.pem": pkcs8,
        "/a/cert.pem": cert.public_bytes(PEM),
        "/c/other.der": other.public_bytes(DER),
        "/c/id_ed25519.pub": _pub_line(ed_key).encode(),
        "/c/id_ed25519": openssh,
    }
    found = []
    for path, data in files.items():
        for finding in parse_file(data, path, []).findings:
            found.append((finding, Location(LocationKind.FILE, path)))
    creds = {(c.kind, c.fingerprint): c for c in merge(found)}
    assert set(creds) == {
        (CredentialKind.PRIVATE_KEY, spki_fp(ec_key)),
        (CredentialKind.PRIVATE_KEY, spki_fp(ed_key)),
        (CredentialKind.X509_CERTIFICATE, cert_fp(cert)),
        (CredentialKind.X509_CERTIFICATE, cert_fp(other)),
        (CredentialKind.SSH_KEY, spki_fp(ed_key)),
    }
    ec_priv = creds[(CredentialKind.PRIVATE_KEY, spki_fp(ec_key))]
    assert [loc.location for loc in ec_priv.locations] == ["/a/key.pem", "/b/key-copy.pem"]
    assert ec_priv.attributes["duplicate_locations"] is True
    assert ec_priv.attributes["certificates"] == [cert_fp(cert)]
    assert creds[(CredentialKind.X509_CERTIFICATE, cert_fp(cert))].attributes["private_key_found"]
    ed_priv = creds[(CredentialKind.PRIVATE_KEY, spki_fp(ed_key))]
    assert ed_priv.attributes["duplicate_locations"] is False
    assert ed_priv.attributes["certificates"] == [cert_fp(other)]
    assert ed_priv.attributes["ssh_public_key_found"] is True
    assert creds[(CredentialKind.SSH_KEY, spki_fp(ed_key))].attributes["private_key_found"]


def test_der_edge_cases(ed_key: Any) -> None:
    cert = make_cert(ed_key, "nl")
    with_newline = parse_file(cert.public_bytes(DER) + b"\n", "c.cer", [])
    assert only(with_newline).fingerprint == cert_fp(cert)
    spki = ed_key.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert parse_file(spki, "pub.der", []) == Parsed()
    junk = b"\x30\x03\x02\x01\x05"
    assert [p.message for p in parse_file(junk, "x.der", []).problems] == [
        "not a DER certificate, key or PKCS#12 file"
    ]
    assert parse_file(junk, "x.bin", []) == Parsed()


def test_public_key_files(ed_key: Any) -> None:
    line = _pub_line(ed_key)
    cert_line = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQ= host"
    parsed = parse_file(f"{cert_line}\n{line} me\n".encode(), "id.pub", [])
    assert [(f.line, f.name) for f in parsed.findings] == [(2, "me")]
    assert parsed.problems == []
    broken = parse_file(b"ssh-ed25519 AAAAC3NzaC1yc2E= me\n", "id.pub", [])
    assert broken.findings == []
    assert [(p.line, p.message) for p in broken.problems] == [
        (1, "malformed ssh-ed25519 public key")
    ]
    pem_public = ed_key.public_key().public_bytes(
        PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert parse_file(pem_public, "key.pub", []) == Parsed()
