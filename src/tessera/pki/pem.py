"""Bounded parsing of PEM/DER input: size checked before any parsing, typed errors after."""

from __future__ import annotations

import base64

from cryptography import x509

from tessera.pki.errors import BadCertificate, BadCSR

MAX_PEM = 64 * 1024
MAX_CERTS = 10


def load_csr(text: str) -> x509.CertificateSigningRequest:
    """A PEM CSR whose self-signature verifies."""
    if not isinstance(text, str) or len(text) > MAX_PEM:
        raise BadCSR(f"the CSR must be PEM text of at most {MAX_PEM} bytes")
    try:
        csr = x509.load_pem_x509_csr(text.strip().encode())
    except (ValueError, UnicodeEncodeError):
        raise BadCSR("the CSR is not a valid PEM certificate signing request") from None
    try:
        valid = csr.is_signature_valid
    except Exception:  # unsupported algorithms raise from deep in the backend
        valid = False
    if not valid:
        raise BadCSR("the CSR signature does not verify")
    try:
        csr.extensions  # noqa: B018 (parse now: duplicates and odd names are the caller's error)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        raise BadCSR("the CSR's extensions are malformed or repeated") from None
    return csr


def load_certificates(text: str, what: str) -> list[x509.Certificate]:
    """One or more PEM certificates (at most MAX_CERTS)."""
    if not isinstance(text, str) or len(text) > MAX_PEM:
        raise BadCertificate(f"{what} must be PEM text of at most {MAX_PEM} bytes")
    try:
        certs = x509.load_pem_x509_certificates(text.strip().encode())
    except (ValueError, UnicodeEncodeError):
        raise BadCertificate(f"{what} is not valid PEM certificate data") from None
    if len(certs) > MAX_CERTS:
        raise BadCertificate(f"{what}: at most {MAX_CERTS} certificates")
    for cert in certs:
        try:
            cert.extensions  # noqa: B018 (parse now, as for CSRs)
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
            raise BadCertificate(f"{what}: extensions are malformed or repeated") from None
    return certs


def armor(der: bytes, label: str) -> str:
    """PEM text (RFC 7468) of DER bytes, without parsing them."""
    body = base64.b64encode(der).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"
