"""pkilint (PKIX profile) over everything the PKI signs: CA, leaf and responder certificates, a
CRL with a revoked entry, and OCSP responses (good and revoked). Findings of severity WARNING
or worse fail; INFO and NOTICE do not."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.pki_helpers import (
    create_ca,
    crl_url_of,
    issue,
    lint,
    load_cert,
    ocsp_url_of,
    ok,
    path_of,
    poll,
    put_profile,
    revoke,
    write,
)


@dataclass
class Setup:
    c: httpx.Client
    dir: Path
    root: dict[str, Any]
    inter: dict[str, Any]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("pki-lint")
    srv: ServerProcess = start_server(base / "d", "--dev")
    try:
        with srv.client(dev_root_token(srv)) as c:
            root = create_ca(c, "lint-root", subject={"organization": "Tessera Tests"})
            inter = create_ca(c, "lint-int", "intermediate", parent="lint-root")
            for usage in ("server", "client", "server_and_client", "code_signing"):
                put_profile(c, f"lint-{usage.replace('_', '-')}", "lint-int", usage=usage)
            yield Setup(c, base, root, inter)
    finally:
        srv.stop()


def _assert_clean(tool: str, path: Path, *extra: str) -> None:
    findings = lint(tool, path, *extra)
    assert findings == [], f"{tool} {path.name}: {findings}"


def _lint_pem(s: Setup, name: str, pem: str) -> None:
    _assert_clean("lint_pkix_cert", write(s.dir / f"{name}.pem", pem))


@pytest.mark.parametrize("usage", ["server", "client", "server_and_client", "code_signing"])
def test_leaf_for_each_usage(setup: Setup, usage: str) -> None:
    issued = issue(
        setup.c, f"lint-{usage.replace('_', '-')}", common_name=f"{usage.replace('_', '-')}"
        ".example.test", alt_names=["alt.example.test"],
    )  # fmt: skip
    _lint_pem(setup, f"leaf-{usage}", issued["certificate_pem"])


@pytest.mark.parametrize("key_type", ["ed25519", "rsa-2048", "rsa-3072", "ec-p384"])
def test_leaf_key_types(setup: Setup, key_type: str) -> None:
    issued = issue(setup.c, "lint-server", common_name="k.example.test", key_type=key_type)
    _lint_pem(setup, f"leaf-{key_type}", issued["certificate_pem"])


def test_leaf_without_common_name(setup: Setup) -> None:
    """An empty subject: the SAN extension must be critical (RFC 5280 §4.2.1.6)."""
    name = "a" * 63 + ".example.test"  # too long for a common name (ub-common-name 64)
    issued = issue(setup.c, "lint-server", alt_names=[name])
    cert = load_cert(issued["certificate_pem"])
    assert len(cert.subject) == 0
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.DNSName) == [name]
    _lint_pem(setup, "leaf-no-cn", issued["certificate_pem"])


def test_root_and_intermediate(setup: Setup) -> None:
    _lint_pem(setup, "root", setup.root["certificate_pem"])
    _lint_pem(setup, "int", setup.inter["certificate_pem"])


@pytest.mark.parametrize("key_type", ["ed25519", "rsa-3072"])
def test_ca_key_types(setup: Setup, key_type: str) -> None:
    root = create_ca(setup.c, f"lint-root-{key_type}", key_type=key_type)
    inter = create_ca(
        setup.c, f"lint-int-{key_type}", "intermediate", parent=root["name"], key_type=key_type
    )
    _lint_pem(setup, f"root-{key_type}", root["certificate_pem"])
    _lint_pem(setup, f"int-{key_type}", inter["certificate_pem"])
    # the root's CRL (listing nothing yet) is signed with the same algorithm
    crl = write(setup.dir / f"crl-{key_type}.der", setup.c.get(path_of(root["crl_url"])).content)
    _assert_clean("lint_crl", crl, "-t", "CRL", "-p", "PKIX")


def _responder_pem(setup: Setup, ca: str) -> str:
    items = ok(setup.c.get("/v1/pki/certs", params={"ca": ca, "limit": 1000}))["items"]
    found = [x for x in items if x["common_name"].startswith("OCSP responder")]
    assert len(found) == 1, items
    pem: str = found[0]["certificate_pem"]
    return pem


def test_delegated_responder_certificate(setup: Setup) -> None:
    pem = _responder_pem(setup, "lint-int")
    cert = load_cert(pem)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]
    assert cert.extensions.get_extension_for_class(x509.OCSPNoCheck) is not None
    _lint_pem(setup, "responder", pem)


def _ocsp_der(setup: Setup, issued: dict[str, Any], issuer: dict[str, Any] | None = None) -> bytes:
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(
            load_cert(issued["certificate_pem"]),
            load_cert((issuer or setup.inter)["certificate_pem"]),
            hashes.SHA1(),
        )
        .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    r = setup.c.post(
        path_of(ocsp_url_of(issued["certificate_pem"])),
        content=req,
        headers={"content-type": "application/ocsp-request"},
    )
    assert r.status_code == 200
    return r.content


def test_crl_and_ocsp_responses(setup: Setup) -> None:
    issued = issue(setup.c, "lint-server", common_name="revoked.example.test")
    good = _ocsp_der(setup, issued)
    assert ocsp.load_der_ocsp_response(good).certificate_status == ocsp.OCSPCertStatus.GOOD
    _assert_clean("lint_ocsp_response", write(setup.dir / "ocsp-good.der", good))

    revoke(setup.c, issued["certificate"]["id"], "key_compromise")
    revoked = poll(
        lambda: _ocsp_der(setup, issued),
        lambda d: ocsp.load_der_ocsp_response(d).certificate_status == ocsp.OCSPCertStatus.REVOKED,
    )
    resp = ocsp.load_der_ocsp_response(revoked)
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason == x509.ReasonFlags.key_compromise
    _assert_clean("lint_ocsp_response", write(setup.dir / "ocsp-revoked.der", revoked))

    serial = int(issued["certificate"]["serial"], 16)
    url = path_of(crl_url_of(issued["certificate_pem"]))
    crl = poll(
        lambda: x509.load_der_x509_crl(setup.c.get(url).content),
        lambda x: x.get_revoked_certificate_by_serial_number(serial) is not None,
    )
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    path = write(setup.dir / "crl.der", crl.public_bytes(serialization.Encoding.DER))
    _assert_clean("lint_crl", path, "-t", "CRL", "-p", "PKIX")
    # and the root's CRL (empty) as well
    root_crl = setup.c.get(path_of(setup.root["crl_url"])).content
    _assert_clean(
        "lint_crl", write(setup.dir / "root-crl.der", root_crl), "-t", "CRL", "-p", "PKIX"
    )


def test_ocsp_response_signed_by_the_ca(setup: Setup) -> None:
    inter = create_ca(setup.c, "lint-int-ca-signs", "intermediate", parent="lint-root",
                      ocsp_signer="ca")  # fmt: skip
    put_profile(setup.c, "lint-ca-signs", inter["name"])
    issued = issue(setup.c, "lint-ca-signs", common_name="ca-signed.example.test")
    der = _ocsp_der(setup, issued, inter)
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD and resp.certificates == []
    _assert_clean("lint_ocsp_response", write(setup.dir / "ocsp-ca-signed.der", der))
