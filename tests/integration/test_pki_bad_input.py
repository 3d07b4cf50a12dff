"""Bad PKI input over real HTTP: every case gets its typed problem+json answer (or the OCSP
error status a relying party expects), never a 500, and records nothing — the certificate list
and the inventory keep their counts."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.pki_helpers import (
    cert_count,
    create_ca,
    credential_count,
    issue,
    load_cert,
    make_csr,
    ok,
    path_of,
    problem,
    put_profile,
)

WEB = "bad-web"  # *.example.test, no wildcards, no IPs, ttl 1d, max_ttl 30d
P256_ONLY = "bad-p256"  # like WEB, but only ec-p256 keys
GONE = "bad-gone-web"  # issues from a revoked CA


@dataclass
class Pki:
    c: httpx.Client
    int_ca: dict[str, Any]
    other_ca: dict[str, Any]
    int_leaf: dict[str, Any]
    other_leaf: dict[str, Any]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pki]:
    srv: ServerProcess = start_server(tmp_path_factory.mktemp("pki-bad") / "d", "--dev")
    try:
        with srv.client(dev_root_token(srv)) as c:
            create_ca(c, "bad-root")
            int_ca = create_ca(c, "bad-int", "intermediate", parent="bad-root")
            other_ca = create_ca(c, "bad-other")
            put_profile(
                c, WEB, "bad-int", ttl="1d", max_ttl="30d", allowed_domains=["*.example.test"]
            )
            put_profile(c, P256_ONLY, "bad-int", allowed_key_types=["ec-p256"])
            put_profile(c, "bad-other-web", "bad-other")
            create_ca(c, "bad-gone")
            put_profile(c, GONE, "bad-gone")
            issue(c, GONE, common_name="before.example.test")
            gone = ok(c.post("/v1/pki/cas/bad-gone/revoke", json={"reason": "key_compromise"}))
            assert gone["status"] == "revoked"
            int_leaf = issue(c, WEB, common_name="int.example.test")
            other_leaf = issue(c, "bad-other-web", common_name="other.example.test")
            yield Pki(c, int_ca, other_ca, int_leaf, other_leaf)
    finally:
        srv.stop()


@contextmanager
def nothing_recorded(c: httpx.Client) -> Iterator[None]:
    before = cert_count(c), credential_count(c)
    yield
    assert (cert_count(c), credential_count(c)) == before


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _broken_signature_csr() -> str:
    pem = make_csr(_p256(), "a.example.test", ["a.example.test"])
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last octet of the ECDSA signature's s
    broken = x509.load_der_x509_csr(bytes(der))
    assert not broken.is_signature_valid
    return broken.public_bytes(serialization.Encoding.PEM).decode()


def _dsa_csr() -> str:
    key = dsa.generate_private_key(2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.example.test")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _dirname_csr() -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.example.test")]))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))]
            ),
            critical=False,
        )
        .sign(_p256(), hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _garbage_pem() -> str:
    junk = base64.encodebytes(b"\x30\x82\x7f\xff" + bytes(200)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{junk}-----END CERTIFICATE REQUEST-----\n"


Body = Callable[[], dict[str, Any]]

# (id, path, body, status, problem slug)
JSON_CASES: list[tuple[str, str, Body, int, str]] = [
    ("csr-broken-signature", f"/v1/pki/sign/{WEB}", lambda: {"csr": _broken_signature_csr()},
     400, "pki-bad-csr"),
    ("csr-garbage-pem", f"/v1/pki/sign/{WEB}", lambda: {"csr": _garbage_pem()}, 400, "pki-bad-csr"),
    ("csr-not-pem", f"/v1/pki/sign/{WEB}", lambda: {"csr": "hello, CA"}, 400, "pki-bad-csr"),
    ("csr-der-base64", f"/v1/pki/sign/{WEB}", lambda: {"csr": base64.b64encode(
        x509.load_pem_x509_csr(make_csr(_p256(), "a.example.test").encode()).public_bytes(
            serialization.Encoding.DER)).decode()}, 400, "pki-bad-csr"),
    ("csr-san-outside-profile", f"/v1/pki/sign/{WEB}", lambda: {"csr": make_csr(
        _p256(), "a.example.test", ["a.example.test", "www.evil.test"])},
     400, "pki-name-not-allowed"),
    ("csr-cn-not-a-host", f"/v1/pki/sign/{WEB}", lambda: {"csr": make_csr(_p256(), "My Service")},
     400, "pki-name-not-allowed"),
    ("csr-ip-san", f"/v1/pki/sign/{WEB}", lambda: {"csr": make_csr(
        _p256(), "a.example.test", ips=[ip_address("10.0.0.1")])}, 400, "pki-name-not-allowed"),
    ("csr-wildcard", f"/v1/pki/sign/{WEB}", lambda: {"csr": make_csr(
        _p256(), None, ["*.example.test"])}, 400, "pki-name-not-allowed"),
    ("csr-directory-name-san", f"/v1/pki/sign/{WEB}", lambda: {"csr": _dirname_csr()},
     400, "pki-name-not-allowed"),
    ("csr-rsa-1024", f"/v1/pki/sign/{WEB}", lambda: {"csr": make_csr(
        rsa.generate_private_key(65537, 1024), "a.example.test")}, 400, "pki-key-not-allowed"),
    ("csr-rsa-exponent-3", f"/v1/pki/sign/{WEB}", lambda: {"csr": make_csr(
        rsa.generate_private_key(3, 2048), "a.example.test")}, 400, "pki-key-not-allowed"),
    ("csr-ec-p521", f"/v1/pki/sign/{WEB}", lambda: {"csr": make_csr(
        ec.generate_private_key(ec.SECP521R1()), "a.example.test")}, 400, "pki-key-not-allowed"),
    ("csr-dsa", f"/v1/pki/sign/{WEB}", lambda: {"csr": _dsa_csr()}, 400, "pki-key-not-allowed"),
    ("csr-key-type-not-in-profile", f"/v1/pki/sign/{P256_ONLY}", lambda: {"csr": make_csr(
        ed25519.Ed25519PrivateKey.generate(), "a.example.test")}, 400, "pki-key-not-allowed"),
    ("issue-key-type-not-in-profile", f"/v1/pki/issue/{P256_ONLY}", lambda: {
        "common_name": "a.example.test", "key_type": "rsa-2048"}, 400, "pki-key-not-allowed"),
    ("san-outside-profile", f"/v1/pki/issue/{WEB}", lambda: {
        "alt_names": ["a.example.test", "a.example.org"]}, 400, "pki-name-not-allowed"),
    ("cn-outside-profile", f"/v1/pki/issue/{WEB}", lambda: {"common_name": "example.test"},
     400, "pki-name-not-allowed"),
    ("wildcard-not-allowed", f"/v1/pki/issue/{WEB}", lambda: {"alt_names": ["*.example.test"]},
     400, "pki-name-not-allowed"),
    ("ip-san-not-allowed", f"/v1/pki/issue/{WEB}", lambda: {
        "common_name": "a.example.test", "ip_sans": ["10.0.0.1"]}, 400, "pki-name-not-allowed"),
    ("uri-san-not-allowed", f"/v1/pki/issue/{WEB}", lambda: {
        "uri_sans": ["spiffe://example.test/x"]}, 400, "pki-name-not-allowed"),
    ("ip-san-with-zone", f"/v1/pki/issue/{WEB}", lambda: {"ip_sans": ["fe80::1%eth0"]},
     400, "invalid-request"),
    ("no-names", f"/v1/pki/issue/{WEB}", lambda: {}, 400, "invalid-request"),
    ("ttl-above-max", f"/v1/pki/issue/{WEB}", lambda: {
        "common_name": "a.example.test", "ttl": "31d"}, 400, "pki-ttl-too-long"),
    ("csr-ttl-above-max", f"/v1/pki/sign/{WEB}", lambda: {
        "csr": make_csr(_p256(), "a.example.test"), "ttl": 90 * 86400}, 400, "pki-ttl-too-long"),
    ("ttl-zero", f"/v1/pki/issue/{WEB}", lambda: {"common_name": "a.example.test", "ttl": 0},
     400, "invalid-request"),
    ("csr-field-over-64k", f"/v1/pki/sign/{WEB}", lambda: {"csr": "A" * (64 * 1024 + 1)},
     400, "invalid-request"),
    ("unknown-profile-issue", "/v1/pki/issue/no-such-profile", lambda: {
        "common_name": "a.example.test"}, 404, "not-found"),
    ("unknown-profile-sign", "/v1/pki/sign/no-such-profile", lambda: {
        "csr": make_csr(_p256(), "a.example.test")}, 404, "not-found"),
    ("revoked-ca-issue", f"/v1/pki/issue/{GONE}", lambda: {"common_name": "a.example.test"},
     409, "pki-ca-unavailable"),
    ("revoked-ca-sign", f"/v1/pki/sign/{GONE}", lambda: {
        "csr": make_csr(_p256(), "a.example.test")}, 409, "pki-ca-unavailable"),
    ("unknown-field-issue", f"/v1/pki/issue/{WEB}", lambda: {
        "common_name": "a.example.test", "is_ca": True}, 400, "invalid-request"),
    ("unknown-field-sign", f"/v1/pki/sign/{WEB}", lambda: {
        "csr": make_csr(_p256(), "a.example.test"), "extensions": []}, 400, "invalid-request"),
    ("ca-unknown-field", "/v1/pki/cas", lambda: {
        "name": "x1", "kind": "root", "common_name": "x", "path_len": 3}, 400, "invalid-request"),
    ("ca-unknown-parent", "/v1/pki/cas", lambda: {
        "name": "x2", "kind": "intermediate", "common_name": "x", "parent": "nope"},
     404, "not-found"),
    ("ca-child-of-revoked", "/v1/pki/cas", lambda: {
        "name": "x3", "kind": "intermediate", "common_name": "x", "parent": "bad-gone"},
     409, "pki-ca-unavailable"),
    ("ca-country-not-letters", "/v1/pki/cas", lambda: {
        "name": "x4", "kind": "root", "common_name": "x", "subject": {"country": "éé"}},
     400, "invalid-request"),
    ("ca-country-one-letter", "/v1/pki/cas", lambda: {
        "name": "x5", "kind": "root", "common_name": "x", "subject": {"country": "U"}},
     400, "invalid-request"),
    ("ca-organization-control-char", "/v1/pki/cas", lambda: {
        "name": "x6", "kind": "root", "common_name": "x", "subject": {"organization": "a\x00b"}},
     400, "invalid-request"),
    ("ca-ttl-zero", "/v1/pki/cas", lambda: {"name": "x7", "kind": "root", "common_name": "x",
                                            "ttl": 0}, 400, "invalid-request"),
    ("ca-import-garbage", "/v1/pki/cas/bad-int/import", lambda: {
        "certificate": "junk", "chain": "junk"}, 400, "pki-bad-certificate"),
    ("revoke-unknown-serial", "/v1/pki/revoke", lambda: {"ca": "bad-int", "serial": "0abc"},
     404, "not-found"),
    ("revoke-non-hex-serial", "/v1/pki/revoke", lambda: {"ca": "bad-int", "serial": "xyz"},
     404, "not-found"),
    ("revoke-unknown-cert-id", "/v1/pki/revoke", lambda: {"cert_id": "01NOSUCHCERT"},
     404, "not-found"),
    ("revoke-unknown-ca", "/v1/pki/revoke", lambda: {"ca": "nope", "serial": "0abc"},
     404, "not-found"),
    ("revoke-unknown-field", "/v1/pki/revoke", lambda: {"cert_id": "01X", "why": "x"},
     400, "invalid-request"),
    ("revoke-bad-reason", "/v1/pki/revoke", lambda: {"ca": "bad-int", "serial": "0abc",
                                                     "reason": "certificate_hold"},
     400, "invalid-request"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "status", "slug"),
    [pytest.param(*case[1:], id=case[0]) for case in JSON_CASES],
)
def test_refused_and_nothing_recorded(
    pki: Pki, path: str, body: Body, status: int, slug: str
) -> None:
    payload = body()
    with nothing_recorded(pki.c):
        problem(pki.c.post(path, json=payload), status, slug)


PROFILE_CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("unknown-ca", "p-unknown-ca", {"issuer": "no-such-ca"}, 404, "not-found"),
    ("unknown-field", "p-unknown-field", {"issuer": "bad-int", "allow_any_name": True},
     400, "invalid-request"),
    ("bad-domain-pattern", "p-domain", {"issuer": "bad-int", "allowed_domains": ["a b"]},
     400, "invalid-request"),
    ("bad-ip-range", "p-range", {"issuer": "bad-int", "allow_ip_sans": True,
                                 "allowed_ip_ranges": ["10.0.0.0/33"]}, 400, "invalid-request"),
    ("ttl-above-max-ttl", "p-ttl", {"issuer": "bad-int", "ttl": "10d", "max_ttl": "1d"},
     400, "invalid-request"),
    ("unknown-usage", "p-usage", {"issuer": "bad-int", "usage": "ca"}, 400, "invalid-request"),
    ("country-not-letters", "p-country", {"issuer": "bad-int", "subject": {"country": "éé"}},
     400, "invalid-request"),
    ("bad-name", "Bad Name", {"issuer": "bad-int"}, 400, "invalid-request"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "doc", "status", "slug"),
    [pytest.param(*case[1:], id=case[0]) for case in PROFILE_CASES],
)
def test_profile_write_refused(
    pki: Pki, name: str, doc: dict[str, Any], status: int, slug: str
) -> None:
    names_before = ok(pki.c.get("/v1/pki/profiles"))["names"]
    with nothing_recorded(pki.c):
        problem(pki.c.put(f"/v1/pki/profiles/{name}", json=doc), status, slug)
    assert ok(pki.c.get("/v1/pki/profiles"))["names"] == names_before


def test_body_of_one_mebibyte_is_refused_not_500(pki: Pki) -> None:
    pem = "-----BEGIN CERTIFICATE REQUEST-----\n" + "QUFB\n" * (1 << 18)
    body = json.dumps({"csr": pem}).encode()
    assert len(body) > 1 << 20
    with nothing_recorded(pki.c):
        r = pki.c.post(
            f"/v1/pki/sign/{WEB}", content=body, headers={"content-type": "application/json"}
        )
        assert r.status_code in (400, 413), r.text
        slug = "payload-too-large" if r.status_code == 413 else "invalid-request"
        problem(r, r.status_code, slug)
        # just under the body limit, the 64 KiB CSR limit of the schema answers
        small = json.dumps({"csr": "A" * (1000 * 1000)}).encode()
        assert len(small) < 1 << 20
        r = pki.c.post(
            f"/v1/pki/sign/{WEB}", content=small, headers={"content-type": "application/json"}
        )
        problem(r, 400, "invalid-request")


def test_issue_malformed_json_and_wrong_types(pki: Pki) -> None:
    with nothing_recorded(pki.c):
        problem(
            pki.c.post(
                f"/v1/pki/issue/{WEB}",
                content=b'{"common_name": "a.example.test"',
                headers={"content-type": "application/json"},
            ),
            400,
            "malformed-json",
        )
        wrong_type = {"alt_names": "a.example.test"}
        problem(pki.c.post(f"/v1/pki/issue/{WEB}", json=wrong_type), 400, "invalid-request")
        float_ttl = {"alt_names": ["a.example.test"], "ttl": 1.5}
        problem(pki.c.post(f"/v1/pki/issue/{WEB}", json=float_ttl), 400, "invalid-request")


# -- OCSP: errors are OCSP responses (HTTP 200), never problem+json ------------------------------
def _ocsp_request(
    leaf: dict[str, Any], issuer: dict[str, Any], nonce: bytes | None = None
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        load_cert(leaf["certificate_pem"]),
        load_cert(issuer["certificate_pem"]),
        hashes.SHA1(),
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _ocsp_status(r: httpx.Response) -> ocsp.OCSPResponseStatus:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(r.content).response_status


def _post(c: httpx.Client, ca: dict[str, Any], der: bytes) -> httpx.Response:
    return c.post(
        path_of(ca["ocsp_url"]), content=der, headers={"content-type": "application/ocsp-request"}
    )


def test_ocsp_for_another_cas_certificate_is_unauthorized(pki: Pki) -> None:
    with nothing_recorded(pki.c):
        # sanity: each responder answers for its own certificate
        own = _post(pki.c, pki.int_ca, _ocsp_request(pki.int_leaf, pki.int_ca))
        assert _ocsp_status(own) == ocsp.OCSPResponseStatus.SUCCESSFUL
        # a request built for CA B (its issuer hashes and serial) posted to CA A's responder
        cross = _post(pki.c, pki.int_ca, _ocsp_request(pki.other_leaf, pki.other_ca))
        assert _ocsp_status(cross) == ocsp.OCSPResponseStatus.UNAUTHORIZED
        # B's serial with A's issuer hashes is A's business: A never issued it
        forged = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            *_issuer_hashes(pki.int_ca),
            int(pki.other_leaf["certificate"]["serial"], 16),
            hashes.SHA1(),
        ).build().public_bytes(serialization.Encoding.DER)  # fmt: skip
        resp = ocsp.load_der_ocsp_response(_post(pki.c, pki.int_ca, forged).content)
        assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def _issuer_hashes(ca: dict[str, Any]) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of a CertID naming `ca` as the issuer."""
    cert = load_cert(ca["certificate_pem"])
    name = hashes.Hash(hashes.SHA1())
    name.update(cert.subject.public_bytes())
    key = x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    return name.finalize(), key.digest


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"garbage", id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\x30\x82\xff\xff" + bytes(64), id="truncated-der"),
        pytest.param(bytes(16 * 1024), id="over-8k"),
    ],
)
def test_ocsp_garbage_is_malformed_request(pki: Pki, body: bytes) -> None:
    with nothing_recorded(pki.c):
        r = _post(pki.c, pki.int_ca, body)
        assert _ocsp_status(r) == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_ocsp_bad_nonce_get_and_unknown_ca(pki: Pki) -> None:
    with nothing_recorded(pki.c):
        too_long = _ocsp_request(pki.int_leaf, pki.int_ca, nonce=bytes(33))  # RFC 8954: ≤ 32
        assert _ocsp_status(_post(pki.c, pki.int_ca, too_long)) == (
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        )
        base = path_of(pki.int_ca["ocsp_url"])
        assert _ocsp_status(pki.c.get(base + "/not*base64")) == (
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        )
        good = base64.b64encode(_ocsp_request(pki.int_leaf, pki.int_ca)).decode()
        assert _ocsp_status(pki.c.get(base + "/" + good)) == ocsp.OCSPResponseStatus.SUCCESSFUL
        r = pki.c.post(
            "/v1/pki/public/01NOSUCHCA/ocsp",
            content=_ocsp_request(pki.int_leaf, pki.int_ca),
            headers={"content-type": "application/ocsp-request"},
        )
        assert _ocsp_status(r) == ocsp.OCSPResponseStatus.UNAUTHORIZED
        # the other public documents of an unknown CA are 404 problems
        for doc in ("ca.der", "ca.pem", "crl.der", "crl.pem"):
            problem(pki.c.get(f"/v1/pki/public/01NOSUCHCA/{doc}"), 404, "not-found")
            problem(pki.c.get(f"/v1/pki/public/bad-id/{doc}"), 404, "not-found")


# -- what a CSR asks for beyond names is dropped ---------------------------------------------
def test_csr_extensions_are_dropped(pki: Pki) -> None:
    """A CSR asking to be a CA gets an ordinary leaf: one certificate, one credential."""
    key = _p256()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sneaky.example.test")]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    certs, creds = cert_count(pki.c), credential_count(pki.c)
    issued = ok(pki.c.post(f"/v1/pki/sign/{WEB}", json={"csr": csr}))
    assert (cert_count(pki.c), credential_count(pki.c)) == (certs + 1, creds + 1)
    assert issued["private_key"] is None
    cert = load_cert(issued["certificate_pem"])
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert not ku.key_cert_sign and not ku.crl_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["sneaky.example.test"]


def test_email_domain_is_case_insensitive(pki: Pki) -> None:
    """'Ops@Example.TEST' is refused as malformed no more: its domain is compared (and
    issued) in lower case, the local part kept as given."""
    put_profile(pki.c, "bad-mail", "bad-int", allowed_email_sans=["*@EXAMPLE.test"])
    issued = ok(pki.c.post("/v1/pki/issue/bad-mail", json={"email_sans": ["Ops@Example.TEST"]}))
    san = load_cert(issued["certificate_pem"]).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert san.value.get_values_for_type(x509.RFC822Name) == ["Ops@example.test"]
    with nothing_recorded(pki.c):
        problem(
            pki.c.post("/v1/pki/issue/bad-mail", json={"email_sans": ["ops@example.org"]}),
            400,
            "pki-name-not-allowed",
        )


# -- importing an externally signed intermediate ------------------------------------------------
def _external_sign(csr_pem: str, key_usage: x509.KeyUsage, ca: bool = True) -> tuple[str, str]:
    """Sign a pending CA's CSR with a fresh external root; returns (certificate, root) PEM."""
    root_key = _p256()
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Outside Root")])
    now = datetime.now(UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ku(cert_sign=True), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    cert = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(root_name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=20))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return cert.public_bytes(pem).decode(), root.public_bytes(pem).decode()


def _ku(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def test_import_refuses_a_non_ca_or_foreign_certificate(pki: Pki) -> None:
    pending = create_ca(pki.c, "bad-pending", "intermediate", common_name="Pending")
    path = "/v1/pki/cas/bad-pending/import"
    not_ca, root = _external_sign(pending["csr_pem"], _ku(cert_sign=True), ca=False)
    other_key_csr = make_csr(_p256(), "Pending")
    foreign, foreign_root = _external_sign(other_key_csr, _ku(cert_sign=True))
    good, _ = _external_sign(pending["csr_pem"], _ku(cert_sign=True))
    with nothing_recorded(pki.c):
        problem(pki.c.post(path, json={"certificate": not_ca, "chain": root}), 400,
                "pki-bad-certificate")  # fmt: skip
        problem(pki.c.post(path, json={"certificate": foreign, "chain": foreign_root}), 400,
                "pki-bad-certificate")  # fmt: skip
        # signed by another root than the chain names
        problem(pki.c.post(path, json={"certificate": good, "chain": foreign_root}), 400,
                "pki-bad-certificate")  # fmt: skip
        problem(pki.c.post(path, json={"certificate": good, "chain": ""}), 400,
                "pki-bad-certificate")  # fmt: skip
    assert ok(pki.c.get("/v1/pki/cas/bad-pending"))["status"] == "pending"


def test_import_refuses_a_ca_certificate_without_key_cert_sign(pki: Pki) -> None:
    pending = create_ca(pki.c, "bad-noku", "intermediate", common_name="No KeyCertSign")
    cert, root = _external_sign(pending["csr_pem"], _ku(cert_sign=False))
    with nothing_recorded(pki.c):
        r = pki.c.post("/v1/pki/cas/bad-noku/import", json={"certificate": cert, "chain": root})
        problem(r, 400, "pki-bad-certificate")
