"""What a presented certificate chain tells: certificate details, and the flags an endpoint earns
(expiry, self-signed, trust, hostname per RFC 9525 / RFC 6125 section 6, weak keys and hashes)."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tessera.core.errors import InvalidRequest

MIN_RSA_BITS = 2048
_WEAK_HASHES = ("md5", "sha1")
# Where common distributions keep their CA bundle when OpenSSL's compiled-in default is absent.
_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
)


class Flag(StrEnum):
    """A problem found on an endpoint's certificate chain."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    SELF_SIGNED = "self_signed"
    UNTRUSTED = "untrusted"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    CHAIN_INCOMPLETE = "chain_incomplete"
    WEAK_KEY = "weak_key"
    WEAK_SIGNATURE = "weak_signature"


@dataclass(frozen=True)
class CertInfo:
    """The facts of one certificate as presented; `fingerprint` is the SHA-256 hex of its DER."""

    fingerprint: str
    subject: str
    subject_cn: str | None
    issuer: str
    serial: str
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    key_type: str
    key_size: int | None
    signature_algorithm: str
    signature_hash: str | None
    is_ca: bool


@dataclass(frozen=True)
class Trust:
    """Trust anchors (self-signed CA certificates) and known intermediates, which complete a
    chain but are never trusted on their own (as OpenSSL without partial chains)."""

    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()

    @cached_property
    def store(self) -> verification.Store | None:
        """The anchors as a verification store, built once; None when there are none."""
        return verification.Store(list(self.anchors)) if self.anchors else None


@dataclass(frozen=True)
class Evaluation:
    """The flags an endpoint earns and, when untrusted, why the chain did not verify."""

    flags: frozenset[Flag]
    trust_error: str | None = None


def describe(cert: x509.Certificate) -> CertInfo:
    """The facts of `cert`, tolerant of odd or legacy content."""
    key_type, key_size = _key(cert)
    try:
        hash_alg = cert.signature_hash_algorithm
        hash_name = hash_alg.name if hash_alg else None
    except UnsupportedAlgorithm:
        hash_name = None
    sig_name = getattr(cert.signature_algorithm_oid, "_name", None)
    return CertInfo(
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        subject=cert.subject.rfc4514_string(),
        subject_cn=_cn(cert.subject),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        sans=tuple(_sans(cert)),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=sig_name or cert.signature_algorithm_oid.dotted_string,
        signature_hash=hash_name,
        is_ca=_is_ca(cert),
    )


def evaluate(
    chain: Sequence[x509.Certificate],
    name: str,
    trust: Trust,
    extra_intermediates: Sequence[x509.Certificate],
    now: datetime,
) -> Evaluation:
    """Flags for a presented chain (leaf first) reached as `name` (the SNI name, else the host).

    Trust is judged at a time inside the leaf's validity, so that expiry is its own flag; a
    chain that verifies only with `trust.intermediates` or `extra_intermediates` (intermediates
    seen elsewhere) is `chain_incomplete`, not `untrusted`."""
    leaf = chain[0]
    flags: set[Flag] = set()
    if now > leaf.not_valid_after_utc:
        flags.add(Flag.EXPIRED)
    if now < leaf.not_valid_before_utc:
        flags.add(Flag.NOT_YET_VALID)
    if is_self_signed(leaf):
        flags.add(Flag.SELF_SIGNED)
    if not matches_hostname(name, leaf):
        flags.add(Flag.HOSTNAME_MISMATCH)
    if any(_weak_key(c) for c in chain):
        flags.add(Flag.WEAK_KEY)
    # A self-signature beyond the leaf (a root sent along) protects nothing: no client checks it.
    if any(_weak_hash(c) for i, c in enumerate(chain) if i == 0 or not is_self_signed(c)):
        flags.add(Flag.WEAK_SIGNATURE)
    at = min(max(now, leaf.not_valid_before_utc), leaf.not_valid_after_utc)
    error = _verify(leaf, list(chain[1:]), trust, at)
    if error is not None:
        more = [*trust.intermediates, *extra_intermediates]
        if more and _verify(leaf, [*chain[1:], *more], trust, at) is None:
            flags.add(Flag.CHAIN_INCOMPLETE)
            error = None
        else:
            flags.add(Flag.UNTRUSTED)
    return Evaluation(frozenset(flags), error)


def matches_hostname(name: str, cert: x509.Certificate) -> bool:
    """RFC 9525 / RFC 6125 section 6: IP names match IP SANs; DNS names match DNS SANs, where
    `*` may only be the whole leftmost label, stands for exactly one label, and never covers
    a public-suffix-like single label (`*.com`). The subject CN is never consulted."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return ip in san.get_values_for_type(x509.IPAddress)
    reference = name.rstrip(".").lower()
    return any(_dns_match(reference, p) for p in san.get_values_for_type(x509.DNSName))


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject and the certificate's own key verifies its signature."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def load_trust(ca_files: Sequence[Path], use_system: bool = True) -> Trust:
    """The system CA bundle (when `use_system`) plus every certificate in `ca_files`;
    self-signed ones become anchors, the others known intermediates."""
    certs: list[x509.Certificate] = []
    if use_system:
        bundle = system_bundle()
        if bundle is not None:
            certs.extend(_read_pem(bundle, strict=False))
    for path in ca_files:
        certs.extend(_read_pem(path, strict=True))
    anchors: dict[bytes, x509.Certificate] = {}
    others: dict[bytes, x509.Certificate] = {}
    for cert in certs:
        (anchors if is_self_signed(cert) else others)[cert.fingerprint(hashes.SHA256())] = cert
    return Trust(tuple(anchors.values()), tuple(others.values()))


def system_bundle() -> Path | None:
    """The CA bundle OpenSSL would use (honours SSL_CERT_FILE), or a common distribution path."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, *_BUNDLES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _verify(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], trust: Trust, at: datetime
) -> str | None:
    if trust.store is None:
        return "no trust anchors (no system CA bundle and no --ca-file)"
    verifier = (
        verification.PolicyBuilder()
        .store(trust.store)
        .time(at)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError as exc:
        return str(exc).split(" (encountered", 1)[0]
    return None


def _server_eku(
    policy: verification.Policy, cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    allowed = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)
    if eku is not None and not any(oid in eku for oid in allowed):
        raise ValueError("extended key usage does not allow TLS server authentication")


# The end-entity policy drops the hostname and SAN demands (judged apart, as their own flag) but
# keeps the rule that a certificate restricted by EKU must allow TLS server use. The client
# verifier is used only because it takes no reference name; its own EKU demand is replaced here.
_CA_POLICY = verification.ExtensionPolicy.webpki_defaults_ca()
_EE_POLICY = verification.ExtensionPolicy.permit_all().may_be_present(
    x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _server_eku
)


def _dns_match(reference: str, presented: str) -> bool:
    pattern = presented.rstrip(".").lower()
    if not pattern.startswith("*."):
        return "*" not in pattern and pattern == reference
    suffix = pattern[2:]
    if "*" in suffix or "." not in suffix:
        return False
    first, _, rest = reference.partition(".")
    return bool(first) and rest == suffix


def _read_pem(path: Path, strict: bool) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
        return x509.load_pem_x509_certificates(data)
    except OSError as exc:
        if strict:
            raise InvalidRequest(f"cannot read CA file {path}: {exc.strerror}") from None
    except ValueError:
        if strict:
            raise InvalidRequest(f"CA file {path} holds no readable PEM certificate") from None
    return []


def _key(cert: x509.Certificate) -> tuple[str, int | None]:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return cert.public_key_algorithm_oid.dotted_string, None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, None


def _weak_key(cert: x509.Certificate) -> bool:
    key_type, size = _key(cert)
    return key_type in ("RSA", "DSA") and size is not None and size < MIN_RSA_BITS


def _weak_hash(cert: x509.Certificate) -> bool:
    try:
        alg = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        # Only algorithms this cryptography build no longer knows (MD2, MD4) end up here.
        oid_name = getattr(cert.signature_algorithm_oid, "_name", "").lower()
        return "md" in oid_name or "sha1" in oid_name
    return alg is not None and alg.name in _WEAK_HASHES


def _cn(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    out = [f"DNS:{v}" for v in san.get_values_for_type(x509.DNSName)]
    out += [f"IP:{v}" for v in san.get_values_for_type(x509.IPAddress)]
    out += [f"URI:{v}" for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
    out += [f"email:{v}" for v in san.get_values_for_type(x509.RFC822Name)]
    return out


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False
