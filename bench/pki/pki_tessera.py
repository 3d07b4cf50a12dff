"""The Tessera side: CAs, profile and bench token (over HTTP or in-process), and the checks
that what was issued is right and stored.

Contract: `setup_http(addr, root_token)` creates the root and intermediate CAs (ec-p256), the
profile `bench-web` (issuer the intermediate, `*.example.com`, ec-p256 only, 720h) and the
policy `bench-pki` (`pki/sign/bench-web`: create), and returns a `TesseraPki` with a non-root
token holding that policy. `setup_inproc(container, root)` does the same through the services
and returns the same record plus the bench `Principal`. `count_issued_http` pages through
`GET /v1/pki/certs` (status `issued` or another, one CA) and returns the count;
`check_leaf(cert, issuer, csr_pem)` raises `AssertionError` unless `cert` is signed by
`issuer`, carries the CSR's key and name, and is an end-entity certificate;
`check_ocsp(der, cert, issuer)` unless `der` is a successful response saying `good` for `cert`,
signed by `issuer` or by a responder certificate that `issuer` signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from tessera.app import Container
from tessera.auth.models import CreateTokenRequest, Principal
from tessera.pki.models import CAKind, CreateCARequest, KeyType

ROOT_CA = "bench-root"
INT_CA = "bench-int"
PROFILE = "bench-web"
POLICY_NAME = "bench-pki"
POLICY = {
    "description": "PKI benchmark: sign CSRs with profile bench-web",
    "rules": [{"path": f"pki/sign/{PROFILE}", "capabilities": ["create"]}],
}
PROFILE_DOC = {
    "issuer": INT_CA,
    "description": "benchmark leaf certificates",
    "allowed_domains": ["*.example.com"],
    "allowed_key_types": ["ec-p256"],
    "ttl": "720h",
    "max_ttl": "720h",
    "usage": "server",
}
SIGN_PATH = f"/v1/pki/sign/{PROFILE}"
TOKEN_HEADER = "X-Tessera-Token"


@dataclass
class TesseraPki:
    token: str  # non-root, holds POLICY
    int_ca_id: str
    int_cert: x509.Certificate
    root_cert: x509.Certificate


def _pem_cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def setup_http(addr: str, root_token: str) -> TesseraPki:
    with httpx.Client(base_url=addr, headers={TOKEN_HEADER: root_token}, timeout=60) as c:
        root = c.post(
            "/v1/pki/cas",
            json={"name": ROOT_CA, "kind": "root", "common_name": "Bench Root CA",
                  "key_type": "ec-p256"},
        )  # fmt: skip
        root.raise_for_status()
        inter = c.post(
            "/v1/pki/cas",
            json={"name": INT_CA, "kind": "intermediate", "common_name": "Bench Issuing CA",
                  "key_type": "ec-p256", "parent": ROOT_CA, "ttl": "1825d"},
        )  # fmt: skip
        inter.raise_for_status()
        c.put(f"/v1/pki/profiles/{PROFILE}", json=PROFILE_DOC).raise_for_status()
        c.put(f"/v1/sys/policies/{POLICY_NAME}", json=POLICY).raise_for_status()
        made = c.post(
            "/v1/auth/token/create",
            json={"policies": [POLICY_NAME], "ttl": "24h", "display_name": "bench-pki"},
        )
        made.raise_for_status()
        return TesseraPki(
            token=str(made.json()["token"]),
            int_ca_id=str(inter.json()["id"]),
            int_cert=_pem_cert(inter.json()["certificate_pem"]),
            root_cert=_pem_cert(root.json()["certificate_pem"]),
        )


def setup_inproc(c: Container, root: Principal) -> tuple[TesseraPki, Principal]:
    root_ca = c.pki.cas.create(
        root,
        CreateCARequest(
            name=ROOT_CA, kind=CAKind.ROOT, common_name="Bench Root CA", key_type=KeyType.EC_P256
        ),
    )
    inter = c.pki.cas.create(
        root,
        CreateCARequest(
            name=INT_CA,
            kind=CAKind.INTERMEDIATE,
            common_name="Bench Issuing CA",
            key_type=KeyType.EC_P256,
            parent=ROOT_CA,
            ttl=timedelta(days=1825),
        ),
    )
    c.pki.profiles.write(root, PROFILE, PROFILE_DOC)
    c.policies.write(root, POLICY_NAME, POLICY)
    token = c.tokens.create(
        root, CreateTokenRequest(policies=(POLICY_NAME,), display_name="bench-pki")
    ).token
    principal = c.tokens.authenticate(token)
    assert not principal.is_root and POLICY_NAME in principal.policy_names
    pki = TesseraPki(
        token=token,
        int_ca_id=inter.id,
        int_cert=_pem_cert(inter.certificate_pem or ""),
        root_cert=_pem_cert(root_ca.certificate_pem or ""),
    )
    return pki, principal


def count_issued_http(addr: str, root_token: str, ca: str, status: str = "issued") -> int:
    total, cursor = 0, None
    with httpx.Client(base_url=addr, headers={TOKEN_HEADER: root_token}, timeout=60) as c:
        while True:
            params = {"ca": ca, "status": status, "limit": "1000"}
            if cursor:
                params["cursor"] = cursor
            r = c.get("/v1/pki/certs", params=params)
            r.raise_for_status()
            page = r.json()
            total += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return total


def check_leaf(cert: x509.Certificate, issuer: x509.Certificate, csr_pem: str) -> None:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    cert.verify_directly_issued_by(issuer)  # raises on a bad signature or issuer name
    assert cert.public_key() == csr.public_key(), "the certificate's key is not the CSR's"
    want = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [want], f"SANs {sans} != {want}"
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert not bc.ca, "a leaf must not be a CA"


def check_ocsp(der: bytes, cert: x509.Certificate, issuer: x509.Certificate) -> None:
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, resp.response_status
    assert resp.serial_number == cert.serial_number, "the answer is for another serial"
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD, resp.certificate_status
    signer = issuer
    if resp.certificates:  # a delegated responder, itself signed by the CA
        signer = resp.certificates[0]
        signer.verify_directly_issued_by(issuer)
    key = signer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and resp.signature_hash_algorithm
    key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))
