"""Revocation, CRLs, the OCSP responder, CA rollover and CA revocation through the services."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import text

from tessera.core.errors import InvalidRequest, NotFound
from tessera.inventory.models import CreateIdentityRequest, CredentialStatus
from tessera.pki.errors import CAUnavailable
from tessera.pki.models import (
    CAKind,
    CAStatus,
    CertStatus,
    CreateCARequest,
    IssuedCertificate,
    OcspSigner,
    RevocationReason,
    RevokeRequest,
)
from tests.unit.pki_fixtures import Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


def _ca_cert(pem: str | None) -> x509.Certificate:
    return x509.load_pem_x509_certificate((pem or "").encode())


def _ocsp(env: Env, ca_id: str, issued: IssuedCertificate, issuer_pem: str | None,
          nonce: bytes | None = None) -> ocsp.OCSPResponse:  # fmt: skip
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        env.cert(issued), _ca_cert(issuer_pem), hashes.SHA1()
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    der = builder.build().public_bytes(serialization.Encoding.DER)
    return ocsp.load_der_ocsp_response(env.c.pki.ocsp.respond(ca_id, der))


def _crl(env: Env, ca_id: str) -> x509.CertificateRevocationList:
    for due in env.c.pki.crls.due():
        env.c.pki.crls.rebuild(due)
    return x509.load_der_x509_crl(env.c.pki.crls.current(ca_id).der)


def test_revoke_by_serial_is_idempotent_and_reaches_inventory_crl_and_ocsp(env: Env) -> None:
    issued = env.issue(common_name="a.example.com")
    serial = issued.certificate.serial
    resp = _ocsp(env, env.int_ca.id, issued, env.int_ca.certificate_pem, nonce=b"n" * 16)
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 16
    # delegated responder: signed by a certificate with id-kp-OCSPSigning and ocsp-nocheck
    responder = resp.certificates[0]
    responder.verify_directly_issued_by(_ca_cert(env.int_ca.certificate_pem))
    assert responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    first_crl = _crl(env, env.int_ca.id)
    assert first_crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is None

    n, certs = env.c.pki.revocation.revoke(
        env.root,
        RevokeRequest(ca="int", serial=serial.upper(), reason=RevocationReason.KEY_COMPROMISE),
    )
    assert n == 1 and certs[0].status is CertStatus.REVOKED
    again, _ = env.c.pki.revocation.revoke(env.root, RevokeRequest(ca="int", serial=serial))
    assert again == 0  # idempotent: nothing more, reason unchanged
    assert (
        env.c.inventory.get_credential(env.root, issued.certificate.credential_id or "").status
        is CredentialStatus.REVOKED
    )

    crl = _crl(env, env.int_ca.id)
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    old_number = first_crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > old_number
    assert crl.is_signature_valid(_ca_cert(env.int_ca.certificate_pem).public_key())  # type: ignore[arg-type]
    resp = _ocsp(env, env.int_ca.id, issued, env.int_ca.certificate_pem)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is x509.ReasonFlags.key_compromise


def test_unknown_serial_and_bad_requests(env: Env) -> None:
    with pytest.raises(NotFound):
        env.c.pki.revocation.revoke(env.root, RevokeRequest(ca="int", serial="abcdef"))
    with pytest.raises(NotFound):
        env.c.pki.revocation.revoke(env.root, RevokeRequest(ca="int", serial="not-hex"))
    with pytest.raises(InvalidRequest):
        env.c.pki.revocation.revoke(env.root, RevokeRequest(ca="int"))
    # OCSP: garbage → malformedRequest; another CA's certificate → unauthorized
    garbage = ocsp.load_der_ocsp_response(env.c.pki.ocsp.respond(env.int_ca.id, b"\x30\x03junk"))
    assert garbage.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    issued = env.issue(common_name="a.example.com")
    other = _ocsp(env, env.root_ca.id, issued, env.int_ca.certificate_pem)
    assert other.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    nobody = _ocsp(env, "NOSUCHCA", issued, env.int_ca.certificate_pem)
    assert nobody.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_ocsp_unknown_for_never_issued_serial_and_resigned_after_half_validity(env: Env) -> None:
    issued = env.issue(common_name="a.example.com")
    probe = _ocsp(env, env.int_ca.id, issued, env.int_ca.certificate_pem)
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            probe.issuer_name_hash,
            probe.issuer_key_hash,
            12345,
            hashes.SHA1(),
        )
        .build()
    )
    unknown = ocsp.load_der_ocsp_response(
        env.c.pki.ocsp.respond(env.int_ca.id, req.public_bytes(serialization.Encoding.DER))
    )
    assert unknown.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    first = _ocsp(env, env.int_ca.id, issued, env.int_ca.certificate_pem)
    assert _ocsp(env, env.int_ca.id, issued, env.int_ca.certificate_pem).this_update_utc == (
        first.this_update_utc
    )  # cached
    env.clock.advance(timedelta(minutes=31))
    later = _ocsp(env, env.int_ca.id, issued, env.int_ca.certificate_pem)
    assert later.this_update_utc > first.this_update_utc  # re-signed before going stale
    assert later.next_update_utc and later.next_update_utc > env.clock.now()


def test_ca_signed_ocsp_and_revoke_by_identity_and_decommission(env: Env) -> None:
    direct = env.c.pki.cas.create(
        env.root,
        CreateCARequest(
            name="int-ca-signs", kind=CAKind.INTERMEDIATE, common_name="Direct",
            parent="root", ocsp_signer=OcspSigner.CA,
        ),
    )  # fmt: skip
    env.c.pki.profiles.write(
        env.root, "direct", {"issuer": "int-ca-signs", "allowed_domains": ["*.example.com"]}
    )
    env.c.inventory.create_identity(env.root, CreateIdentityRequest(name="svc", owner="team"))
    a = env.issue(profile="direct", common_name="a.example.com", identity="svc")
    b = env.issue(profile="direct", common_name="b.example.com", identity="svc")
    resp = _ocsp(env, direct.id, a, direct.certificate_pem)
    assert resp.certificates == []  # signed by the CA itself
    assert (
        resp.responder_key_hash
        == x509.SubjectKeyIdentifier.from_public_key(
            _ca_cert(direct.certificate_pem).public_key()  # type: ignore[arg-type]
        ).digest
    )
    n, _ = env.c.pki.revocation.revoke(env.root, RevokeRequest(identity="svc"))
    assert n == 2
    c = env.issue(profile="direct", common_name="c.example.com", identity="svc")
    _, revoked = env.c.inventory.decommission(env.root, "svc")
    assert revoked >= 1
    with env.c.db.session() as s:
        status = s.execute(
            text("SELECT status FROM pki_certificates WHERE id = :i"), {"i": c.certificate.id}
        ).scalar_one()
    assert status == "revoked"
    assert _ocsp(env, direct.id, b, direct.certificate_pem).certificate_status is (
        ocsp.OCSPCertStatus.REVOKED
    )


def test_rollover_moves_issuance_and_old_ca_keeps_answering(env: Env) -> None:
    old = env.issue(common_name="a.example.com")
    new_ca = env.c.pki.cas.rollover(env.root, "int", None, "int2")
    assert new_ca.status is CAStatus.ACTIVE and new_ca.parent_id == env.root_ca.id
    assert new_ca.subject == "CN=Test Issuing G2"  # another DN than the retired CA's
    fresh = env.issue(common_name="b.example.com")
    assert fresh.certificate.ca_id == new_ca.id
    env.cert(fresh).verify_directly_issued_by(_ca_cert(new_ca.certificate_pem))
    retired = env.c.pki.cas.get(env.root, "int")
    assert retired.status is CAStatus.RETIRED and retired.successor_id == new_ca.id
    assert _ocsp(env, env.int_ca.id, old, env.int_ca.certificate_pem).certificate_status is (
        ocsp.OCSPCertStatus.GOOD
    )
    env.c.pki.revocation.revoke(env.root, RevokeRequest(cert_id=old.certificate.id))
    assert _crl(env, env.int_ca.id).get_revoked_certificate_by_serial_number(
        int(old.certificate.serial, 16)
    )
    with pytest.raises(CAUnavailable):
        env.c.pki.cas.rollover(env.root, "int", "int2", None)  # retired: no second rollover


def test_revoking_a_ca_revokes_what_it_issued_and_its_own_certificate(env: Env) -> None:
    leaf = env.issue(common_name="a.example.com")
    env.c.pki.revocation.revoke_ca(env.root, "int", RevocationReason.CA_COMPROMISE)
    with pytest.raises(CAUnavailable):
        env.issue(common_name="b.example.com")
    assert _ocsp(env, env.int_ca.id, leaf, env.int_ca.certificate_pem).certificate_status is (
        ocsp.OCSPCertStatus.REVOKED
    )
    root_crl = _crl(env, env.root_ca.id)
    inter_serial = _ca_cert(env.int_ca.certificate_pem).serial_number
    assert root_crl.get_revoked_certificate_by_serial_number(inter_serial) is not None


def test_crl_rebuild_is_claimed_once_and_scales(env: Env) -> None:
    env.issue(common_name="a.example.com")
    # bulk-insert revoked rows (as a long-lived CA accumulates) and rebuild
    now = env.clock.now()
    with env.c.db.session(write=True) as s:
        s.execute(
            text(
                "INSERT INTO pki_certificates (id, ca_id, serial, status, common_name, created_at,"
                " revoked_at, revocation_reason) VALUES (:id, :ca, :serial, 'revoked', '', :now,"
                " :now, 'superseded')"
            ),
            [
                {"id": f"BULK{i:08d}", "ca": env.int_ca.id, "serial": format((1 << 100) + i, "x"),
                 "now": now}
                for i in range(5000)
            ],
        )  # fmt: skip
        s.execute(text("UPDATE pki_cas SET crl_dirty = :t"), {"t": True})
    assert env.c.pki.crls.rebuild(env.int_ca.id) is True
    assert env.c.pki.crls.rebuild(env.int_ca.id) is False  # nothing dirty, still fresh
    crl = x509.load_der_x509_crl(env.c.pki.crls.current(env.int_ca.id).der)
    assert len(crl) == 5000
    assert crl.get_revoked_certificate_by_serial_number((1 << 100) + 4999) is not None
    # before nextUpdate the CRL is due again and rebuilt with a higher number
    env.clock.advance(timedelta(hours=13))
    assert env.int_ca.id in env.c.pki.crls.due()


def test_repeated_ocsp_request_answered_from_memory_until_stale_or_revoked(env: Env) -> None:
    issued = env.issue(common_name="a.example.com")
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(env.cert(issued), _ca_cert(env.int_ca.certificate_pem), hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    responder = env.c.pki.ocsp
    assert responder.respond_cached(env.int_ca.id, der) is None  # never seen
    first = responder.respond(env.int_ca.id, der)
    assert responder.respond_cached(env.int_ca.id, der) == first
    env.clock.advance(1.0)  # the status read is a second old: ask the database again
    assert responder.respond_cached(env.int_ca.id, der) is None
    responder.respond(env.int_ca.id, der)
    assert responder.respond_cached(env.int_ca.id, der) is not None
    env.c.pki.revocation.revoke(env.root, RevokeRequest(cert_id=issued.certificate.id))
    assert responder.respond_cached(env.int_ca.id, der) is None  # a revocation here: at once
    answer = ocsp.load_der_ocsp_response(responder.respond(env.int_ca.id, der))
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_revoking_a_root_takes_down_the_ca_hierarchy_below_it(env: Env) -> None:
    from tessera.core.errors import Conflict

    leaf = env.issue(common_name="a.example.com")
    inter_serial = format(_ca_cert(env.int_ca.certificate_pem).serial_number, "x")
    with pytest.raises(Conflict):  # a CA certificate is revoked through the CA, with sudo
        env.c.pki.revocation.revoke(env.root, RevokeRequest(ca="root", serial=inter_serial))
    env.c.pki.revocation.revoke_ca(env.root, "root", RevocationReason.CA_COMPROMISE)
    assert env.c.pki.cas.get(env.root, "int").status is CAStatus.REVOKED
    with pytest.raises(CAUnavailable):
        env.issue(common_name="b.example.com")
    assert _ocsp(env, env.int_ca.id, leaf, env.int_ca.certificate_pem).certificate_status is (
        ocsp.OCSPCertStatus.REVOKED
    )
    assert _crl(env, env.root_ca.id).get_revoked_certificate_by_serial_number(int(inter_serial, 16))


def test_crl_store_is_compare_and_swap_on_the_number(env: Env) -> None:
    crls = env.c.pki.crls
    first = crls.current(env.int_ca.id)
    newer = crls._build(_row(env, env.int_ca.id), first.number + 1)
    stale = crls._build(_row(env, env.int_ca.id), first.number + 1)
    assert crls._store(env.int_ca.id, first.number, newer) is True
    assert crls._store(env.int_ca.id, first.number, stale) is False  # same base: lost
    assert crls._store(env.int_ca.id, 0, stale) is False  # "first CRL" raced: a row exists
    env.clock.advance(1.0)  # past the in-memory copy of the served CRL
    assert (
        x509.load_der_x509_crl(crls.current(env.int_ca.id).der)
        .extensions.get_extension_for_class(x509.CRLNumber)
        .value.crl_number
        == first.number + 1
    )


def test_responders_are_renewed_only_for_live_cas(env: Env) -> None:
    cas = env.c.pki.cas
    assert cas.refresh_responder(env.int_ca.id) is False  # young
    env.clock.advance(timedelta(days=21))
    assert cas.refresh_responder(env.int_ca.id) is True
    assert cas.refresh_responder(env.int_ca.id) is False  # just renewed
    env.c.pki.revocation.revoke_ca(env.root, "int", RevocationReason.CESSATION_OF_OPERATION)
    env.clock.advance(timedelta(days=21))
    assert cas.refresh_responder(env.int_ca.id) is False  # revoked: no new responder


def _row(env: Env, ca_id: str) -> Any:
    from tessera.storage.models import PkiCaRow

    with env.c.db.session() as s:
        return s.get(PkiCaRow, ca_id)


def test_revocation_is_scoped_by_ca_and_identity(env: Env) -> None:
    from tessera.auth.models import CreateTokenRequest
    from tessera.core.errors import PermissionDenied

    env.c.inventory.create_identity(env.root, CreateIdentityRequest(name="svc-r", owner="t"))
    mine = env.issue(common_name="a.example.com")
    rules = [{"path": "pki/revoke/int", "capabilities": ["update"]}]
    env.c.policies.write(env.root, "revoke-int", {"rules": rules})
    token = env.c.tokens.create(env.root, CreateTokenRequest(policies=("revoke-int",))).token
    p = env.c.tokens.authenticate(token)
    n, _ = env.c.pki.revocation.revoke(p, RevokeRequest(cert_id=mine.certificate.id))
    assert n == 1
    with pytest.raises(PermissionDenied):  # another CA
        env.c.pki.revocation.revoke(p, RevokeRequest(ca="root", serial="abcdef"))
    with pytest.raises(PermissionDenied):  # all of an identity's certificates
        env.c.pki.revocation.revoke(p, RevokeRequest(identity="svc-r"))


def test_periodic_crl_refresh_is_claimed_by_one_builder(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    crls = env.c.pki.crls
    crls.current(env.int_ca.id)
    env.clock.advance(timedelta(hours=13))  # past half of the 24 h validity
    assert env.int_ca.id in crls.due()

    def dies(*_a: object) -> None:
        raise RuntimeError("node died while signing")

    monkeypatch.setattr(crls, "_build", dies)
    with pytest.raises(RuntimeError):
        crls.rebuild(env.int_ca.id)
    assert env.int_ca.id not in crls.due()  # claimed: other nodes leave it alone
    env.clock.advance(timedelta(minutes=6))
    assert env.int_ca.id in crls.due()  # the claimer died: due again
    monkeypatch.undo()
    assert crls.rebuild(env.int_ca.id) is True
    assert env.int_ca.id not in crls.due()


def test_rollover_successor_has_its_own_name() -> None:
    from tessera.pki.cas import next_generation

    assert next_generation("Test Issuing") == "Test Issuing G2"
    assert next_generation("Test Issuing G9") == "Test Issuing G10"
    assert len(next_generation("x" * 64)) == 64
