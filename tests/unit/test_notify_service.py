"""Notification service without HTTP: routing by type glob and severity, recipients, the dedup
window, the daily digest (content and once-per-day claim across nodes), delivery claims,
policy checks, and that channel secrets are sealed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tessera.auth.models import CreateTokenRequest, Principal
from tessera.core.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tessera.inventory.models import CredentialKind, CredentialSource, RecordCredential
from tessera.notify import (
    ChannelRequest,
    ChannelType,
    DeliveryQuery,
    DeliveryState,
    EmailConfig,
    EventType,
    FakeNotifier,
    NotifyService,
    Route,
    Severity,
    WebhookConfig,
)
from tessera.storage.models_notify import NotifyChannelRow
from tests.unit.test_notify_channels import Env, expiring, make_env

HOOK = "https://hooks.example.com/services/T1/B1/tok3nS3CRETvalue"


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return fake_env(make_env(tmp_path))


def fake_env(e: Env) -> Env:
    for kind in ChannelType:
        e.notify.register(kind, FakeNotifier())
    return e


def sent(e: Env, kind: ChannelType = ChannelType.WEBHOOK) -> list[Any]:
    notifier = e.notify._notifiers[kind]
    assert isinstance(notifier, FakeNotifier)
    return notifier.sent


def channel(e: Env, name: str = "ops", kind: ChannelType = ChannelType.WEBHOOK) -> None:
    cfg: Any = (
        EmailConfig("smtp.example.com", "t@example.com", default_to="ops@example.com")
        if kind is ChannelType.EMAIL
        else WebhookConfig(HOOK, signing_secret="s" * 20)
    )
    e.notify.put_channel(e.root, ChannelRequest(name, kind, cfg))


def route(e: Env, name: str = "r", **kw: Any) -> Route:
    kw.setdefault("event_types", ("credential.*",))
    kw.setdefault("channels", ("ops",))
    return e.notify.put_route(e.root, Route(name=name, **kw))


# -- routing ---------------------------------------------------------------------------------
def test_routes_match_type_glob_and_minimum_severity(env: Env) -> None:
    channel(env)
    route(env, min_severity=Severity.HIGH)
    assert len(env.notify.publish(expiring())) == 1  # high ≥ high
    low = expiring(name="low.example.com")
    low = type(low)(low.type, Severity.MEDIUM, low.subject, low.text, low.occurred_at)
    assert env.notify.publish(low) == []
    other = type(low)(EventType.LEASE_IRREVOCABLE, Severity.CRITICAL, low.subject, "x",
                      low.occurred_at)  # fmt: skip
    assert env.notify.publish(other) == []  # lease.* is not credential.*
    route(env, enabled=False)
    assert env.notify.publish(expiring(name="again.example.com")) == []


def test_recipients_fixed_owner_directory_default_or_failed(env: Env) -> None:
    channel(env, "mail", ChannelType.EMAIL)
    route(env, "owner", channels=("mail",))
    [d1] = env.notify.publish(expiring(owner="alice@example.com"))
    [d2] = env.notify.publish(expiring(owner="team-web"))  # no directory entry: default_to
    assert env.notify.get_delivery(env.root, d1).recipient == "alice@example.com"
    assert env.notify.get_delivery(env.root, d2).recipient == "ops@example.com"
    route(env, "owner", channels=("mail",), recipients=("sec@example.com", "#sec"))
    [d3] = env.notify.publish(expiring(owner="team-db"))
    assert env.notify.get_delivery(env.root, d3).recipient == "sec@example.com"
    # an email channel without default_to and an owner with no address: failed, visible
    env.notify.put_channel(env.root, ChannelRequest("bare", ChannelType.EMAIL,
                                                    EmailConfig("h", "t@example.com")))  # fmt: skip
    route(env, "owner", channels=("bare",))
    [d4] = env.notify.publish(expiring(owner="team-x"))
    failed = env.notify.get_delivery(env.root, d4)
    assert failed.state is DeliveryState.FAILED
    assert failed.last_error == "no email address known for owner 'team-x'"
    env.notify.process_due()
    assert [m.recipient for m in sent(env, ChannelType.EMAIL)] == [
        "alice@example.com", "ops@example.com", "sec@example.com",
    ]  # fmt: skip


def test_dedup_window(env: Env) -> None:
    channel(env)
    route(env, dedup_window=timedelta(hours=6))
    assert len(env.notify.publish(expiring())) == 1
    env.clock.advance(timedelta(hours=5))
    assert env.notify.publish(expiring()) == []  # same type and subject within 6 h
    assert len(env.notify.publish(expiring(name="other.example.com"))) == 1
    env.clock.advance(timedelta(hours=1))
    assert len(env.notify.publish(expiring())) == 1  # window over
    route(env, dedup_window=timedelta(0))
    assert len(env.notify.publish(expiring())) == 1
    assert len(env.notify.publish(expiring())) == 1


# -- deliveries: claims and retries ------------------------------------------------------------
def test_a_claimed_delivery_is_not_sent_twice_and_a_lapsed_claim_is_retried(
    env: Env, tmp_path: Path
) -> None:
    channel(env)
    route(env)
    [delivery_id] = env.notify.publish(expiring())
    other = NotifyService(
        env.c.db, env.clock, env.c.rng, env.c.barrier, env.c.policies, env.c.inventory
    )  # fmt: skip  (a second node on the same database)
    other_fake = FakeNotifier()
    other.register(ChannelType.WEBHOOK, other_fake)
    claim = env.notify._runner._claim(delivery_id)  # node 1 claims, then dies before sending
    assert claim is not None
    assert other.process_due() == 0 and other_fake.sent == []
    env.clock.advance(env.notify.settings.retry.claim_hold)
    assert other.process_due() == 1
    assert [m.delivery_id for m in other_fake.sent] == [delivery_id]
    assert env.notify.process_due() == 0 and sent(env) == []


def test_deliveries_are_listed_newest_first_with_paging(env: Env) -> None:
    channel(env)
    route(env, dedup_window=timedelta(0))
    ids = []
    for _ in range(3):
        ids += env.notify.publish(expiring())
        env.clock.advance(1)  # ids sort by time (in a millisecond, at random)
    page = env.notify.list_deliveries(env.root, DeliveryQuery(limit=2))
    assert [d.id for d in page.items] == ids[::-1][:2] and page.next_cursor
    rest = env.notify.list_deliveries(env.root, DeliveryQuery(limit=2, cursor=page.next_cursor))
    assert [d.id for d in rest.items] == [ids[0]] and rest.next_cursor is None
    env.notify.process_due()
    done = env.notify.list_deliveries(env.root, DeliveryQuery(state=DeliveryState.DELIVERED))
    assert len(done.items) == 3
    with pytest.raises(NotFound):
        env.notify.get_delivery(env.root, "nope")


# -- digest ----------------------------------------------------------------------------------
def record(e: Env, name: str, owner: str | None, days: float, kind: CredentialKind) -> None:
    rec = RecordCredential(
        kind=kind, fingerprint=name, name=name, source=CredentialSource.DISCOVERED, owner=owner,
        not_after=e.clock.now() + timedelta(days=days),
        attributes={"private_key": "-----BEGIN PRIVATE KEY-----MIIEvQ"},
    )  # fmt: skip
    with e.c.db.session(write=True) as s:
        e.c.inventory.record(s, rec)


def test_daily_digest_per_owner_grouped_by_kind_once_per_day(env: Env) -> None:
    channel(env)
    route(env, event_types=("digest.*",))
    x509, api = CredentialKind.X509_CERTIFICATE, CredentialKind.API_KEY
    record(env, "web-a", "team-web", 3, x509)
    record(env, "web-key", "team-web", 20, api)
    record(env, "web-b", "team-web", 10, x509)
    record(env, "db-a", "team-db", 25, x509)
    record(env, "later", "team-db", 45, x509)  # beyond 30 days
    record(env, "gone", "team-db", -1, x509)  # already expired: not "expiring"

    result = env.notify.run_digest()
    assert result.ran and result.owners == 2 and result.deliveries == 2
    env.notify.process_due()
    by_owner = {m.event.subject.owner: m.event for m in sent(env)}
    assert set(by_owner) == {"team-web", "team-db"}
    web = by_owner["team-web"]
    assert web.type is EventType.DIGEST_EXPIRING and web.severity is Severity.HIGH  # ≤ 7 days
    assert [(i.kind, i.name) for i in web.items] == [
        ("x509_certificate", "web-a"), ("x509_certificate", "web-b"), ("api_key", "web-key"),
    ]  # fmt: skip
    assert [i.name for i in by_owner["team-db"].items] == ["db-a"]
    assert by_owner["team-db"].severity is Severity.MEDIUM
    from tessera.notify.render import text_body

    body = text_body(web)
    assert body.index("api_key (1):") < body.index("x509_certificate (2):")
    assert "PRIVATE KEY" not in body

    # the same day, on this node or another: nothing more
    assert not env.notify.run_digest().ran
    other = NotifyService(env.c.db, env.clock, env.c.rng, env.c.barrier, env.c.policies,
                          env.c.inventory)  # fmt: skip
    assert not other.run_digest().ran
    assert other._digest.due() is False
    env.clock.advance(timedelta(days=1))
    assert other.run_digest().ran


def test_digest_runs_from_the_worker_step_after_its_hour(env: Env) -> None:
    channel(env)
    route(env, event_types=("digest.expiring",))
    record(env, "web-a", "team-web", 3, CredentialKind.X509_CERTIFICATE)
    assert env.clock.now().hour < env.notify.settings.digest_hour
    env.notify.step()
    assert sent(env) == []
    env.clock.advance(timedelta(hours=env.notify.settings.digest_hour))
    env.notify.step()  # digest enqueued
    env.notify.step()  # and sent
    assert len(sent(env)) == 1
    env.notify.step()
    assert len(sent(env)) == 1


# -- policy, secrets, consistency --------------------------------------------------------------
def limited(e: Env, rules: list[dict[str, Any]]) -> Principal:
    e.c.policies.write(e.root, "notify-reader", {"rules": rules})
    created = e.c.tokens.create(e.root, CreateTokenRequest(policies=("notify-reader",)))
    return e.c.tokens.authenticate(created.token)


def test_policy_checks(env: Env) -> None:
    channel(env)
    reader = limited(env, [{"path": "notify/channels*", "capabilities": ["read", "list"]}])
    assert [c.name for c in env.notify.list_channels(reader)] == ["ops"]
    with pytest.raises(PermissionDenied):
        env.notify.put_channel(reader, ChannelRequest("x", ChannelType.WEBHOOK,
                                                      WebhookConfig(HOOK)))  # fmt: skip
    with pytest.raises(PermissionDenied):
        env.notify.test_channel(reader, "ops")
    with pytest.raises(PermissionDenied):
        env.notify.list_deliveries(reader, DeliveryQuery())


def test_channel_secrets_are_sealed_and_never_shown(env: Env) -> None:
    channel(env)
    shown = env.notify.get_channel(env.root, "ops")
    assert dict(shown.display) == {
        "endpoint": "https://hooks.example.com", "signed": True, "timeout": 10.0,
    }  # fmt: skip
    with env.c.db.session() as s:
        row = s.scalars(select(NotifyChannelRow)).one()
    assert b"tok3nS3CRET" not in row.secret and b"sssss" not in row.secret
    assert "tok3nS3CRET" not in str(row.config)


def test_routes_and_channels_stay_consistent(env: Env) -> None:
    with pytest.raises(InvalidRequest, match="no such channel: ops"):
        route(env)
    channel(env)
    route(env)
    with pytest.raises(Conflict, match="routes still send"):
        env.notify.delete_channel(env.root, "ops")
    env.notify.delete_route(env.root, "r")
    env.notify.delete_channel(env.root, "ops")
    with pytest.raises(NotFound):
        env.notify.get_channel(env.root, "ops")
    with pytest.raises(NotFound):
        env.notify.delete_route(env.root, "r")


def test_the_digest_waits_for_a_route(env: Env) -> None:
    record(env, "web-a", "team-web", 3, CredentialKind.X509_CERTIFICATE)
    skipped = env.notify.run_digest()
    assert not skipped.ran and skipped.skipped_reason == "no route sends digests"
    channel(env)
    route(env, event_types=("digest.*",))
    assert env.notify.run_digest().ran  # the same day: it was not claimed by the empty run


# -- both storage engines --------------------------------------------------------------------
def test_claims_and_dedup_on_each_engine(tmp_path: Path, db_url: str) -> None:
    e = fake_env(make_env(tmp_path, db_url))
    nodes = [e.notify] + [
        NotifyService(e.c.db, e.clock, e.c.rng, e.c.barrier, e.c.policies, e.c.inventory)
        for _ in range(3)
    ]
    fakes = [FakeNotifier() for _ in nodes[1:]]
    for node, fake in zip(nodes[1:], fakes, strict=True):
        node.register(ChannelType.WEBHOOK, fake)
    channel(e)
    route(e, event_types=("credential.*", "digest.*"), dedup_window=timedelta(hours=1))
    record(e, "web-a", "team-web", 3, CredentialKind.X509_CERTIFICATE)
    published = [i for node in nodes for i in node.publish(expiring())]
    assert len(published) == 1  # dedup across nodes
    digests = [node.run_digest() for node in nodes]
    assert [d.ran for d in digests].count(True) == 1
    with ThreadPoolExecutor(len(nodes)) as pool:
        delivered = sum(pool.map(lambda n: n.process_due(), nodes))
    assert delivered == 2  # the event and the digest, each once
    all_sent = sent(e) + [m for f in fakes for m in f.sent]
    assert sorted(m.event.type.value for m in all_sent) == [
        "credential.expiring", "digest.expiring",
    ]  # fmt: skip
