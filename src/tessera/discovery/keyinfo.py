"""Public facts about keys and certificates found on disk: fingerprints, key type and size,
certificate fields. Only public data leaves this module; private keys are never kept."""

from __future__ import annotations

import base64
import hashlib
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import (
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from tessera.inventory.models import CredentialKind

_SIG_NAMES = {
    oid.dotted_string: name.lower()
    for name, oid in vars(SignatureAlgorithmOID).items()
    if isinstance(oid, x509.ObjectIdentifier)
}


@dataclass
class Finding:
    """One credential seen in one file (before deduplication); `line` is 1-based for text."""

    kind: CredentialKind
    fingerprint: str
    name: str
    line: int | None = None
    not_after: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """Something in a file that could not be read as the credential it looks like."""

    line: int | None
    message: str


@dataclass
class Parsed:
    """What parsing one file (or one part of it) gave: findings and problems, in file order."""

    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def extend(self, other: Parsed) -> None:
        self.findings += other.findings
        self.problems += other.problems

    def problem(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(line, message))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spki_fingerprint(key: PublicKeyTypes) -> str:
    """SHA-256 (hex) of the SubjectPublicKeyInfo DER: what links a key to its certificates."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256_hex(der)


def ssh_fingerprint(blob: bytes) -> str:
    """The OpenSSH `SHA256:` fingerprint of an SSH public key blob (as `ssh-keygen -l` prints)."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def ssh_blob(key: PublicKeyTypes) -> bytes | None:
    """The SSH wire blob of a public key, or None when SSH has no encoding for its type."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DSA is deprecated but still found on disk
            text = key.public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
    except (ValueError, UnsupportedAlgorithm):
        return None
    return base64.b64decode(text.split()[1])


def key_facts(key: PublicKeyTypes) -> dict[str, Any]:
    """`key_type`, `key_size` (bits) and, for EC, `curve`."""
    if isinstance(key, rsa.RSAPublicKey):
        return {"key_type": "rsa", "key_size": key.key_size}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"key_type": "ec", "key_size": key.curve.key_size, "curve": key.curve.name}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"key_type": "ed25519", "key_size": 256}
    if isinstance(key, ed448.Ed448PublicKey):
        return {"key_type": "ed448", "key_size": 456}
    if isinstance(key, dsa.DSAPublicKey):
        return {"key_type": "dsa", "key_size": key.key_size}
    if isinstance(key, x25519.X25519PublicKey):
        return {"key_type": "x25519", "key_size": 256}
    if isinstance(key, x448.X448PublicKey):
        return {"key_type": "x448", "key_size": 448}
    return {"key_type": type(key).__name__.lower()}


def private_key_finding(
    key: PrivateKeyTypes, fmt: str, unencrypted: bool, name: str, line: int | None = None
) -> Finding:
    """A private key as its public facts; the key object is not retained."""
    public = key.public_key()
    attributes: dict[str, Any] = {"format": fmt, "unencrypted": unencrypted}
    attributes.update(key_facts(public))
    blob = ssh_blob(public)
    if blob is not None:
        attributes["ssh_fingerprint"] = ssh_fingerprint(blob)
    return Finding(
        CredentialKind.PRIVATE_KEY, spki_fingerprint(public), name, line, attributes=attributes
    )


def locked_key_finding(der: bytes, fmt: str, name: str, line: int | None = None) -> Finding:
    """An encrypted private key that no listed password opens: its public key is unknown, so
    the fingerprint is the SHA-256 of the encrypted DER (`fingerprint_of` says so)."""
    attributes = {"format": fmt, "unencrypted": False, "fingerprint_of": "encrypted_key"}
    return Finding(CredentialKind.PRIVATE_KEY, sha256_hex(der), name, line, attributes=attributes)


def certificate_finding(cert: x509.Certificate, fmt: str, line: int | None = None) -> Finding:
    """A certificate's public facts; its fingerprint is the SHA-256 of its DER."""
    der = cert.public_bytes(serialization.Encoding.DER)
    attributes: dict[str, Any] = {
        "format": fmt,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "signature_algorithm": _SIG_NAMES.get(
            cert.signature_algorithm_oid.dotted_string, cert.signature_algorithm_oid.dotted_string
        ),
        "sans": [],
        "is_ca": False,
    }
    try:
        public = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        attributes["key_type"] = "unsupported"
    else:
        attributes.update(key_facts(public))
        attributes["public_key_fingerprint"] = spki_fingerprint(public)
    attributes["self_signed"] = _self_signed(cert)
    try:
        attributes["sans"] = _sans(cert)
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        attributes["is_ca"] = basic.ca
    except x509.ExtensionNotFound:
        pass
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        attributes["malformed_extensions"] = True
    return Finding(
        CredentialKind.X509_CERTIFICATE,
        sha256_hex(der),
        _cert_name(cert),
        line,
        cert.not_valid_after_utc,
        attributes,
    )


def _cert_name(cert: x509.Certificate) -> str:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if cns and isinstance(cns[0].value, str) and cns[0].value:
        return cns[0].value
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out = [f"DNS:{v}" for v in ext.get_values_for_type(x509.DNSName)]
    out += [f"IP:{v}" for v in ext.get_values_for_type(x509.IPAddress)]
    out += [f"URI:{v}" for v in ext.get_values_for_type(x509.UniformResourceIdentifier)]
    out += [f"email:{v}" for v in ext.get_values_for_type(x509.RFC822Name)]
    return out


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
