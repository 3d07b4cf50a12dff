"""Storage contract: every test runs on SQLite and on PostgreSQL (the `db_url` fixture).

Services are called in-process on a real migrated database; time moves with a FakeClock.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text, update

from tessera.app import Container, build
from tessera.auth.models import CreatedToken, CreateTokenRequest, Principal
from tessera.barrier.aead import AAD
from tessera.barrier.service import Barrier
from tessera.config import Settings
from tessera.core.clock import FakeClock
from tessera.core.errors import (
    BarrierError,
    Conflict,
    InvalidRequest,
    NotFound,
    Sealed,
    Unauthenticated,
)
from tessera.core.randomness import SystemRandomness
from tessera.inventory.models import (
    CreateIdentityRequest,
    CredentialKind,
    CredentialQuery,
    CredentialStatus,
    IdentityKind,
    IdentityQuery,
    IdentityStatus,
    UpdateIdentityRequest,
)
from tessera.storage.migrate import alembic_config
from tessera.storage.models import IdentityRow, SystemSecretRow
from tests.helpers import make_container, root_principal

POLICY_DOC = {
    "description": "app tokens",
    "rules": [
        {"path": "auth/token/create", "capabilities": ["create"]},
        {"path": "identities/*", "capabilities": ["read"]},
    ],
}


@dataclass
class Env:
    c: Container
    shares: list[str]
    root_token: str
    root: Principal
    clock: FakeClock
    data_dir: Path
    url: str


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> Iterator[Env]:
    clock = FakeClock()
    data_dir = tmp_path / "data"
    c, shares, root = make_container(
        data_dir, database_url=db_url, clock=clock, shares=3, threshold=2
    )
    yield Env(c, shares, root, root_principal(c, root), clock, data_dir, db_url)
    c.close()


def ident(e: Env, name: str, owner: str = "team-a", **kw: Any) -> str:
    return e.c.inventory.create_identity(e.root, CreateIdentityRequest(name, owner, **kw)).name


def all_names(e: Env, query: IdentityQuery) -> set[str]:
    return {i.name for i in e.c.inventory.list_identities(e.root, query).items}


def token_creds(e: Env, status: CredentialStatus | None = None) -> dict[str, CredentialStatus]:
    page = e.c.inventory.list_credentials(
        e.root, CredentialQuery(kind=CredentialKind.TESSERA_TOKEN, status=status, limit=1000)
    )
    return {c.attributes["accessor"]: c.status for c in page.items}


# -- migrations and restart ----------------------------------------------------------------
def test_migrations_are_idempotent(env: Env) -> None:
    tables_before = set(inspect(env.c.db.engine).get_table_names())
    env.c.db.migrate()
    env.c.db.migrate()
    assert set(inspect(env.c.db.engine).get_table_names()) == tables_before
    assert {"identities", "tokens", "keyring", "credentials"} <= tables_before
    with env.c.db.session() as s:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert list(s.execute(text("SELECT version_num FROM alembic_version"))) == [(head,)]


def test_restart_keeps_policy_identity_and_token(env: Env) -> None:
    env.c.policies.write(env.root, "app", POLICY_DOC)
    ident(env, "svc.billing", labels={"tier": "gold"})
    child = env.c.tokens.create(
        env.root,
        CreateTokenRequest(policies=("app",), identity="svc.billing", ttl=timedelta(hours=1)),
    )
    env.c.close()

    c2 = build(Settings(data_dir=env.data_dir, database_url=env.url), clock=env.clock)
    try:
        c2.db.migrate()
        st = c2.barrier.status()
        assert st.initialized and st.sealed and (st.shares, st.threshold) == (3, 2)
        with pytest.raises(Sealed):
            c2.tokens.authenticate(env.root_token)
        assert c2.barrier.submit_share(env.shares[2]).progress == 1
        assert not c2.barrier.submit_share(env.shares[0]).sealed
        root = c2.tokens.authenticate(env.root_token)
        assert root.is_root
        rules = c2.policies.read(root, "app").to_document()["rules"]
        assert [(r["path"], r["capabilities"]) for r in rules] == [
            (r["path"], r["capabilities"]) for r in POLICY_DOC["rules"]
        ]
        found = c2.inventory.get_identity(root, "svc.billing")
        assert found.owner == "team-a" and found.labels == {"tier": "gold"}
        p = c2.tokens.authenticate(child.token)
        assert p.accessor == child.info.accessor and p.policy_names == ("app", "default")
        assert p.identity_id == found.id and {x.name for x in p.policies} == {"app", "default"}
    finally:
        c2.close()


# -- identities ----------------------------------------------------------------------------
def test_identity_create_get_conflict_update(env: Env) -> None:
    inv = env.c.inventory
    created = inv.create_identity(
        env.root,
        CreateIdentityRequest(
            "web-1",
            "team-a",
            IdentityKind.SERVICE_ACCOUNT,
            "prod",
            {"app": "web"},
            "spiffe://example.org/web",
        ),
    )
    assert created.status is IdentityStatus.ACTIVE and len(created.id) == 26
    with pytest.raises(Conflict):
        inv.create_identity(env.root, CreateIdentityRequest("web-1", "team-b"))
    got = inv.get_identity(env.root, "web-1")
    assert got == created
    with pytest.raises(NotFound):
        inv.get_identity(env.root, "web-2")

    bound = env.c.tokens.create(
        env.root, CreateTokenRequest(identity="web-1", ttl=timedelta(hours=1))
    )
    unbound = env.c.tokens.create(env.root, CreateTokenRequest(ttl=timedelta(hours=1)))
    env.clock.advance(5)
    updated = inv.update_identity(
        env.root, "web-1", UpdateIdentityRequest(owner="team-b", labels={"app": "web2"})
    )
    assert (updated.owner, updated.labels, updated.environment) == (
        "team-b",
        {"app": "web2"},
        "prod",
    )
    assert updated.updated_at == created.updated_at + timedelta(seconds=5)
    assert inv.get_identity(env.root, "web-1") == updated
    creds = inv.list_credentials(env.root, CredentialQuery(identity="web-1")).items
    assert [c.attributes["accessor"] for c in creds] == [bound.info.accessor]
    assert creds[0].owner == "team-b"
    other = inv.list_credentials(env.root, CredentialQuery(owner="team-b")).items
    assert unbound.info.accessor not in {c.attributes["accessor"] for c in other}


def test_identity_filters(env: Env) -> None:
    ident(env, "a1", "team-a", kind=IdentityKind.WORKLOAD, environment="prod", labels={"t": "1"})
    ident(env, "a2", "team-a", kind=IdentityKind.BOT, environment="dev", labels={"t": "2"})
    ident(env, "b1", "team-b", kind=IdentityKind.WORKLOAD, environment="dev", labels={"t": "1"})
    ident(env, "b2", "team-b", kind=IdentityKind.DEVICE, environment="prod")
    env.c.inventory.decommission(env.root, "b2")
    assert all_names(env, IdentityQuery()) == {"a1", "a2", "b1", "b2"}
    assert all_names(env, IdentityQuery(kind=IdentityKind.WORKLOAD)) == {"a1", "b1"}
    assert all_names(env, IdentityQuery(owner="team-b")) == {"b1", "b2"}
    assert all_names(env, IdentityQuery(environment="dev")) == {"a2", "b1"}
    assert all_names(env, IdentityQuery(status=IdentityStatus.DECOMMISSIONED)) == {"b2"}
    assert all_names(env, IdentityQuery(status=IdentityStatus.ACTIVE)) == {"a1", "a2", "b1"}
    assert all_names(env, IdentityQuery(label=("t", "1"))) == {"a1", "b1"}
    assert all_names(env, IdentityQuery(label=("t", "1"), owner="team-a")) == {"a1"}
    assert all_names(env, IdentityQuery(owner="nobody")) == set()


def test_identity_keyset_paging(env: Env) -> None:
    expected = {ident(env, f"id-{i:02d}", labels={"even": str(i % 2 == 0)}) for i in range(25)}
    seen, sizes, cursor = [], [], None
    for _ in range(5):
        page = env.c.inventory.list_identities(env.root, IdentityQuery(limit=10, cursor=cursor))
        sizes.append(len(page.items))
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sizes == [10, 10, 5]
    assert len({i.name for i in seen}) == 25 and {i.name for i in seen} == expected
    ids = [i.id for i in seen]
    assert ids == sorted(ids)
    full = env.c.inventory.list_identities(env.root, IdentityQuery(limit=100))
    assert [i.id for i in full.items] == ids and full.next_cursor is None
    # label filter pages the same way
    labelled, cursor = [], None
    while True:
        query = IdentityQuery(label=("even", "True"), limit=5, cursor=cursor)
        page = env.c.inventory.list_identities(env.root, query)
        labelled.extend(i.name for i in page.items)
        if (cursor := page.next_cursor) is None:
            break
    assert sorted(labelled) == sorted(f"id-{i:02d}" for i in range(0, 25, 2))


@pytest.mark.parametrize(
    "cursor",
    ["!!!", "x" * 300, base64.urlsafe_b64encode(b"a' OR '1'='1").decode(), "_w"],
)
def test_invalid_cursor_is_refused(env: Env, cursor: str) -> None:
    with pytest.raises(InvalidRequest):
        env.c.inventory.list_identities(env.root, IdentityQuery(cursor=cursor))


def test_sql_looking_values_are_stored_verbatim(env: Env) -> None:
    owner = "x'); DROP TABLE identities;--"
    ident(env, "robert.tables", owner, labels={"note": "'; DELETE FROM tokens; --"})
    ident(env, "bobby_tables-1:prod@eu", 'o"wner\\ %_')
    got = env.c.inventory.get_identity(env.root, "robert.tables")
    assert got.owner == owner and got.labels == {"note": "'; DELETE FROM tokens; --"}
    assert all_names(env, IdentityQuery(owner=owner)) == {"robert.tables"}
    assert all_names(env, IdentityQuery(owner='o"wner\\ %_')) == {"bobby_tables-1:prod@eu"}
    assert all_names(env, IdentityQuery(owner="%")) == set()  # no LIKE semantics
    # Names allow printable ASCII without spaces or / \ % * + ? # (inventory/models.py,
    # widened in 6506681): quotes and semicolons are data, stored and matched verbatim.
    quoted = ["x');DROP-TABLE-identities;--", 'a"b', "a'OR'1'='1", "a;b"]
    for name in quoted:
        assert ident(env, name) == name
        assert env.c.inventory.get_identity(env.root, name).name == name
    with pytest.raises(NotFound):
        env.c.inventory.get_identity(env.root, "a'OR'1'='2")
    assert "identities" in inspect(env.c.db.engine).get_table_names()
    with env.c.db.session() as s:
        assert s.execute(select(func.count()).select_from(IdentityRow)).scalar_one() == 6
    for bad in [
        "robert'); DROP TABLE identities;--",
        "a b",
        "",
        "-lead",
        "a%27b",
        "a/b",
        "x" * 256,
    ]:
        with pytest.raises(InvalidRequest):
            env.c.inventory.create_identity(env.root, CreateIdentityRequest(bad, "team"))
    with pytest.raises(InvalidRequest):
        env.c.inventory.get_identity(env.root, "a' OR '1'='1")
    with pytest.raises(InvalidRequest):
        ident(env, "ok-name", owner="  ")


# -- tokens --------------------------------------------------------------------------------
def _tree(e: Env) -> tuple[CreatedToken, CreatedToken, CreatedToken, CreatedToken]:
    e.c.policies.write(e.root, "app", POLICY_DOC)
    req = CreateTokenRequest(policies=("app",), ttl=timedelta(hours=1))
    child = e.c.tokens.create(e.root, req)
    child_p = e.c.tokens.authenticate(child.token)
    grand1 = e.c.tokens.create(child_p, req)
    grand2 = e.c.tokens.create(child_p, req)
    great = e.c.tokens.create(e.c.tokens.authenticate(grand1.token), req)
    return child, grand1, grand2, great


def test_cascade_revoke_and_inventory(env: Env) -> None:
    child, grand1, grand2, great = _tree(env)
    sibling = env.c.tokens.create(env.root, CreateTokenRequest(ttl=timedelta(hours=1)))
    tree = [child, grand1, grand2, great]
    assert grand1.info.parent_accessor == child.info.accessor
    assert great.info.parent_accessor == grand1.info.accessor
    for t in [*tree, sibling]:
        env.c.tokens.authenticate(t.token)  # all valid and now cached
    assert set(token_creds(env, CredentialStatus.ACTIVE)) >= {t.info.accessor for t in tree}

    assert env.c.tokens.revoke_accessor(env.root, child.info.accessor) == 4
    for t in tree:
        with pytest.raises(Unauthenticated):
            env.c.tokens.authenticate(t.token)
        assert env.c.tokens.lookup_accessor(env.root, t.info.accessor).revoked_at == env.clock.now()
    assert env.c.tokens.authenticate(sibling.token).accessor == sibling.info.accessor
    assert env.c.tokens.authenticate(env.root_token).is_root
    revoked = token_creds(env, CredentialStatus.REVOKED)
    assert set(revoked) == {t.info.accessor for t in tree}
    assert token_creds(env)[sibling.info.accessor] is CredentialStatus.ACTIVE

    env.clock.advance(10)
    assert env.c.tokens.revoke_accessor(env.root, child.info.accessor) == 0
    assert env.c.tokens.revoke_accessor(env.root, grand1.info.accessor) == 0
    info = env.c.tokens.lookup_accessor(env.root, grand1.info.accessor)
    assert info.revoked_at == env.clock.now() - timedelta(seconds=10)  # first revocation kept


def test_token_expiry_follows_the_clock(env: Env) -> None:
    t = env.c.tokens.create(env.root, CreateTokenRequest(ttl=timedelta(minutes=10)))
    assert t.info.expires_at == env.clock.now() + timedelta(minutes=10)
    env.c.tokens.authenticate(t.token)
    env.clock.advance(599)
    assert env.c.tokens.authenticate(t.token).accessor == t.info.accessor  # cached hit
    env.clock.advance(1)
    with pytest.raises(Unauthenticated):
        env.c.tokens.authenticate(t.token)
    with pytest.raises(Conflict):
        env.c.tokens.renew_accessor(env.root, t.info.accessor, None)
    env.clock.advance(1)
    expired = env.c.inventory.list_credentials(
        env.root, CredentialQuery(status=CredentialStatus.EXPIRED)
    ).items
    assert [c.attributes["accessor"] for c in expired] == [t.info.accessor]


def test_renew_extends_but_never_beyond_max_ttl(env: Env) -> None:
    start = env.clock.now()
    t = env.c.tokens.create(
        env.root,
        CreateTokenRequest(ttl=timedelta(hours=1), explicit_max_ttl=timedelta(hours=2)),
    )
    acc = t.info.accessor
    assert t.info.max_expires_at == start + timedelta(hours=2)
    env.clock.advance(timedelta(minutes=30))
    info = env.c.tokens.renew_accessor(env.root, acc, timedelta(hours=1))
    assert info.expires_at == start + timedelta(minutes=90)
    env.clock.advance(timedelta(minutes=50))
    info = env.c.tokens.renew_accessor(env.root, acc, None)  # default step: the token's ttl
    assert info.expires_at == start + timedelta(hours=2)
    info = env.c.tokens.renew_accessor(env.root, acc, timedelta(days=30))
    assert info.expires_at == info.max_expires_at == start + timedelta(hours=2)
    with pytest.raises(InvalidRequest):
        env.c.tokens.renew_accessor(env.root, acc, timedelta(seconds=-1))
    cred = env.c.inventory.list_credentials(env.root, CredentialQuery()).items
    assert {c.attributes["accessor"]: c.not_after for c in cred}[acc] == info.expires_at
    env.clock.advance(timedelta(minutes=39, seconds=59))
    assert env.c.tokens.authenticate(t.token).accessor == acc
    env.clock.advance(1)
    with pytest.raises(Unauthenticated):
        env.c.tokens.authenticate(t.token)


# -- barrier on this engine ----------------------------------------------------------------
def test_barrier_row_swap_fails_and_other_node_sees_rotation(env: Env) -> None:
    b = env.c.barrier
    value_a = b.system_secret("A")
    b.system_secret("B")
    with env.c.db.session(write=True) as s:
        blob_a = s.get(SystemSecretRow, "A").ciphertext
        s.execute(
            update(SystemSecretRow).where(SystemSecretRow.name == "B").values(ciphertext=blob_a)
        )
    with pytest.raises(BarrierError):
        b.decrypt(AAD("system_secrets", "B", "ciphertext"), blob_a)
    other = Barrier(env.c.db, env.clock, SystemRandomness())
    for share in env.shares[:2]:
        other.submit_share(share)
    assert not other.sealed
    with pytest.raises(BarrierError):
        other.system_secret("B")
    assert other.system_secret("A") == value_a

    assert b.rotate() == 2
    blob = b.encrypt(AAD("t", "r", "c"), b"after rotation")
    assert int.from_bytes(blob[:4], "big") == 2
    assert other.decrypt(AAD("t", "r", "c"), blob) == b"after rotation"
    assert other.decrypt(AAD("system_secrets", "A", "ciphertext"), blob_a) == value_a


def test_two_nodes_first_use_of_a_system_secret(env: Env) -> None:
    other = Barrier(env.c.db, env.clock, SystemRandomness())
    for share in env.shares[:2]:
        other.submit_share(share)
    errors: list[BaseException] = []
    values: dict[tuple[int, int], bytes] = {}
    for i in range(20):
        gate = threading.Barrier(2)

        def first_use(node: int, b: Barrier, i: int = i, gate: threading.Barrier = gate) -> None:
            gate.wait(timeout=30)
            try:
                values[(i, node)] = b.system_secret(f"lazy-{i}")
            except BaseException as exc:
                errors.append(exc)

        pair = [
            threading.Thread(target=first_use, args=a) for a in ((0, env.c.barrier), (1, other))
        ]
        for th in pair:
            th.start()
        for th in pair:
            th.join(timeout=60)
    assert errors == []
    assert all(values[(i, 0)] == values[(i, 1)] for i in range(20))


# -- concurrency ---------------------------------------------------------------------------
def test_concurrent_writers(env: Env) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            start.wait(timeout=30)
            for i in range(20):
                ident(env, f"w{n}-{i}", f"team-{n}", labels={"worker": str(n)})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in threads)
    assert errors == []
    with env.c.db.session() as s:
        assert s.execute(select(func.count()).select_from(IdentityRow)).scalar_one() == 160
        ids = list(s.execute(select(IdentityRow.id)).scalars())
    assert len(set(ids)) == 160
    assert len(all_names(env, IdentityQuery(owner="team-3", limit=1000))) == 20
