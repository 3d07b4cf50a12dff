"""Leases and the database engine service over the in-process fake engine, time moved by the
injected clock (no sleeps)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tessera.app import Container
from tessera.auth.models import Principal
from tessera.core.clock import FakeClock, as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tessera.inventory.models import CredentialKind
from tessera.secrets.database import DynamicCredentials
from tessera.secrets.engines.memory import MemoryEngine, MemoryUser
from tessera.secrets.errors import EngineError, EngineUnavailable, LeaseNotRenewable
from tessera.secrets.leases import MAX_ATTEMPTS, LeaseState, lease_fingerprint
from tessera.storage.models import CredentialRow
from tessera.storage.models_secrets import LeaseRow
from tests.helpers import make_container, root_principal

ROOT_PW = "root-password-0123456789abcdefghijkl"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Container, Principal, MemoryEngine, FakeClock]]:
    clock = FakeClock()
    c, _shares, token = make_container(tmp_path, clock=clock)
    mem = MemoryEngine(root_username="tessera_root", root_password=ROOT_PW)
    c.database.connections.engine_for = lambda _plugin: mem
    p = root_principal(c, token)
    c.database.write_connection(
        p, "app", {"plugin": "postgresql", "username": "tessera_root", "password": ROOT_PW}
    )
    c.database.write_role(
        p,
        "reader",
        {"connection": "app", "default_ttl": "1h", "max_ttl": "2h",
         "grants": [{"privileges": ["SELECT"], "on": "public.items"}]},
    )  # fmt: skip
    yield c, p, mem, clock
    c.close()


def _lease_row(c: Container, lease_id: str) -> LeaseRow | None:
    with c.db.session() as s:
        return s.get(LeaseRow, lease_id)


def _credential(c: Container, lease_id: str) -> CredentialRow:
    with c.db.session() as s:
        row = s.scalar(
            select(CredentialRow).where(
                CredentialRow.kind == CredentialKind.DYNAMIC_LEASE.value,
                CredentialRow.fingerprint == lease_fingerprint(lease_id),
            )
        )
        assert row is not None
        return row


def test_creds_create_user_lease_and_inventory_row(env) -> None:
    c, p, mem, clock = env
    made = c.database.creds(p, "reader")
    assert isinstance(made, DynamicCredentials)
    assert made.username.startswith("tdb_reader_") and len(made.username) <= 32
    assert mem.login(made.username, made.password)
    assert mem.users[made.username].expires_at == clock.now() + timedelta(hours=1)
    assert made.lease.state is LeaseState.ACTIVE
    assert made.lease.id.startswith("database/creds/reader/")
    cred = _credential(c, made.lease.id)
    assert cred.status == "active" and as_utc(cred.not_after) == made.lease.expires_at
    assert made.password not in repr(cred.attributes)


def test_ttl_is_clamped_to_role_max(env) -> None:
    c, p, _mem, clock = env
    made = c.database.creds(p, "reader", ttl=timedelta(hours=10))
    assert made.lease.expires_at == clock.now() + timedelta(hours=2)


def test_revoke_drops_user_and_is_idempotent(env) -> None:
    c, p, mem, _clock = env
    made = c.database.creds(p, "reader")
    lease = c.leases.revoke(p, made.lease.id)
    assert lease.state is LeaseState.REVOKED
    assert made.username not in mem.users
    assert _credential(c, made.lease.id).status == "revoked"
    assert c.leases.revoke(p, made.lease.id).state is LeaseState.REVOKED


def test_expiry_revokes_through_the_worker_step(env) -> None:
    c, p, mem, clock = env
    made = c.database.creds(p, "reader", ttl=timedelta(minutes=5))
    assert c.leases.process_due() == 0
    clock.advance(timedelta(minutes=5, seconds=1))
    assert c.leases.process_due() == 1
    assert made.username not in mem.users
    assert c.leases.get(p, made.lease.id).state is LeaseState.REVOKED


def test_renew_extends_up_to_max_and_moves_valid_until(env) -> None:
    c, p, mem, clock = env
    made = c.database.creds(p, "reader")
    clock.advance(timedelta(minutes=50))
    renewed = c.leases.renew(p, made.lease.id, timedelta(hours=5))
    assert renewed.expires_at == made.lease.max_expires_at
    assert mem.users[made.username].expires_at == renewed.expires_at
    assert as_utc(_credential(c, made.lease.id).not_after) == renewed.expires_at
    c.leases.revoke(p, made.lease.id)
    with pytest.raises(LeaseNotRenewable):
        c.leases.renew(p, made.lease.id, None)


def test_unreachable_database_leaves_no_lease(env) -> None:
    c, p, mem, _clock = env
    mem.available = False
    with pytest.raises(EngineUnavailable):
        c.database.creds(p, "reader")
    assert c.leases.list(p, "database/", live_only=False) == []
    with c.db.session() as s:
        kinds = list(s.scalars(select(CredentialRow.kind)))
    assert CredentialKind.DYNAMIC_LEASE.value not in kinds


def test_refused_create_is_undone(env) -> None:
    c, p, mem, _clock = env
    mem.fail_next_create = 1
    with pytest.raises(EngineError):
        c.database.creds(p, "reader")
    assert c.leases.list(p, "database/", live_only=False) == []
    assert [u for u in mem.users if u.startswith("tdb_")] == []


def test_failed_revocation_backs_off_then_becomes_irrevocable(env) -> None:
    c, p, mem, clock = env
    made = c.database.creds(p, "reader")
    mem.fail_next_revoke = 1000
    lease = c.leases.revoke(p, made.lease.id)
    assert lease.state is LeaseState.REVOKING and lease.attempts == 1
    assert c.leases.process_due() == 0  # not due again before its back-off
    for _ in range(MAX_ATTEMPTS):
        clock.advance(timedelta(minutes=6))
        c.leases.process_due()
    lease = c.leases.get(p, made.lease.id)
    assert lease.state is LeaseState.IRREVOCABLE and lease.attempts == MAX_ATTEMPTS
    assert _credential(c, made.lease.id).attributes["irrevocable"] is True
    # once the database works again, the sweep removes the user (no live lease holds it)
    mem.fail_next_revoke = 0
    assert c.database.sweep() == 1
    assert made.username not in mem.users


def test_revoking_the_token_revokes_its_leases(env) -> None:
    c, p, mem, _clock = env
    from tessera.auth.models import CreateTokenRequest

    child = c.tokens.create(p, CreateTokenRequest(policies=("root",)))
    cp = c.tokens.authenticate(child.token)
    made = c.database.creds(cp, "reader")
    other = c.database.creds(p, "reader")
    c.tokens.revoke(p, child.token)
    assert c.leases.process_due() == 1
    assert made.username not in mem.users and other.username in mem.users


def test_crash_repair_revokes_pending_and_sweeps_orphans(env) -> None:
    c, p, mem, _clock = env
    made = c.database.creds(p, "reader")
    with c.db.session(write=True) as s:  # as if the process died before marking it active
        row = s.get(LeaseRow, made.lease.id)
        assert row is not None
        row.state = LeaseState.PENDING.value
    mem.users["tdb_reader_orphan"] = mem.users[made.username].__class__(password="x" * 32)
    assert c.leases.process_due(pending_before=_clock.now() + timedelta(seconds=1)) == 1
    assert made.username not in mem.users
    assert c.database.sweep() == 1
    assert "tdb_reader_orphan" not in mem.users and "tessera_root" in mem.users


def test_revoke_prefix(env) -> None:
    c, p, mem, _clock = env
    made = [c.database.creds(p, "reader") for _ in range(3)]
    assert c.leases.revoke_prefix(p, "database/creds/reader/") == 3
    assert all(m.username not in mem.users for m in made)
    assert c.leases.list(p, "database/creds/reader/") == []


def test_static_role_rotation_and_schedule(env) -> None:
    c, p, mem, clock = env
    mem.users["app_static"] = mem.users["tessera_root"].__class__(password="initial-" + "x" * 30)
    info = c.database.write_static_role(
        p, "app", {"connection": "app", "username": "app_static", "rotation_period": "1h"}
    )
    first = c.database.static_creds(p, "app")
    assert info.last_rotated_at == clock.now() and mem.login("app_static", first.password)
    c.database.rotate_role(p, "app")
    second = c.database.static_creds(p, "app")
    assert second.password != first.password
    assert not mem.login("app_static", first.password) and mem.login("app_static", second.password)
    clock.advance(timedelta(hours=1, seconds=1))
    assert c.database.rotate_due_static() == 1
    assert not mem.login("app_static", second.password)


def test_root_rotation_survives_a_crash_between_alter_and_commit(env) -> None:
    c, p, mem, _clock = env
    c.database.rotate_root(p, "app")
    assert mem.users["tessera_root"].password != ROOT_PW
    c.database.creds(p, "reader")  # the new password works
    # simulate: pending recorded and applied in the database, then the process died
    conns = c.database.connections
    with c.db.session(write=True) as s:
        row = conns.row(s, "app")
        row.pending_password = conns.seal("app", "pending_password", "p" * 32)
    mem.users["tessera_root"].password = "p" * 32
    c.database.creds(p, "reader")
    with c.db.session() as s:
        assert conns.row(s, "app").pending_password is None


def test_policy_denies_without_revealing(env) -> None:
    c, p, _mem, _clock = env
    from tessera.auth.models import CreateTokenRequest

    made = c.tokens.create(p, CreateTokenRequest(policies=("default",)))
    weak = c.tokens.authenticate(made.token)
    with pytest.raises(PermissionDenied):
        c.database.creds(weak, "reader")
    with pytest.raises(PermissionDenied):
        c.leases.get(weak, "database/creds/reader/nope")
    with pytest.raises(NotFound):
        c.leases.get(p, "database/creds/reader/nope")


# -- found in review ------------------------------------------------------------------------------
def test_sweep_keeps_live_users_of_other_connections_on_the_same_server(env) -> None:
    c, p, mem, _clock = env
    c.database.write_connection(
        p, "app2", {"plugin": "postgresql", "username": "tessera_root", "password": ROOT_PW}
    )
    made = c.database.creds(p, "reader")  # through "app"
    c.database.sweep()  # sweeps "app" and "app2", which list the same server's users
    assert made.username in mem.users


def test_rotate_root_after_a_lost_promotion_applies_the_pending_password(env, monkeypatch) -> None:
    c, p, mem, _clock = env
    conns = c.database.connections
    real = conns._promote_pending

    def crash(*_args: object) -> None:
        raise RuntimeError("crashed before the promotion committed")

    monkeypatch.setattr(conns, "_promote_pending", crash)
    with pytest.raises(RuntimeError):
        c.database.rotate_root(p, "app")
    monkeypatch.setattr(conns, "_promote_pending", real)
    c.database.rotate_root(p, "app")  # must not replace the pending password the DB now holds
    made = c.database.creds(p, "reader")
    assert mem.login(made.username, made.password)


def test_lease_revoked_during_create_does_not_hand_out_credentials(env) -> None:
    c, p, mem, clock = env
    real = mem.create_user

    def slow(conn, req) -> None:  # type: ignore[no-untyped-def]
        c.leases.process_due(pending_before=clock.now() + timedelta(seconds=1))
        real(conn, req)

    mem.create_user = slow  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        c.database.creds(p, "reader")
    assert [u for u in mem.users if u.startswith("tdb_")] == []


def test_bad_templates_and_grants_are_refused_when_the_role_is_written(env) -> None:
    c, p, _mem, _clock = env
    grants = [{"privileges": ["SELECT"], "on": "public.items"}]
    bad = [
        {"connection": "app", "grants": grants, "revocation_statements": ['DROP "{{username}}"']},
        {"connection": "app", "grants": grants, "creation_statements": ["CREATE {{name}}"]},
        {"connection": "app", "grants": [{"privileges": ["DROP"], "on": "public.items"}]},
        {"connection": "app", "creation_statements": ["CREATE ROLE {{evil}}"]},
    ]
    for doc in bad:
        with pytest.raises(InvalidRequest):
            c.database.write_role(p, "bad", doc)


def test_static_role_user_with_tessera_prefix_is_refused(env) -> None:
    c, p, mem, _clock = env
    mem.users["tdb_app"] = MemoryUser(password="x" * 32)
    with pytest.raises(InvalidRequest):
        c.database.write_static_role(p, "svc", {"connection": "app", "username": "tdb_app"})


def test_revoke_does_not_take_over_a_revocation_in_progress(env) -> None:
    c, p, mem, _clock = env
    made = c.database.creds(p, "reader")
    claim = c.leases._claim(made.lease.id, True, _clock.now())  # another node is revoking
    assert claim is not None
    lease = c.leases.revoke(p, made.lease.id)
    assert lease.state is LeaseState.REVOKING  # left to the claim holder
    assert made.username in mem.users


def test_decommission_plan_and_decommission_cover_leases(env) -> None:
    c, p, mem, _clock = env
    from tessera.auth.models import CreateTokenRequest
    from tessera.inventory.models import CreateIdentityRequest

    c.inventory.create_identity(p, CreateIdentityRequest(name="etl", owner="team-data"))
    bound = c.tokens.authenticate(
        c.tokens.create(p, CreateTokenRequest(policies=("root",), identity="etl")).token
    )
    made = c.database.creds(bound, "reader")
    plan = c.inventory.decommission_plan(p, "etl")
    assert CredentialKind.DYNAMIC_LEASE in {x.kind for x in plan}
    assert c.leases.get(p, made.lease.id).state is LeaseState.ACTIVE  # a dry run changes nothing
    c.inventory.decommission(p, "etl")
    assert c.leases.get(p, made.lease.id).state is LeaseState.REVOKING
    assert c.leases.process_due() == 1
    assert made.username not in mem.users
