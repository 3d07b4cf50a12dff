"""Certificates and private keys in PEM (RFC 7468) and DER: X.509, PKCS#8 (plain or encrypted),
PKCS#1, SEC1, PKCS#7 bundles, PKCS#12 (RFC 7292) and OpenSSH private keys. Encrypted keys are
opened with the caller's passwords only to learn their public key."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from tessera.discovery.keyinfo import (
    Parsed,
    certificate_finding,
    locked_key_finding,
    private_key_finding,
)
from tessera.discovery.sshfiles import openssh_private

MAX_DER = 256 * 1024
"""DER and PKCS#12 files larger than this are not certificates or keys anyone deploys."""

_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 #]{1,64})-----")
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_TRADITIONAL = {b"RSA PRIVATE KEY": "pkcs1", b"EC PRIVATE KEY": "sec1", b"DSA PRIVATE KEY": "dsa"}
# Outer DER content that starts `INTEGER 3` is a PFX (RFC 7292 §4); `OID signedData` is PKCS#7.
_PFX_VERSION = b"\x02\x01\x03"
_P7_SIGNED = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02"
Passwords = Sequence[bytes]


@dataclass(frozen=True)
class PemBlock:
    """One armored block: its label, 1-based line of BEGIN, headers (RFC 1421) and DER body."""

    label: bytes
    line: int
    headers: dict[bytes, bytes]
    der: bytes
    text: bytes


def pem_blocks(data: bytes, out: Parsed) -> list[PemBlock]:
    """Every well-formed PEM block of `data`; malformed ones become problems in `out`."""
    blocks: list[PemBlock] = []
    pos = 0
    while (match := _BEGIN.search(data, pos)) is not None:
        label = match.group(1)
        line = data.count(b"\n", 0, match.start()) + 1
        end_marker = b"-----END " + label + b"-----"
        end = data.find(end_marker, match.end())
        if end < 0:
            out.problem(line, f"PEM block {label.decode()} has no END line")
            pos = match.end()
            continue
        pos = end + len(end_marker)
        body = data[match.end() : end]
        block = _decode_block(label, line, body, data[match.start() : pos])
        if block is None:
            out.problem(line, f"PEM block {label.decode()} is not valid base64")
        else:
            blocks.append(block)
    return blocks


def _decode_block(label: bytes, line: int, body: bytes, text: bytes) -> PemBlock | None:
    headers: dict[bytes, bytes] = {}
    lines = body.replace(b"\r", b"").split(b"\n")
    payload: list[bytes] = []
    for raw in lines:
        stripped = raw.strip()
        if b":" in stripped and not payload:
            name, _, value = stripped.partition(b":")
            headers[name.strip()] = value.strip()
        elif stripped:
            payload.append(stripped)
    try:
        der = base64.b64decode(b"".join(payload), validate=True)
    except (binascii.Error, ValueError):
        return None
    return PemBlock(label, line, headers, der, text) if der else None


def parse_pem(data: bytes, name: str, passwords: Passwords) -> Parsed:
    """Certificates and private keys of every PEM block; other labels (CSRs, public keys,
    parameters, CRLs) are not credentials and are passed over."""
    out = Parsed()
    for block in pem_blocks(data, out):
        label, line = block.label, block.line
        if label in _CERT_LABELS:
            out.extend(_der_certificate(_first_element(block.der), "pem", line))
        elif label == b"PKCS7":
            out.extend(_pkcs7(block.der, "pem", line))
        elif label == b"PRIVATE KEY":
            out.extend(_unencrypted_key(block.der, "pkcs8", name, line))
        elif label == b"ENCRYPTED PRIVATE KEY":
            load = _der_loader(block.der)
            out.extend(_encrypted_key(load, block.der, "pkcs8", name, line, passwords))
        elif label in _TRADITIONAL:
            fmt = _TRADITIONAL[label]
            if b"ENCRYPTED" in block.headers.get(b"Proc-Type", b""):
                load = _pem_loader(block.text)
                out.extend(_encrypted_key(load, block.der, fmt, name, line, passwords))
            else:
                out.extend(_unencrypted_key(block.der, fmt, name, line))
        elif label == b"OPENSSH PRIVATE KEY":
            out.extend(openssh_private(block.der, name, line))
    return out


def der_extent(data: bytes) -> int | None:
    """Total length (header + content) a DER SEQUENCE at the start of `data` declares."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2 : 2 + count], "big")


def parse_der(data: bytes, name: str, passwords: Passwords, expected: bool) -> Parsed:
    """A DER certificate, key, PKCS#7 or PKCS#12 file. `expected` (its name says DER): a
    truncated or unknown structure is a problem; otherwise only exact DER is considered."""
    out = Parsed()
    extent = der_extent(data)
    if extent is not None and extent < len(data) and not data[extent:].strip():
        data = data[:extent]  # a trailing newline some tools add
    if extent is None or extent != len(data):
        if expected and extent is not None and extent > len(data):
            out.problem(None, f"truncated DER: declares {extent} bytes, file has {len(data)}")
        elif expected:
            out.problem(None, "not a DER certificate, key or PKCS#12 file")
        return out
    content = data[2 + (data[1] & 0x7F if data[1] >= 0x80 else 0) :]
    if content.startswith(_PFX_VERSION):
        return parse_pkcs12(data, name, passwords)
    if content.startswith(_P7_SIGNED):
        return _pkcs7(data, "der", None)
    found = _der_certificate(data, "der", None)
    if found.findings:
        return found
    found = _unencrypted_key(data, _der_key_format(content), name, None)
    if found.findings:
        return found
    load = _der_loader(data)
    if _is_encrypted(load):
        return _encrypted_key(load, data, "der", name, None, passwords)
    if expected and not _is_public_key(data):
        out.problem(None, "not a DER certificate, key or PKCS#12 file")
    return out


def _is_public_key(der: bytes) -> bool:
    """A DER SubjectPublicKeyInfo: public, so not a credential, but not malformed either."""
    try:
        serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def parse_pkcs12(data: bytes, name: str, passwords: Passwords) -> Parsed:
    """The key and certificates of a PFX, opened with no password, an empty one, or one of
    `passwords`; a PFX none of them opens is a problem."""
    out = Parsed()
    for index, password in enumerate((None, b"", *passwords)):
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        if key is not None:
            out.findings.append(private_key_finding(key, "pkcs12", index < 2, name))
        for each in (cert, *extra):
            if each is not None:
                out.findings.append(certificate_finding(each, "pkcs12"))
        return out
    out.problem(None, "PKCS#12: no password in the list opens it (or it is malformed)")
    return out


def _der_key_format(content: bytes) -> str:
    # After `version INTEGER`: PKCS#8 has an AlgorithmIdentifier SEQUENCE, PKCS#1 the modulus
    # INTEGER, SEC1 the private key OCTET STRING.
    if content[:2] == b"\x02\x01" and len(content) > 3:
        return {0x30: "der-pkcs8", 0x02: "der-pkcs1", 0x04: "der-sec1"}.get(content[3], "der")
    return "der"


def _first_element(der: bytes) -> bytes:
    # An OpenSSL TRUSTED CERTIFICATE is the certificate followed by trust settings.
    extent = der_extent(der)
    return der[:extent] if extent is not None and extent < len(der) else der


def _der_certificate(der: bytes, fmt: str, line: int | None) -> Parsed:
    out = Parsed()
    try:
        cert = x509.load_der_x509_certificate(der)
        out.findings.append(certificate_finding(cert, fmt, line))
    except (ValueError, UnsupportedAlgorithm):
        out.problem(line, "malformed certificate")
    return out


def _pkcs7(der: bytes, fmt: str, line: int | None) -> Parsed:
    out = Parsed()
    try:
        certs = pkcs7.load_der_pkcs7_certificates(der)
    except (ValueError, UnsupportedAlgorithm):
        out.problem(line, "malformed PKCS#7 certificate bundle")
        return out
    for cert in certs:
        out.findings.append(certificate_finding(cert, f"pkcs7-{fmt}", line))
    return out


Loader = Callable[[bytes | None], PrivateKeyTypes]


def _der_loader(der: bytes) -> Loader:
    return lambda password: serialization.load_der_private_key(der, password)


def _pem_loader(text: bytes) -> Loader:
    return lambda password: serialization.load_pem_private_key(text, password)


def _unencrypted_key(der: bytes, fmt: str, name: str, line: int | None) -> Parsed:
    out = Parsed()
    try:
        key = serialization.load_der_private_key(der, None)
    except TypeError:
        out.problem(line, "private key is encrypted but not marked so")
        return out
    except (ValueError, UnsupportedAlgorithm):
        out.problem(line, "malformed or unsupported private key")
        return out
    out.findings.append(private_key_finding(key, fmt, True, name, line))
    return out


def _is_encrypted(load: Loader) -> bool:
    try:
        load(None)
    except TypeError:
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return False


def _encrypted_key(
    load: Loader, der: bytes, fmt: str, name: str, line: int | None, passwords: Passwords
) -> Parsed:
    """An encrypted key opened by the first password that works; when none does it is still
    a credential found, fingerprinted by its encrypted bytes."""
    out = Parsed()
    for password in passwords:
        try:
            key = load(password)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        finding = private_key_finding(key, fmt, False, name, line)
        finding.attributes["opened_with_password_list"] = True
        out.findings.append(finding)
        return out
    out.findings.append(locked_key_finding(der, fmt, name, line))
    return out
