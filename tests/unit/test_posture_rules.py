"""Every posture rule over real inventory rows: a positive and a negative case each, evaluated
in one pass, plus thresholds and disabled rules per environment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from tessera.core.clock import FakeClock
from tessera.core.ids import new_ulid
from tessera.pki.models import CAKind, CreateCARequest
from tessera.posture.compliance import MAPPING
from tessera.posture.models import RuleId
from tessera.posture.rules import catalogue
from tessera.storage.models import PkiCaRow, PkiCertificateRow
from tests.unit.test_posture_helpers import PostureEnv, make_posture_env

NOW = datetime.fromisoformat("2030-01-01T00:00:00+00:00")
D = timedelta(days=1)
OLD = {"issued_at": NOW - 300 * D, "created_at": NOW - 300 * D}

# (case, identity, inventory fields, rule, expected)
CASES: list[tuple[str, str | None, dict[str, Any], RuleId, bool]] = [
    ("expired", None, {"not_after": NOW - D}, RuleId.EXPIRED, True),
    ("valid-not-expired", None, {}, RuleId.EXPIRED, False),
    ("token-expiry-is-normal", None, {"kind": "tessera_token", "not_after": NOW - D,
                                      "attributes": {}}, RuleId.EXPIRED, False),
    ("expiring-medium", None, {**OLD, "not_after": NOW + 20 * D}, RuleId.EXPIRING, True),
    ("expiring-high", None, {**OLD, "not_after": NOW + 3 * D}, RuleId.EXPIRING, True),
    ("not-expiring-yet", None, {**OLD, "not_after": NOW + 40 * D}, RuleId.EXPIRING, False),
    ("short-lived-early", None, {"issued_at": NOW - D, "not_after": NOW + D},
     RuleId.EXPIRING, False),
    ("weak-rsa", None, {"key_bits": 1024}, RuleId.WEAK_KEY, True),
    ("weak-ec", None, {"key_type": "ec", "key_bits": 224}, RuleId.WEAK_KEY, True),
    ("dsa", None, {"key_type": "dsa", "key_bits": 3072}, RuleId.WEAK_KEY, True),
    ("strong-ec", None, {"key_type": "ec", "key_bits": 256}, RuleId.WEAK_KEY, False),
    ("sha1", None, {"signature_algorithm": "rsa-with-sha1"}, RuleId.WEAK_SIGNATURE, True),
    ("md5", None, {"signature_algorithm": "md5withrsaencryption"}, RuleId.WEAK_SIGNATURE, True),
    ("sha256", None, {"signature_algorithm": "ecdsa-with-sha256"}, RuleId.WEAK_SIGNATURE, False),
    ("long-tls", None, {"issued_at": NOW - 10 * D, "not_after": NOW + 400 * D},
     RuleId.LONG_VALIDITY, True),
    ("long-client-cert", None, {"issued_at": NOW - 10 * D, "not_after": NOW + 400 * D,
                                "attributes": {"sans": ["email:a@example.com"]}},
     RuleId.LONG_VALIDITY, False),
    ("tls-397-days", None, {"issued_at": NOW - 10 * D, "not_after": NOW + 387 * D},
     RuleId.LONG_VALIDITY, False),
    ("self-signed-prod", "prod", {"attributes": {"self_signed": True}}, RuleId.SELF_SIGNED, True),
    ("self-signed-seen-on-endpoint", None,
     {"attributes": {"endpoints": {"10.0.0.1:443": {"flags": ["self_signed"]}}}},
     RuleId.SELF_SIGNED, True),
    ("self-signed-dev", "dev", {"attributes": {"self_signed": True}}, RuleId.SELF_SIGNED, False),
    ("self-signed-root-ca", "prod", {"attributes": {"self_signed": True, "is_ca": True}},
     RuleId.SELF_SIGNED, False),
    ("wildcard", None, {"attributes": {"sans": ["DNS:*.example.com"]}}, RuleId.WILDCARD, True),
    ("not-wildcard", None, {}, RuleId.WILDCARD, False),
    ("orphaned", None, {"owner": None}, RuleId.ORPHANED, True),
    ("owned-through-identity", "prod", {"owner": None}, RuleId.ORPHANED, False),
    ("zombie", "gone", {}, RuleId.ZOMBIE, True),
    ("revoked-of-gone-identity", "gone", {"status": "revoked"}, RuleId.ZOMBIE, False),
    ("stale-api-key", None, {"kind": "api_key", "last_used_at": NOW - 100 * D, **OLD,
                             "not_after": NOW + 200 * D}, RuleId.STALE, True),
    ("never-used-api-key", None, {"kind": "api_key", **OLD, "not_after": None}, RuleId.STALE,
     True),
    ("used-api-key", None, {"kind": "api_key", "last_used_at": NOW - 10 * D, **OLD},
     RuleId.STALE, False),
    ("certificate-use-not-recorded", None, {**OLD, "not_after": NOW + 200 * D}, RuleId.STALE,
     False),
    ("old-secret", None, {"kind": "static_secret", "last_rotated_at": NOW - 100 * D,
                          "not_after": None}, RuleId.NOT_ROTATED, True),
    ("rotated-secret", None, {"kind": "static_secret", "last_rotated_at": NOW - 5 * D,
                              "not_after": None}, RuleId.NOT_ROTATED, False),
    ("leaked", None, {"kind": "leaked_secret", "not_after": None, "owner": None,
                      "attributes": {"rules": ["aws-access-key"], "preview": "AKIA…"}},
     RuleId.LEAKED_SECRET, True),
    ("leaked-revoked", None, {"kind": "leaked_secret", "status": "revoked", "not_after": None,
                              "attributes": {"rules": ["aws-access-key"]}},
     RuleId.LEAKED_SECRET, False),
    ("unencrypted-key", None, {"kind": "private_key", "not_after": None, "attributes": {
        "unencrypted": True, "unencrypted_locations": ["/etc/ssl/a.key"]}},
     RuleId.UNENCRYPTED_KEY, True),
    ("encrypted-key", None, {"kind": "private_key", "not_after": None,
                             "attributes": {"unencrypted": False}}, RuleId.UNENCRYPTED_KEY, False),
    ("key-in-two-places", None, {"kind": "private_key", "not_after": None,
                                 "attributes": {"duplicate_locations": True}},
     RuleId.DUPLICATE_KEY, True),
    ("key-behind-two-certs", None, {"kind": "private_key", "not_after": None,
                                    "attributes": {"certificates": ["c1", "c2"]}},
     RuleId.DUPLICATE_KEY, True),
    ("shared-public-key-a", None, {"attributes": {"public_key_fingerprint": "pk-shared",
                                                  "endpoints": {"a:443": {"flags": []}}}},
     RuleId.DUPLICATE_KEY, True),
    ("shared-public-key-b", None, {"attributes": {"public_key_fingerprint": "pk-shared",
                                                  "endpoints": {"b:443": {"flags": []}}}},
     RuleId.DUPLICATE_KEY, True),
    ("own-public-key", None, {"attributes": {"public_key_fingerprint": "pk-alone"}},
     RuleId.DUPLICATE_KEY, False),
    ("managed-renewal-keeps-key-a", None, {"source": "managed",
                                           "attributes": {"public_key_fingerprint": "pk-m"}},
     RuleId.DUPLICATE_KEY, False),
    ("managed-renewal-keeps-key-b", None, {"source": "managed",
                                           "attributes": {"public_key_fingerprint": "pk-m"}},
     RuleId.DUPLICATE_KEY, False),
    ("irrevocable", None, {"kind": "dynamic_lease", "not_after": NOW - D,
                           "attributes": {"irrevocable": True}}, RuleId.IRREVOCABLE_LEASE, True),
    ("revocable", None, {"kind": "dynamic_lease", "attributes": {}}, RuleId.IRREVOCABLE_LEASE,
     False),
    ("strict-env-45-days", "strict", {**OLD, "not_after": NOW + 45 * D}, RuleId.EXPIRING, True),
    ("strict-env-wildcard-off", "strict", {"attributes": {"sans": ["DNS:*.a.example.com"]}},
     RuleId.WILDCARD, False),
]  # fmt: skip


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PostureEnv, dict]]:
    env = make_posture_env(tmp_path_factory.mktemp("rules"), FakeClock(NOW))
    env.posture.set_config(env.root, {
        "defaults": {"thresholds": {}},
        "environments": {
            "dev": {"disabled_rules": ["self-signed"]},
            "strict": {"thresholds": {"expiring_days": 60, "expiring_high_days": 10},
                       "disabled_rules": ["wildcard"]},
        },
    })  # fmt: skip
    idents = {"prod": env.identity("prod-app"), "dev": env.identity("dev-app", "dev"),
              "gone": env.identity("gone-app", status="decommissioned"),
              "strict": env.identity("strict-app", "strict")}  # fmt: skip
    ids = {}
    for case, ident, fields, _rule, _expected in CASES:
        extra = {"identity_id": idents[ident]} if ident else {}
        ids[case] = env.credential(**{**fields, **extra})
    ids["clean"] = env.credential()
    result = env.posture.engine.evaluate()
    assert result.evaluated >= len(CASES)
    yield env, ids
    env.c.close()


@pytest.mark.parametrize(
    ("case", "rule", "expected"), [(c[0], c[3], c[4]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule(evaluated: tuple[PostureEnv, dict], case: str, rule: RuleId,
              expected: bool) -> None:  # fmt: skip
    env, ids = evaluated
    assert (rule.value in env.open_rules(ids[case])) is expected


def test_clean_credential_has_no_finding(evaluated: tuple[PostureEnv, dict]) -> None:
    env, ids = evaluated
    assert env.open_rules(ids["clean"]) == set()


def test_expiring_severity_follows_thresholds(evaluated: tuple[PostureEnv, dict]) -> None:
    env, ids = evaluated
    assert env.findings(ids["expiring-medium"])["expiring"].severity == "medium"
    assert env.findings(ids["expiring-high"])["expiring"].severity == "high"
    assert env.findings(ids["strict-env-45-days"])["expiring"].details["threshold_days"] == 60


def test_leaked_finding_never_carries_the_preview(evaluated: tuple[PostureEnv, dict]) -> None:
    env, ids = evaluated
    finding = env.findings(ids["leaked"])["secret-in-code"]
    assert finding.severity == "critical"
    assert "AKIA" not in repr(finding.details) and "AKIA" not in finding.title


def test_finding_carries_identity_and_risk(evaluated: tuple[PostureEnv, dict]) -> None:
    env, ids = evaluated
    zombie = env.findings(ids["zombie"])["zombie"]
    assert zombie.identity_id is not None and zombie.risk == 7.0


def test_ca_expiring_before_what_it_issued(tmp_path: Path) -> None:
    env = make_posture_env(tmp_path, FakeClock(NOW))
    try:
        ca = env.c.pki.cas.create(env.root, CreateCARequest(
            name="short-root", kind=CAKind.ROOT, common_name="Short Root"))  # fmt: skip
        with env.c.db.session() as s:
            ca_row = s.get(PkiCaRow, ca.id)
            assert ca_row is not None and ca_row.not_after is not None
            ca_end = ca_row.not_after
        env.posture.engine.evaluate()
        assert not [k for k in env.findings() if k.startswith("ca-expires-before-issued")]

        def leaf(not_after: datetime, status: str = "issued") -> None:
            with env.c.db.session(write=True) as s:
                s.execute(insert(PkiCertificateRow), [{
                    "id": new_ulid(env.clock, env.c.rng), "ca_id": ca.id,
                    "serial": new_ulid(env.clock, env.c.rng).lower()[:20], "status": status,
                    "profile": None, "identity_id": None, "credential_id": None,
                    "fingerprint": None, "common_name": "leaf", "not_before": NOW,
                    "not_after": not_after, "der": None, "renewed_from": None,
                    "revoked_at": None, "revocation_reason": None, "created_at": NOW}])  # fmt: skip

        leaf(ca_end - D)  # inside the CA's life: fine
        leaf(ca_end + 30 * D, status="revoked")  # revoked leaves do not count
        env.posture.engine.evaluate()
        assert not [k for k in env.findings() if k.startswith("ca-expires-before-issued")]
        leaf(ca_end + 30 * D)
        env.posture.engine.evaluate()
        found = env.findings()[f"ca-expires-before-issued:ca:{ca.id}"]
        assert found.status == "open" and found.details["ca"] == "short-root"
        with env.c.db.session(write=True) as s:  # the late leaf is revoked: cause gone
            for row in s.scalars(
                select(PkiCertificateRow).where(
                    PkiCertificateRow.ca_id == ca.id, PkiCertificateRow.status == "issued"
                )
            ):
                row.status = "revoked"
        env.posture.engine.evaluate()
        assert env.findings()[f"ca-expires-before-issued:ca:{ca.id}"].status == "resolved"
    finally:
        env.c.close()


def test_every_rule_is_described_and_mapped() -> None:
    infos = catalogue()
    assert {i.id for i in infos} == set(RuleId)
    for info in infos:
        assert info.description and info.remediation
        controls = MAPPING[info.id]
        assert controls.pci_dss and controls.nist_800_53
    assert "8.6.2" in MAPPING[RuleId.LEAKED_SECRET].pci_dss
    assert "IA-5(7)" in MAPPING[RuleId.LEAKED_SECRET].nist_800_53
