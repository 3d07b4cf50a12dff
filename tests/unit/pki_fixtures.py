"""In-process PKI set-up shared by the PKI service tests: a container with a root, an
intermediate and a `web` profile, on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.app import Container
from tessera.auth.models import Principal
from tessera.core.clock import FakeClock
from tessera.pki.models import CA, CAKind, CreateCARequest, IssuedCertificate, IssueRequest
from tests.helpers import make_container, root_principal

WEB_PROFILE: dict[str, Any] = {
    "issuer": "int",
    "allowed_domains": ["*.example.com", "example.com", "api-*.corp.test"],
    "allow_ip_sans": True,
    "allowed_ip_ranges": ["10.0.0.0/8", "127.0.0.1/32"],
    "allowed_uri_sans": ["spiffe://example.org/ns/*/sa/*"],
    "allowed_email_sans": ["*@example.com"],
    "ttl": "30d",
    "max_ttl": "90d",
}


@dataclass
class Env:
    c: Container
    clock: FakeClock
    root: Principal
    root_ca: CA
    int_ca: CA
    shares: list[str]

    def issue(self, **kw: Any) -> IssuedCertificate:
        kw.setdefault("profile", "web")
        return self.c.pki.issuance.issue(self.root, IssueRequest(**kw))

    def cert(self, issued: IssuedCertificate) -> x509.Certificate:
        return x509.load_pem_x509_certificate((issued.certificate.certificate_pem or "").encode())

    def count(self, table: str) -> int:
        from sqlalchemy import text

        with self.c.db.session() as s:
            return int(s.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def make_env(tmp_path: Path, database_url: str | None = None) -> Env:
    clock = FakeClock()
    c, shares, token = make_container(tmp_path, database_url=database_url, clock=clock)
    root = root_principal(c, token)
    root_ca = c.pki.cas.create(
        root, CreateCARequest(name="root", kind=CAKind.ROOT, common_name="Test Root")
    )
    int_ca = c.pki.cas.create(
        root,
        CreateCARequest(
            name="int", kind=CAKind.INTERMEDIATE, common_name="Test Issuing", parent="root"
        ),
    )
    c.pki.profiles.write(root, "web", dict(WEB_PROFILE))
    return Env(c, clock, root, root_ca, int_ca, shares)


def csr_pem(
    cn: str | None = "a.example.com",
    sans: list[x509.GeneralName] | None = None,
    key: Any = None,
    extensions: list[x509.ExtensionType] | None = None,
) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)] if cn else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    for ext in extensions or []:
        builder = builder.add_extension(ext, critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
