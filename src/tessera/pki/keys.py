"""Key generation, key-type detection and the signature hash each key type signs with."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PublicKeyTypes,
)

from tessera.pki.errors import KeyNotAllowed
from tessera.pki.models import KeyType

PrivateKey = CertificateIssuerPrivateKeyTypes
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
MAX_RSA_BITS = 8192


def generate(key_type: KeyType) -> PrivateKey:
    """A new private key of `key_type` from the OS CSPRNG (OpenSSL's)."""
    if key_type is KeyType.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if key_type is KeyType.EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    if key_type is KeyType.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    bits = int(key_type.value.split("-")[1])
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def describe(public_key: PublicKeyTypes) -> tuple[str, int]:
    """(algorithm, size in bits) of a public key, e.g. ("ec", 256), ("rsa", 3072)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ec", public_key.curve.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519", 256
    return type(public_key).__name__, 0


def key_type_of(public_key: PublicKeyTypes) -> KeyType:
    """The KeyType of a public key; unsupported algorithms, curves and sizes are refused."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if isinstance(public_key.curve, ec.SECP256R1):
            return KeyType.EC_P256
        if isinstance(public_key.curve, ec.SECP384R1):
            return KeyType.EC_P384
        raise KeyNotAllowed(f"EC curve {public_key.curve.name} is not supported (P-256, P-384)")
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    if isinstance(public_key, rsa.RSAPublicKey):
        bits = public_key.key_size
        if bits < 2048:
            raise KeyNotAllowed(f"RSA keys must have at least 2048 bits, this one has {bits}")
        if bits > MAX_RSA_BITS:
            raise KeyNotAllowed(f"RSA keys above {MAX_RSA_BITS} bits are not supported")
        if public_key.public_numbers().e != 65537:
            raise KeyNotAllowed("RSA public exponent must be 65537")
        # sizes between the named ones count as the named size below them
        return next(
            k for k in (KeyType.RSA_4096, KeyType.RSA_3072, KeyType.RSA_2048) if bits >= _bits(k)
        )
    raise KeyNotAllowed(f"{type(public_key).__name__} keys are not supported")


def _bits(key_type: KeyType) -> int:
    return int(key_type.value.split("-")[1])


def rsa_bits(public_key: PublicKeyTypes) -> int | None:
    return public_key.key_size if isinstance(public_key, rsa.RSAPublicKey) else None


def signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """The hash a CA key signs with: SHA-384 for P-384, none for Ed25519, SHA-256 otherwise."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def as_certificate_key(public_key: PublicKeyTypes) -> PublicKey:
    if not isinstance(
        public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
    ):
        raise KeyNotAllowed(f"{type(public_key).__name__} keys are not supported")
    return public_key


def spki_sha1(public_key: PublicKeyTypes) -> str:
    """SHA-1 of the subjectPublicKey BIT STRING: the OCSP issuerKeyHash and the usual SKI."""
    return x509.SubjectKeyIdentifier.from_public_key(as_certificate_key(public_key)).digest.hex()


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex (the inventory fingerprint)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def private_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def as_signing_key(key: object) -> PrivateKey:
    """The key if it can sign certificates here (RSA, EC, Ed25519), else KeyNotAllowed."""
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    raise KeyNotAllowed(f"{type(key).__name__} keys cannot sign certificates")
