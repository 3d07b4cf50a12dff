"""The findings lifecycle on the injected clock: acknowledge until a date, open again after
it; resolved when the cause goes (revoked, superseded, deleted, fixed), reopened when it comes
back; one node per scheduled slot; listing with filters and keyset paging; policy checks; and
the number of queries an evaluation of 10,000 credentials takes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, insert

from tessera.auth.models import Principal
from tessera.core.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tessera.core.ids import new_ulid
from tessera.policy.models import Policy
from tessera.posture import AcknowledgeRequest, FindingQuery, FindingStatus, Severity
from tessera.posture.config import ConfigStore
from tessera.posture.engine import PostureEngine
from tessera.posture.models import RuleId
from tessera.storage.models import CredentialRow
from tests.unit.test_posture_helpers import PostureEnv, credential_row, make_posture_env

D = timedelta(days=1)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[PostureEnv]:
    e = make_posture_env(tmp_path)
    yield e
    e.c.close()


def _only(env: PostureEnv, credential_id: str, rule: str = "weak-key") -> str:
    return env.findings(credential_id)[rule].id


def test_acknowledged_until_a_date_then_open_again(env: PostureEnv) -> None:
    weak = env.credential(key_bits=1024)
    env.posture.engine.evaluate()
    fid = _only(env, weak)
    until = env.clock.now() + 2 * D
    acked = env.posture.acknowledge(env.root, fid, AcknowledgeRequest("replacing in Q1", until))
    assert acked.status is FindingStatus.ACKNOWLEDGED and acked.ack_by
    env.clock.advance(D)
    env.posture.engine.evaluate()  # the cause remains: the acknowledgement holds
    assert env.posture.get_finding(env.root, fid).status is FindingStatus.ACKNOWLEDGED
    page = env.posture.list_findings(env.root, FindingQuery(status=FindingStatus.OPEN))
    assert fid not in {f.id for f in page.items}
    env.clock.advance(D + timedelta(seconds=1))
    # lapsed: open at once for readers, and stored as open by the next evaluation
    assert env.posture.get_finding(env.root, fid).status is FindingStatus.OPEN
    page = env.posture.list_findings(env.root, FindingQuery(status=FindingStatus.OPEN))
    assert fid in {f.id for f in page.items}
    result = env.posture.engine.evaluate()
    assert result.reopened_acks == 1
    assert env.findings(weak)["weak-key"].status == "open"


def test_acknowledge_refuses_bad_requests(env: PostureEnv) -> None:
    weak = env.credential(key_bits=1024)
    env.posture.engine.evaluate()
    fid = _only(env, weak)
    now = env.clock.now()
    with pytest.raises(InvalidRequest):
        env.posture.acknowledge(env.root, fid, AcknowledgeRequest("late", now - D))
    with pytest.raises(InvalidRequest):
        env.posture.acknowledge(env.root, fid, AcknowledgeRequest("forever", now + 400 * D))
    with pytest.raises(InvalidRequest):
        AcknowledgeRequest("   ", now + D)
    with pytest.raises(InvalidRequest):
        AcknowledgeRequest("bad\x1bchars", now + D)
    with pytest.raises(NotFound):
        env.posture.acknowledge(env.root, "0" * 26, AcknowledgeRequest("x", now + D))
    with pytest.raises(NotFound):
        env.posture.get_finding(env.root, "../etc")
    env.update(weak, key_bits=4096)
    env.posture.engine.evaluate()
    with pytest.raises(Conflict):
        env.posture.acknowledge(env.root, fid, AcknowledgeRequest("too late", now + D))


@pytest.mark.parametrize("change", ["revoked", "superseded", "deleted", "fixed"])
def test_resolved_when_cause_goes_and_reopened_when_it_returns(
    env: PostureEnv, change: str
) -> None:
    weak = env.credential(key_bits=1024)
    other = env.credential(key_bits=1024)  # untouched: stays open
    env.posture.engine.evaluate()
    fid = _only(env, weak)
    env.posture.acknowledge(env.root, fid, AcknowledgeRequest("known", env.clock.now() + 9 * D))
    env.clock.advance(D)
    if change == "deleted":
        with env.c.db.session(write=True) as s:
            s.execute(delete(CredentialRow).where(CredentialRow.id == weak))
    elif change == "fixed":
        env.update(weak, key_bits=3072)
    else:
        env.update(weak, status=change)
    result = env.posture.engine.evaluate()
    assert result.resolved == 1
    row = env.findings(weak)["weak-key"]
    assert row.status == "resolved" and row.resolved_at is not None
    assert env.findings(other)["weak-key"].status == "open"
    if change == "deleted":
        return
    env.clock.advance(D)
    env.update(weak, status="active", key_bits=1024)  # the cause is back
    assert env.posture.engine.evaluate().opened == 1
    row = env.findings(weak)["weak-key"]
    assert row.id == fid and row.status == "open" and row.ack_until is None
    assert row.resolved_at is None


def test_steady_estate_rewrites_nothing(env: PostureEnv) -> None:
    env.credential(key_bits=1024, not_after=env.clock.now() - D)
    first = env.posture.engine.evaluate()
    assert first.opened == 2
    again = env.posture.engine.evaluate()
    assert (again.opened, again.refreshed, again.resolved) == (0, 0, 0)


def test_severity_change_refreshes_the_finding(env: PostureEnv) -> None:
    now = env.clock.now()
    cred = env.credential(issued_at=now - 300 * D, not_after=now + 20 * D)
    env.posture.engine.evaluate()
    assert env.findings(cred)["expiring"].severity == "medium"
    env.clock.advance(15 * D)
    assert env.posture.engine.evaluate().refreshed == 1
    row = env.findings(cred)["expiring"]
    assert row.severity == "high" and row.risk == 7.0


def test_scheduled_run_claims_each_slot_once(env: PostureEnv) -> None:
    env.credential(key_bits=1024)
    other_node = PostureEngine(env.c.db, env.clock, env.c.rng, ConfigStore(env.c.db, env.clock),
                               "other-node")  # fmt: skip
    assert env.posture.engine.run_once() is not None
    assert env.posture.engine.run_once() is None
    assert other_node.run_once() is None  # the same slot, claimed through the database
    env.clock.advance(timedelta(minutes=10))
    assert other_node.run_once() is not None
    assert env.posture.engine.run_once() is None
    assert env.posture.engine.last_run() == env.clock.now()


def test_list_filters_and_pages(env: PostureEnv) -> None:
    ident = env.identity("pager")
    for _ in range(5):
        env.credential(key_bits=1024, identity_id=ident)
    env.credential(attributes={"sans": ["DNS:*.example.com"]})
    env.posture.engine.evaluate()
    seen: list[str] = []
    cursor = None
    while True:
        page = env.posture.list_findings(
            env.root, FindingQuery(rule_id=RuleId.WEAK_KEY, limit=2, cursor=cursor)
        )
        seen += [f.id for f in page.items]
        assert all(f.rule_id == "weak-key" for f in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    low = env.posture.list_findings(env.root, FindingQuery(severity=Severity.LOW))
    assert [f.rule_id for f in low.items] == ["wildcard"]
    by_identity = env.posture.list_findings(env.root, FindingQuery(identity_id=ident))
    assert len(by_identity.items) == 5
    with pytest.raises(InvalidRequest):
        env.posture.list_findings(env.root, FindingQuery(cursor="!!"))
    with pytest.raises(InvalidRequest):
        env.posture.list_findings(env.root, FindingQuery(limit=0))
    with pytest.raises(InvalidRequest):
        FindingQuery(credential_id="x' OR 1=1")


def test_risk_scores_per_credential_and_identity(env: PostureEnv) -> None:
    ident = env.identity("scored")
    a = env.credential(key_bits=1024, identity_id=ident)  # weak-key high: 7
    env.credential(attributes={"sans": ["DNS:*.example.com"]}, identity_id=ident)  # low: 1
    env.posture.engine.evaluate()
    assert env.posture.risk(env.root, credential_id=a) == (7.0, 1)
    assert env.posture.risk(env.root, identity_id=ident) == (8.0, 2)
    env.posture.acknowledge(env.root, _only(env, a), AcknowledgeRequest("ok", env.clock.now() + D))
    assert env.posture.risk(env.root, identity_id=ident) == (1.0, 1)
    with pytest.raises(InvalidRequest):
        env.posture.risk(env.root)


def _principal(paths: dict[str, list[str]]) -> Principal:
    doc: dict[str, Any] = {"rules": [{"path": p, "capabilities": c} for p, c in paths.items()]}
    return Principal("acc", ("limited",), (Policy.from_document("limited", doc),), "limited")


def test_policy_checks(env: PostureEnv) -> None:
    weak = env.credential(key_bits=1024)
    env.posture.engine.evaluate()
    fid = _only(env, weak)
    nobody = _principal({"secrets/*": ["read"]})
    reader = _principal({"posture/findings": ["list"], "posture/findings/*": ["read"],
                         "posture/report": ["read"]})  # fmt: skip
    ack = AcknowledgeRequest("x", env.clock.now() + D)
    for call in (
        lambda p: env.posture.list_findings(p, FindingQuery()),
        lambda p: env.posture.report(p),
        lambda p: env.posture.get_finding(p, fid),
    ):
        with pytest.raises(PermissionDenied):
            call(nobody)
        call(reader)
    for call in (
        lambda p: env.posture.acknowledge(p, fid, ack),
        lambda p: env.posture.evaluate(p),
        lambda p: env.posture.set_config(p, {}),
        lambda p: env.posture.get_config(p),
    ):
        with pytest.raises(PermissionDenied):
            call(reader)


def test_config_is_validated(env: PostureEnv) -> None:
    for bad in (
        [],
        {"extra": 1},
        {"defaults": {"thresholds": {"stale_days": 0}}},
        {"defaults": {"thresholds": {"stale_days": True}}},
        {"defaults": {"thresholds": {"nope": 3}}},
        {"defaults": {"thresholds": {"expiring_days": 5, "expiring_high_days": 9}}},
        {"environments": {"prod": {"disabled_rules": ["no-such-rule"]}}},
        {"environments": {"bad env": {}}},
    ):
        with pytest.raises(InvalidRequest):
            env.posture.set_config(env.root, bad)  # type: ignore[arg-type]
    saved = env.posture.set_config(env.root, {"defaults": {"thresholds": {"stale_days": 30}}})
    assert saved["defaults"]["thresholds"] == {"stale_days": 30}
    assert env.posture.get_config(env.root)["defaults"]["thresholds"]["stale_days"] == 30


def test_ten_thousand_credentials_in_bounded_queries(env: PostureEnv) -> None:
    now = env.clock.now()
    rows = [credential_row(now, new_ulid(env.clock, env.c.rng),
                           key_bits=1024 if i % 10 == 0 else 2048)
            for i in range(10_000)]  # fmt: skip
    with env.c.db.session(write=True) as s:
        s.execute(insert(CredentialRow), rows)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    event.listen(env.c.db.engine, "before_cursor_execute", count)
    try:
        first = env.posture.engine.evaluate()
        first_count = len(statements)
        statements.clear()
        env.posture.engine.evaluate()
    finally:
        event.remove(env.c.db.engine, "before_cursor_execute", count)
    assert first.evaluated == 10_001 and first.opened == 1000
    pages = 11  # 1000 credentials a page
    # per page: credentials, identities, findings, and at most 3 batched writes; plus a fixed
    # few for the run (claim, config, lapsed acks, shared keys, CA rule, bookkeeping)
    assert first_count <= pages * 6 + 20, first_count
    # a steady estate: reads only, besides the run's bookkeeping
    writes = [s for s in statements if s in ("INSERT", "UPDATE", "DELETE")]
    assert len(writes) <= 4, writes


def test_evaluation_and_report_on_both_storage_engines(db_url: str, tmp_path: Path) -> None:
    env = make_posture_env(tmp_path, database_url=db_url)
    try:
        now = env.clock.now()
        shared = {"public_key_fingerprint": "pk-1", "sans": ["DNS:a.example.com"]}
        a = env.credential(attributes=shared)
        env.credential(attributes=shared)
        weak = env.credential(key_bits=1024, not_after=now + 3 * D, issued_at=now - 300 * D)
        result = env.posture.engine.evaluate()
        assert result.opened == 4
        assert env.open_rules(a) == {"duplicate-key"}
        assert env.open_rules(weak) == {"weak-key", "expiring"}
        fid = _only(env, weak)
        env.posture.acknowledge(env.root, fid, AcknowledgeRequest("ok", now + D))
        report = env.posture.report(env.root)
        assert report.by_severity == {"high": 1, "medium": 2} and report.acknowledged == 1
        assert report.expiries[0][1] == 1
        env.clock.advance(2 * D)
        again = env.posture.engine.evaluate()
        assert again.reopened_acks == 1
        env.update(a, status="revoked")
        assert (
            env.posture.engine.evaluate().resolved == 2
        )  # both certificates: key no longer shared
    finally:
        env.c.close()
