"""Scheduled renewals on the injected clock: due at the profile's fraction, exactly once,
the same public key, and a failing renewal that becomes a finding and heals by itself."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from tessera.lifecycle.jobs import Jobs
from tessera.lifecycle.renewals import KIND, RULE
from tessera.storage.models import PkiCertificateRow
from tessera.storage.models_lifecycle import FindingRow
from tests.unit.pki_fixtures import WEB_PROFILE, make_env


def _spki(pem: str | None) -> bytes:
    cert = x509.load_pem_x509_certificate((pem or "").encode())
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_due_certificates_are_recertified_once(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    try:
        profile = {**WEB_PROFILE, "ttl": "1h", "auto_renew": True, "renew_at": 0.5}
        env.c.pki.profiles.write(env.root, "web", profile)
        issued = [env.issue(dns_names=(f"h{i}.example.com",)) for i in range(3)]
        assert env.c.renewals.run_once() == 0  # not due yet
        env.clock.advance(timedelta(minutes=31))
        assert env.c.renewals.run_once() == 3
        assert env.c.renewals.run_once() == 0  # never twice
        with env.c.db.session() as s:
            for old in issued:
                succ = list(
                    s.scalars(
                        select(PkiCertificateRow).where(
                            PkiCertificateRow.renewed_from == old.certificate.id
                        )
                    )
                )
                assert len(succ) == 1
                new = x509.load_der_x509_certificate(succ[0].der or b"")
                assert new.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                ) == _spki(old.certificate.certificate_pem)
    finally:
        env.c.close()


def test_profile_without_auto_renew_is_left_alone(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    try:
        env.issue(dns_names=("x.example.com",))
        env.clock.advance(timedelta(days=29))
        assert env.c.renewals.run_once() == 0
    finally:
        env.c.close()


def test_failing_renewal_becomes_a_finding_then_heals(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    try:
        profile = {**WEB_PROFILE, "ttl": "1d", "auto_renew": True}
        env.c.pki.profiles.write(env.root, "web", profile)
        issued = env.issue(dns_names=("api.example.com",))
        # the cause: the profile stops allowing the name
        env.c.pki.profiles.write(env.root, "web", {**profile, "allowed_domains": ["other.test"]})
        env.clock.advance(timedelta(hours=17))
        for _ in range(3):
            assert env.c.renewals.run_once() == 0
            env.clock.advance(timedelta(hours=1))  # past each back-off
        with env.c.db.session() as s:
            finding = s.scalar(select(FindingRow).where(FindingRow.rule_id == RULE))
            assert finding is not None and finding.status == "open"
            assert finding.subject_key == issued.certificate.id
        # the cause is fixed: the next retry renews and the finding resolves by itself
        env.c.pki.profiles.write(env.root, "web", profile)
        env.clock.advance(timedelta(hours=1))
        assert env.c.renewals.run_once() == 1
        with env.c.db.session() as s:
            finding = s.scalar(select(FindingRow).where(FindingRow.rule_id == RULE))
            assert finding is not None and finding.status == "resolved"
    finally:
        env.c.close()


def test_a_failed_signing_attempt_is_retried(tmp_path: Path, monkeypatch: Any) -> None:
    """An intent abandoned by a failed sign must not count as a successor."""
    from tessera.pki import batch

    env = make_env(tmp_path)
    try:
        profile = {**WEB_PROFILE, "ttl": "1h", "auto_renew": True, "renew_at": 0.5}
        env.c.pki.profiles.write(env.root, "web", profile)
        old = env.issue(dns_names=("h.example.com",))
        env.clock.advance(timedelta(minutes=31))
        real = batch.leaf_certificate

        def broken(*_a: Any, **_k: Any) -> Any:
            raise RuntimeError("signing device unavailable")

        monkeypatch.setattr(batch, "leaf_certificate", broken)
        assert env.c.renewals.run_once() == 0
        monkeypatch.setattr(batch, "leaf_certificate", real)
        env.clock.advance(timedelta(minutes=5))  # past the back-off
        assert env.c.renewals.due() == [old.certificate.id]
        assert env.c.renewals.run_once() == 1
    finally:
        env.c.close()


def test_blocked_certificates_do_not_starve_others(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    try:
        profile = {**WEB_PROFILE, "ttl": "1h", "auto_renew": True, "renew_at": 0.5}
        env.c.pki.profiles.write(env.root, "web", profile)
        a = env.issue(dns_names=("a.example.com",))
        b = env.issue(dns_names=("b.example.com",))
        env.clock.advance(timedelta(minutes=31))
        env.c.renewals._batch = 1
        other = Jobs(env.c.db, env.c.clock, env.c.rng, KIND, "other-node")
        assert other.claim(a.certificate.id) is not None  # another node holds a
        assert env.c.renewals.due() == [b.certificate.id]
    finally:
        env.c.close()
