"""What both peers are sent: ECDSA P-256 CSRs and OCSP requests, and the body files for wrk.

Contract: `make_csrs(n)` returns n distinct CSRs (PEM), the i-th for `bench-<i>.example.com`
(subject CN and one DNS SAN, each with its own new P-256 key, signed with SHA-256).
`write_bodies(path, bodies)` writes one hex-encoded body per line, the format the wrk script
(`pki_wrk`) loads. `cfssl_body(pem)` / `tessera_body(pem)` are the JSON bodies of the two sign
endpoints. `ocsp_requests(certs, issuer, nonces)` builds DER OCSP requests (SHA-1 CertID, as
RFC 5019 clients send), one per certificate, or `nonces` per certificate with random
16-byte nonces.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

DOMAIN = "example.com"


def host(i: int) -> str:
    return f"bench-{i}.{DOMAIN}"


def make_csrs(n: int) -> list[str]:
    out: list[str] = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        name = host(i)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        out.append(csr.public_bytes(serialization.Encoding.PEM).decode())
    return out


def cfssl_body(csr_pem: str) -> bytes:
    return json.dumps({"certificate_request": csr_pem}).encode()


def tessera_body(csr_pem: str) -> bytes:
    return json.dumps({"csr": csr_pem}).encode()


def write_bodies(path: Path, bodies: Sequence[bytes]) -> Path:
    path.write_text("".join(body.hex() + "\n" for body in bodies))
    return path


def ocsp_requests(
    certs: Sequence[x509.Certificate], issuer: x509.Certificate, nonces: int = 0
) -> list[bytes]:
    out: list[bytes] = []
    for cert in certs:
        for _ in range(max(1, nonces)):
            builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
            if nonces:
                builder = builder.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
            out.append(builder.build().public_bytes(serialization.Encoding.DER))
    return out
