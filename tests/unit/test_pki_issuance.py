"""PKI issuance through the services (no HTTP): names, keys, lifetimes, CSR handling, serials,
the write order and group commit, renewal."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tessera.auth.models import CreateTokenRequest
from tessera.core.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tessera.inventory.models import CreateIdentityRequest, CredentialStatus
from tessera.pki import batch as batch_module
from tessera.pki.errors import BadCSR, KeyNotAllowed, NameNotAllowed, TTLTooLong
from tessera.pki.models import CertStatus, KeyType, RenewRequest
from tessera.pki.scheduler import repair_intents
from tests.unit.pki_fixtures import Env, csr_pem, make_env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


def test_server_key_issue_chains_to_root_and_is_one_inventory_row(env: Env) -> None:
    env.c.inventory.create_identity(env.root, CreateIdentityRequest(name="web-1", owner="team-web"))
    issued = env.issue(
        common_name="a.example.com",
        dns_names=("b.example.com",),
        ip_addresses=("10.1.2.3",),
        uris=("spiffe://example.org/ns/prod/sa/web",),
        emails=("ops@example.com",),
        identity="web-1",
    )
    cert = env.cert(issued)
    inter = x509.load_pem_x509_certificate((env.int_ca.certificate_pem or "").encode())
    root = x509.load_pem_x509_certificate((env.root_ca.certificate_pem or "").encode())
    cert.verify_directly_issued_by(inter)
    inter.verify_directly_issued_by(root)
    assert issued.chain_pem.count("BEGIN CERTIFICATE") == 2
    # the returned key is the certificate's key
    key = serialization.load_pem_private_key((issued.private_key_pem or "").encode(), None)
    assert key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["a.example.com", "b.example.com"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    # serial: positive, >= 64 random bits, <= 20 octets
    assert 1 << 64 <= cert.serial_number < 1 << 159
    assert format(cert.serial_number, "x") == issued.certificate.serial
    # one inventory credential with the fields the issue names; owner from the identity
    cred = env.c.inventory.get_credential(env.root, issued.certificate.credential_id or "")
    assert cred.fingerprint == issued.certificate.fingerprint
    assert cred.owner == "team-web" and cred.identity_id is not None
    assert cred.not_after == cert.not_valid_after_utc
    attrs = cred.attributes
    assert attrs["key_type"] == "ec" and attrs["key_bits"] == 256
    assert attrs["signature_algorithm"] == "ecdsa-with-sha256"
    assert "spiffe://example.org/ns/prod/sa/web" in attrs["sans"]
    assert attrs["issuer"] == env.int_ca.subject
    assert [loc.location for loc in cred.locations] == [
        f"tessera:pki/{env.int_ca.id}/{issued.certificate.serial}"
    ]


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"dns_names": ("evil.org",)}, NameNotAllowed),
        ({"dns_names": ("*.example.com",)}, NameNotAllowed),  # wildcards not allowed
        ({"dns_names": ("api-x.y.corp.test",)}, NameNotAllowed),  # glob stays in one label
        ({"ip_addresses": ("192.168.1.1",)}, NameNotAllowed),  # outside the ranges
        ({"uris": ("spiffe://example.org/ns/a/b/sa/c",)}, NameNotAllowed),
        ({"emails": ("x@evil.org",)}, NameNotAllowed),
        ({"common_name": "not a host name"}, NameNotAllowed),
        ({"dns_names": ("bad_name!.example.com",)}, InvalidRequest),
        ({"ip_addresses": ("999.1.1.1",)}, InvalidRequest),
        ({"common_name": None}, InvalidRequest),  # no name at all
        ({"ttl": timedelta(days=91)}, TTLTooLong),
        ({"key_type": KeyType.RSA_2048, "profile": "ec-only"}, KeyNotAllowed),
        ({"profile": "nope"}, NotFound),
    ],
)
def test_refusals_record_nothing(env: Env, kw: dict[str, object], error: type) -> None:
    env.c.pki.profiles.write(
        env.root, "ec-only", {"issuer": "int", "allowed_domains": ["*.example.com"],
                               "allowed_key_types": ["ec-p256"]},
    )  # fmt: skip
    before = (env.count("pki_certificates"), env.count("credentials"))
    args = {"common_name": "a.example.com", **kw}
    with pytest.raises(error):
        env.issue(**args)
    assert (env.count("pki_certificates"), env.count("credentials")) == before


def test_name_rules(env: Env) -> None:
    env.c.pki.profiles.write(
        env.root,
        "wild",
        {
            "issuer": "int",
            "allowed_domains": ["*.example.com"],
            "allow_wildcard_certificates": True,
        },
    )
    assert (
        env.issue(profile="wild", dns_names=("*.a.example.com",)).certificate.status.value
        == "issued"
    )
    assert (
        env.issue(dns_names=("deep.er.example.com", "API-7.corp.test")).certificate.common_name
        == "deep.er.example.com"
    )
    with pytest.raises(NameNotAllowed):  # a wildcard must be covered entirely by a '*.' pattern
        env.issue(profile="wild", dns_names=("*.example.org",))
    with pytest.raises(InvalidRequest):  # a wildcard over a public suffix is no DNS name here
        env.issue(profile="wild", dns_names=("*.com",))


def test_csr_signature_key_and_extension_handling(env: Env) -> None:
    good = csr_pem(
        "c.example.com",
        [x509.DNSName("c.example.com")],
        extensions=[x509.BasicConstraints(ca=True, path_length=None)],
    )
    issued = env.issue(csr_pem=good)
    cert = env.cert(issued)
    assert issued.private_key_pem is None
    # the CSR asked to be a CA: dropped, the profile decides
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    # names from the request replace the CSR's (and are checked)
    issued2 = env.issue(csr_pem=good, dns_names=("d.example.com",), common_name=None)
    assert env.cert(issued2).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName) == ["d.example.com"]

    before = env.count("pki_certificates")
    der = x509.load_pem_x509_csr(good.encode()).public_bytes(serialization.Encoding.DER)
    broken = bytearray(der)
    broken[-3] ^= 0x01  # inside the signature value
    body = base64.encodebytes(bytes(broken)).decode()
    bad_pem = f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(BadCSR):
        env.issue(csr_pem=bad_pem)
    with pytest.raises(BadCSR):
        env.issue(csr_pem="garbage")
    with pytest.raises(BadCSR):
        env.issue(csr_pem="A" * (64 * 1024 + 1))
    with pytest.raises(KeyNotAllowed):
        env.issue(csr_pem=csr_pem(key=rsa.generate_private_key(65537, 1024)))
    with pytest.raises(KeyNotAllowed):
        env.issue(csr_pem=csr_pem(key=ec.generate_private_key(ec.SECP521R1())))
    with pytest.raises(NameNotAllowed):
        env.issue(csr_pem=csr_pem("evil.org"))
    assert env.count("pki_certificates") == before


def test_ttl_default_policy_constraint_and_clamp_to_issuer(env: Env) -> None:
    issued = env.issue(common_name="a.example.com")
    cert = env.cert(issued)
    assert cert.not_valid_after_utc - env.clock.now() == timedelta(days=30)
    # a policy max_ttl below the profile's applies
    env.c.policies.write(
        env.root,
        "web-short",
        {"rules": [{"path": "pki/issue/web", "capabilities": ["create"],
                    "constraints": {"max_ttl": "2d"}}]},
    )  # fmt: skip
    tok = env.c.tokens.create(env.root, CreateTokenRequest(policies=("web-short",)))
    p = env.c.tokens.authenticate(tok.token)
    from tessera.pki.models import IssueRequest

    short = env.c.pki.issuance.issue(p, IssueRequest(profile="web", common_name="a.example.com"))
    assert env.cert(short).not_valid_after_utc - env.clock.now() == timedelta(days=2)
    with pytest.raises(TTLTooLong):
        env.c.pki.issuance.issue(
            p, IssueRequest(profile="web", common_name="a.example.com", ttl=timedelta(days=3))
        )
    with pytest.raises(PermissionDenied):  # issue was granted, sign (CSR) was not
        env.c.pki.issuance.issue(p, IssueRequest(profile="web", csr_pem=csr_pem()))
    # notAfter never passes the issuer's
    env.clock.advance(timedelta(days=3650 - 10))
    late = env.issue(common_name="a.example.com")
    assert env.cert(late).not_valid_after_utc == env.int_ca.not_after


def test_serial_is_unique_per_ca_by_constraint(env: Env) -> None:
    issued = env.issue(common_name="a.example.com")
    with pytest.raises(IntegrityError), env.c.db.session(write=True) as s:
        s.execute(
            text(
                "INSERT INTO pki_certificates (id, ca_id, serial, status, common_name, created_at)"
                " VALUES ('X1', :ca, :serial, 'pending', '', CURRENT_TIMESTAMP)"
            ),
            {"ca": issued.certificate.ca_id, "serial": issued.certificate.serial},
        )


def test_signing_failure_leaves_an_abandoned_intent_and_no_certificate(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("HSM unplugged")

    monkeypatch.setattr(batch_module, "leaf_certificate", boom)
    creds = env.count("credentials")
    with pytest.raises(RuntimeError):
        env.issue(common_name="a.example.com")
    with env.c.db.session() as s:
        rows = s.execute(text("SELECT status, der FROM pki_certificates WHERE profile='web'")).all()
    assert rows == [("abandoned", None)]
    assert env.count("credentials") == creds


def test_crash_between_intent_and_record_is_repaired(env: Env) -> None:
    # the intent is committed first; a crash before the record leaves it pending
    env.c.pki.issuance._batcher._record = lambda s, live: (_ for _ in ()).throw(SystemExit)  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        env.issue(common_name="a.example.com")
    with env.c.db.session() as s:
        assert s.execute(text("SELECT status FROM pki_certificates WHERE profile='web'")).all() == [
            ("pending",)
        ]
    assert repair_intents(env.c.db, env.clock) == 0  # young intents may belong to a live peer
    env.clock.advance(timedelta(minutes=3))
    assert repair_intents(env.c.db, env.clock) == 1
    with env.c.db.session() as s:
        assert s.execute(text("SELECT status FROM pki_certificates WHERE profile='web'")).all() == [
            ("abandoned",)
        ]


def test_concurrent_issuance_shares_commits_and_isolates_failures(env: Env) -> None:
    env.c.inventory.create_identity(env.root, CreateIdentityRequest(name="gone", owner="t"))
    env.c.inventory.decommission(env.root, "gone")
    results: list[object] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            out: object = env.issue(
                common_name=f"h{i}.example.com", identity="gone" if i % 10 == 0 else None
            )
        except Exception as exc:
            out = exc
        with lock:
            results.append(out)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r for r in results if isinstance(r, Exception)]
    issued = [r for r in results if not isinstance(r, Exception)]
    assert len(errors) == 4 and all(isinstance(e, Conflict) for e in errors)
    serials = {r.certificate.serial for r in issued}  # type: ignore[attr-defined]
    assert len(serials) == 36
    with env.c.db.session() as s:
        n = s.execute(
            text("SELECT count(*) FROM pki_certificates WHERE profile='web' AND status='issued'")
        ).scalar_one()
    assert n == 36


def test_renewal_keeps_names_and_identity_and_supersedes(env: Env) -> None:
    env.c.inventory.create_identity(env.root, CreateIdentityRequest(name="web-2", owner="o"))
    first = env.issue(common_name="a.example.com", dns_names=("b.example.com",), identity="web-2")
    renewed = env.c.pki.issuance.renew(env.root, RenewRequest(cert_id=first.certificate.id))
    assert renewed.certificate.renewed_from == first.certificate.id
    assert renewed.certificate.identity_id == first.certificate.identity_id
    assert renewed.private_key_pem and renewed.private_key_pem != first.private_key_pem
    old, new = env.cert(first), env.cert(renewed)
    assert old.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ) == new.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert (
        env.c.inventory.get_credential(env.root, first.certificate.credential_id or "").status
        is CredentialStatus.SUPERSEDED
    )
    # re-key from a CSR keeps the renewed certificate's names
    rekey = env.c.pki.issuance.renew(
        env.root, RenewRequest(cert_id=renewed.certificate.id, csr_pem=csr_pem("other.example.com"))
    )
    assert rekey.private_key_pem is None
    assert env.cert(rekey).subject == new.subject
    assert rekey.certificate.status is CertStatus.ISSUED


def test_issue_many_settles_each_request_on_its_own(env: Env) -> None:
    from tessera.pki.models import IssueRequest

    reqs = [
        IssueRequest(profile="web", common_name="m1.example.com"),
        IssueRequest(profile="web", common_name="evil.org"),
        IssueRequest(profile="web", csr_pem=csr_pem("m3.example.com")),
        IssueRequest(profile="nope", common_name="m4.example.com"),
    ]
    before = env.count("pki_certificates")
    out = env.c.pki.issuance.issue_many(env.root, reqs)
    assert [type(x).__name__ for x in out] == [
        "IssuedCertificate", "NameNotAllowed", "IssuedCertificate", "NotFound"
    ]  # fmt: skip
    assert env.count("pki_certificates") == before + 2
    with pytest.raises(InvalidRequest):
        env.c.pki.issuance.issue_many(env.root, reqs * 251)


def test_a_record_that_does_not_commit_hands_out_no_certificate(env: Env) -> None:
    from tessera.core.errors import AuditUnavailable

    calls = {"n": 0}

    def audit_fails_on_second_commit() -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the cycle that records the certificate
            raise AuditUnavailable("no sink")

    env.c.db.before_commit(audit_fails_on_second_commit)
    creds = env.count("credentials")
    with pytest.raises(AuditUnavailable):
        env.issue(common_name="a.example.com")
    with env.c.db.session() as s:
        rows = s.execute(text("SELECT status, der FROM pki_certificates WHERE profile='web'")).all()
    assert [(r[0], r[1]) for r in rows] == [("pending", None)]  # repaired later as abandoned
    assert env.count("credentials") == creds


def test_renewing_a_revoked_certificate_is_refused(env: Env) -> None:
    from tessera.pki.errors import CAUnavailable
    from tessera.pki.models import RevokeRequest

    first = env.issue(common_name="a.example.com")
    env.c.pki.revocation.revoke(env.root, RevokeRequest(cert_id=first.certificate.id))
    with pytest.raises(CAUnavailable):
        env.c.pki.issuance.renew(env.root, RenewRequest(cert_id=first.certificate.id))
    assert (
        env.c.inventory.get_credential(env.root, first.certificate.credential_id or "").status
        is CredentialStatus.REVOKED
    )


def _duplicate_san_csr() -> str:
    """A validly signed CSR carrying two subjectAltName extensions (re-signed by hand, as the
    builder refuses duplicates)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.example.com")]), False)
        .add_extension(x509.IssuerAlternativeName([x509.DNSName("b.example.com")]), False)
        .sign(key, hashes.SHA256())
    )
    # turn the issuerAltName OID (2.5.29.18) into a second subjectAltName (2.5.29.17)
    tbs = csr.tbs_certrequest_bytes.replace(b"\x06\x03\x55\x1d\x12", b"\x06\x03\x55\x1d\x11")
    sig = key.sign(tbs, ec.ECDSA(hashes.SHA256()))

    def tlv(tag: int, body: bytes) -> bytes:
        n = len(body)
        size = (
            bytes([n])
            if n < 128
            else bytes([0x81, n])
            if n < 256
            else bytes([0x82, n >> 8, n & 255])
        )
        return bytes([tag]) + size + body

    ecdsa_sha256 = tlv(0x30, bytes.fromhex("06082a8648ce3d040302"))
    der = tlv(0x30, tbs + ecdsa_sha256 + tlv(0x03, b"\x00" + sig))
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def test_csr_with_repeated_extension_is_a_clear_error(env: Env) -> None:
    before = env.count("pki_certificates")
    with pytest.raises(BadCSR):
        env.issue(csr_pem=_duplicate_san_csr(), common_name=None)
    assert env.count("pki_certificates") == before


def test_listing_by_an_unknown_identity_lists_nothing(env: Env) -> None:
    from tessera.pki.models import CertQuery

    env.issue(common_name="a.example.com")  # unbound
    assert env.c.pki.issuance.list(env.root, CertQuery(identity="typo")).items == ()
    assert env.c.pki.issuance.list(env.root, CertQuery()).items


def test_least_privilege_for_identity_binding_renewal_and_profile_authors(env: Env) -> None:
    from tessera.pki.models import IssueRequest

    env.c.inventory.create_identity(env.root, CreateIdentityRequest(name="web-9", owner="o"))
    rules = [
        {"path": "pki/issue/web", "capabilities": ["create"]},
        {"path": "pki/profiles/team-*", "capabilities": ["create", "update"]},
    ]
    env.c.policies.write(env.root, "issuer-only", {"rules": rules})
    token = env.c.tokens.create(env.root, CreateTokenRequest(policies=("issuer-only",))).token
    p = env.c.tokens.authenticate(token)
    issued = env.c.pki.issuance.issue(p, IssueRequest(profile="web", common_name="a.example.com"))
    with pytest.raises(PermissionDenied):  # binding to someone's identity takes update on it
        env.c.pki.issuance.issue(
            p, IssueRequest(profile="web", common_name="a.example.com", identity="web-9")
        )
    with pytest.raises(PermissionDenied):  # renewing takes update on the certificate
        env.c.pki.issuance.renew(p, RenewRequest(cert_id=issued.certificate.id))
    with pytest.raises(PermissionDenied):  # a profile author cannot borrow the CA
        env.c.pki.profiles.write(p, "team-x", {"issuer": "int", "allowed_domains": ["*.com"]})
    rules += [
        {"path": "identities/web-9", "capabilities": ["update"]},
        {"path": "pki/certs/*", "capabilities": ["update"]},
    ]
    env.c.policies.write(env.root, "issuer-only", {"rules": rules})
    p = env.c.tokens.authenticate(token)
    bound = env.c.pki.issuance.issue(
        p, IssueRequest(profile="web", common_name="a.example.com", identity="web-9")
    )
    assert bound.certificate.identity_id is not None
    assert env.c.pki.issuance.renew(p, RenewRequest(cert_id=issued.certificate.id)).certificate
