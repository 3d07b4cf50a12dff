"""PKI flows on both storage engines (SQLite and PostgreSQL): group-committed concurrent
issuance, revocation reaching CRL and OCSP, crash repair, and two nodes sharing one database."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import text

from tessera.app import build
from tessera.config import Settings
from tessera.inventory.models import CredentialKind, CredentialQuery
from tessera.pki.models import IssueRequest, RevocationReason, RevokeRequest
from tessera.pki.scheduler import repair_intents
from tests.unit.pki_fixtures import make_env


def test_concurrent_issue_revoke_crl_ocsp(db_url: str, tmp_path: Path) -> None:
    env = make_env(tmp_path, db_url)
    issued = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        for j in range(5):
            out = env.issue(common_name=f"n{i}-{j}.example.com")
            with lock:
                issued.append(out)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({x.certificate.serial for x in issued}) == 40
    page = env.c.inventory.list_credentials(
        env.root, CredentialQuery(kind=CredentialKind.X509_CERTIFICATE, limit=1000)
    )
    fingerprints = {c.fingerprint for c in page.items}
    assert {x.certificate.fingerprint for x in issued} <= fingerprints

    victim = issued[7]
    env.c.pki.revocation.revoke(
        env.root, RevokeRequest(cert_id=victim.certificate.id, reason=RevocationReason.SUPERSEDED)
    )
    for ca_id in env.c.pki.crls.due():
        env.c.pki.crls.rebuild(ca_id)
    crl = x509.load_der_x509_crl(env.c.pki.crls.current(env.int_ca.id).der)
    assert [r.serial_number for r in crl] == [int(victim.certificate.serial, 16)]

    # a second node on the same database answers OCSP for it
    node_b = build(Settings(data_dir=tmp_path / "b", database_url=db_url), clock=env.clock)
    node_b.barrier.submit_share(env.shares[0])
    inter = x509.load_pem_x509_certificate((env.int_ca.certificate_pem or "").encode())
    for cert, expected in (
        (victim, ocsp.OCSPCertStatus.REVOKED),
        (issued[0], ocsp.OCSPCertStatus.GOOD),
    ):
        leaf = x509.load_pem_x509_certificate((cert.certificate.certificate_pem or "").encode())
        req = ocsp.OCSPRequestBuilder().add_certificate(leaf, inter, hashes.SHA1()).build()
        der = node_b.pki.ocsp.respond(env.int_ca.id, req.public_bytes(serialization.Encoding.DER))
        assert ocsp.load_der_ocsp_response(der).certificate_status is expected
    node_b.close()
    env.c.close()


def test_crash_after_intent_is_repaired(db_url: str, tmp_path: Path) -> None:
    env = make_env(tmp_path, db_url)
    batcher = env.c.pki.issuance._batcher

    def crash(*_a: object) -> None:
        raise SystemExit("killed")

    batcher._record = crash  # type: ignore[method-assign,assignment]
    with pytest.raises(SystemExit):
        env.c.pki.issuance.issue(env.root, IssueRequest(profile="web", common_name="a.example.com"))
    with env.c.db.session() as s:
        pending = s.execute(text("SELECT count(*) FROM pki_certificates WHERE status='pending'"))
        assert pending.scalar_one() == 1
    env.clock.advance(timedelta(minutes=5))
    assert repair_intents(env.c.db, env.clock) == 1
    with env.c.db.session() as s:
        rows = s.execute(text("SELECT status, der FROM pki_certificates WHERE profile='web'")).all()
    assert [(r[0], r[1]) for r in rows] == [("abandoned", None)]
    env.c.close()
