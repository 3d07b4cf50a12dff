"""`--public-url` decides the CRL, OCSP and CA-issuer URLs written into certificates."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from tests.conftest import dev_root_token, start_server

PUBLIC = "https://pki.example.test:8443"


def test_certificates_name_the_public_url(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "d", "--dev", "--public-url", PUBLIC + "/")
    try:
        with srv.client(dev_root_token(srv)) as c:
            assert (
                c.post(
                    "/v1/pki/cas", json={"name": "r", "kind": "root", "common_name": "R"}
                ).status_code
                == 201
            )
            ca = c.get("/v1/pki/cas/r").json()
            assert (
                c.put(
                    "/v1/pki/profiles/p", json={"issuer": "r", "allowed_domains": ["a.test"]}
                ).status_code
                == 200
            )
            r = c.post("/v1/pki/issue/p", json={"common_name": "a.test"})
            assert r.status_code == 200, r.text
        cert = x509.load_pem_x509_certificate(r.json()["certificate_pem"].encode())
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert [n.value for n in cdp[0].full_name or []] == [
            f"{PUBLIC}/v1/pki/public/{ca['id']}/crl.der"
        ]
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        urls = {d.access_method: d.access_location.value for d in aia}
        assert urls[AuthorityInformationAccessOID.OCSP] == f"{PUBLIC}/v1/pki/public/{ca['id']}/ocsp"
        assert ca["crl_url"] == f"{PUBLIC}/v1/pki/public/{ca['id']}/crl.der"
    finally:
        srv.stop()
