"""Versioned KV through the service (no HTTP): versions, check-and-set, pruning, soft delete,
undelete, destroy, metadata, listing, the inventory row, usage coalescing and policy denials.
Storage-dependent tests run on SQLite and PostgreSQL (`db_url`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tessera.app import Container
from tessera.auth.models import CreateTokenRequest, Principal
from tessera.core.clock import FakeClock, as_utc
from tessera.core.errors import (
    BarrierError,
    InvalidPath,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
)
from tessera.inventory.models import CredentialKind, CredentialSource, CredentialStatus
from tessera.secrets.errors import VersionConflict
from tessera.secrets.kv_models import (
    MAX_VALUE_BYTES,
    CasRequired,
    MetadataUpdate,
    SecretDeleted,
    SecretDestroyed,
    WriteRequest,
    fingerprint,
    validate_path,
)
from tessera.storage.models import CredentialRow
from tessera.storage.models_secrets import KvSecretRow, KvVersionRow
from tests.helpers import make_container, root_principal

Env = tuple[Container, Principal, FakeClock]


def _env(tmp_path: Path, url: str | None = None) -> Env:
    clock = FakeClock()
    c, _, token = make_container(tmp_path, url, clock=clock)
    return c, root_principal(c, token), clock


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return _env(tmp_path)


@pytest.fixture
def both(tmp_path: Path, db_url: str) -> Env:
    return _env(tmp_path, db_url)


def put(c: Container, p: Principal, path: str, cas: int | None = None, **data: Any) -> int:
    return c.kv.write(p, WriteRequest(path, data, cas)).version


def credential(c: Container, path: str) -> CredentialRow:
    with c.db.session() as s:
        row = s.execute(
            select(CredentialRow).where(CredentialRow.fingerprint == fingerprint(path))
        ).scalar_one()
        s.expunge(row)
        return row


def used(c: Container, path: str) -> datetime | None:
    stamp = credential(c, path).last_used_at
    return as_utc(stamp) if stamp else None


def version_rows(c: Container, path: str) -> list[int]:
    with c.db.session() as s:
        q = select(KvVersionRow.version).where(KvVersionRow.path == path)
        return sorted(s.execute(q).scalars())


def token_with(c: Container, root: Principal, name: str, rules: list[dict[str, Any]]) -> Principal:
    c.policies.write(root, name, {"rules": rules})
    created = c.tokens.create(root, CreateTokenRequest(policies=(name,)))
    return c.tokens.authenticate(created.token)


# -- versions, cas, pruning ----------------------------------------------------------------------
def test_versions_reads_and_inventory_row(both: Env) -> None:
    c, root, clock = both
    assert put(c, root, "app/db", user="u", password="p1") == 1
    clock.advance(timedelta(hours=1))
    assert put(c, root, "app/db", user="u", password="p2", port=5432) == 2
    latest = c.kv.read(root, "app/db")
    assert latest.data == {"user": "u", "password": "p2", "port": 5432}
    assert latest.version.version == 2 and latest.version.created_at == clock.now()
    assert c.kv.read(root, "app/db", 1).data == {"user": "u", "password": "p1"}
    with pytest.raises(NotFound):
        c.kv.read(root, "app/db", 3)
    with pytest.raises(NotFound):
        c.kv.read(root, "app/other")
    cred = credential(c, "app/db")
    assert (cred.kind, cred.source, cred.status, cred.name) == (
        CredentialKind.STATIC_SECRET.value,
        CredentialSource.MANAGED.value,
        CredentialStatus.ACTIVE.value,
        "app/db",
    )
    assert cred.fingerprint.startswith("kv:") and "p2" not in str(cred.attributes)
    assert cred.last_rotated_at is not None and as_utc(cred.last_rotated_at) == clock.now()
    meta = c.kv.read_metadata(root, "app/db")
    assert (meta.current_version, meta.oldest_version) == (2, 1)
    assert [v.version for v in meta.versions] == [1, 2]
    assert meta.credential_id == cred.id and meta.last_rotated_at == clock.now()
    with c.db.session() as s:  # sealed at rest: the plaintext is nowhere in the row
        blob = s.get(KvVersionRow, ("app/db", 2))
        assert blob is not None and blob.ciphertext is not None and b"p2" not in blob.ciphertext


def test_cas_and_cas_required(both: Env) -> None:
    c, root, _ = both
    assert put(c, root, "svc/key", cas=0, v="1") == 1
    with pytest.raises(VersionConflict):
        put(c, root, "svc/key", cas=0, v="x")
    with pytest.raises(VersionConflict):
        put(c, root, "svc/key", cas=5, v="x")
    assert put(c, root, "svc/key", cas=1, v="2") == 2
    with pytest.raises(VersionConflict):
        put(c, root, "new/key", cas=3, v="x")
    assert version_rows(c, "svc/key") == [1, 2] and version_rows(c, "new/key") == []
    c.kv.write_metadata(root, "svc/key", MetadataUpdate(cas_required=True))
    with pytest.raises(CasRequired):
        put(c, root, "svc/key", v="3")
    assert put(c, root, "svc/key", cas=2, v="3") == 3
    assert c.kv.read(root, "svc/key").data == {"v": "3"}


def test_pruning_keeps_max_versions(env: Env) -> None:
    c, root, _ = env
    c.kv.write_metadata(root, "p", MetadataUpdate(max_versions=3))
    for i in range(5):
        put(c, root, "p", n=i)
    assert version_rows(c, "p") == [3, 4, 5]
    meta = c.kv.read_metadata(root, "p")
    assert (meta.current_version, meta.oldest_version, meta.max_versions) == (5, 3, 3)
    with pytest.raises(NotFound):
        c.kv.read(root, "p", 2)
    c.kv.write_metadata(root, "p", MetadataUpdate(max_versions=1))  # lowering prunes now
    assert version_rows(c, "p") == [5]
    c.kv.write_metadata(root, "p", MetadataUpdate(max_versions=0))  # 0 = the default (10)
    for i in range(12):
        put(c, root, "p", n=i)
    assert version_rows(c, "p") == list(range(8, 18))
    assert c.kv.read_metadata(root, "p").oldest_version == 8
    with pytest.raises(InvalidRequest):
        MetadataUpdate(max_versions=1001)


# -- soft delete, undelete, destroy ---------------------------------------------------------------
def test_delete_undelete_destroy(both: Env) -> None:
    c, root, clock = both
    for i in range(3):
        put(c, root, "d/x", n=i)
    assert c.kv.delete_latest(root, "d/x") == 3
    with pytest.raises(SecretDeleted) as deleted:
        c.kv.read(root, "d/x")
    assert deleted.value.extra == {"version": 3, "deleted_at": clock.now().isoformat()}
    assert c.kv.read(root, "d/x", 2).data == {"n": 1}
    c.kv.undelete(root, "d/x", (3,))
    assert c.kv.read(root, "d/x").data == {"n": 2}
    c.kv.delete_versions(root, "d/x", (1, 2, 99))
    with pytest.raises(SecretDeleted):
        c.kv.read(root, "d/x", 1)
    c.kv.destroy(root, "d/x", (1, 3))
    for v in (1, 3):
        with pytest.raises(SecretDestroyed) as gone:
            c.kv.read(root, "d/x", v)
        assert gone.value.status == 410 and gone.value.extra == {"version": v}
    c.kv.undelete(root, "d/x", (1, 2))  # a destroyed version stays destroyed
    with pytest.raises(SecretDestroyed):
        c.kv.read(root, "d/x", 1)
    assert c.kv.read(root, "d/x", 2).data == {"n": 1}
    with c.db.session() as s:
        row = s.get(KvVersionRow, ("d/x", 1))
        assert row is not None and row.ciphertext is None and row.destroyed
    states = {v.version: v for v in c.kv.read_metadata(root, "d/x").versions}
    assert states[1].destroyed and states[3].destroyed and not states[2].destroyed
    with pytest.raises(InvalidRequest):
        c.kv.destroy(root, "d/x", ())
    with pytest.raises(NotFound):
        c.kv.delete_latest(root, "d/none")


def test_ciphertext_is_bound_to_its_path_and_version(env: Env) -> None:
    c, root, _ = env
    put(c, root, "a", v="one")
    put(c, root, "b", v="two")
    with c.db.session(write=True) as s:
        other = s.get(KvVersionRow, ("b", 1))
        assert other is not None
        s.execute(
            update(KvVersionRow).where(KvVersionRow.path == "a").values(ciphertext=other.ciphertext)
        )
    with pytest.raises(BarrierError):
        c.kv.read(root, "a")


# -- metadata, delete all, inventory ---------------------------------------------------------------
def test_metadata_owner_rotation_and_delete_all(env: Env) -> None:
    c, root, clock = env
    meta = c.kv.write_metadata(
        root,
        "team/api",
        MetadataUpdate(
            owner="team-api",
            custom_metadata={"ticket": "OPS-1"},
            rotation_period=timedelta(days=90),
        ),
    )
    assert (meta.current_version, meta.oldest_version, meta.versions) == (0, 0, ())
    with pytest.raises(NotFound):
        c.kv.read(root, "team/api")
    assert put(c, root, "team/api", cas=0, key="k1") == 1
    meta = c.kv.read_metadata(root, "team/api")
    assert meta.owner == "team-api" and meta.custom_metadata == {"ticket": "OPS-1"}
    assert meta.rotation_due_at == clock.now() + timedelta(days=90)
    assert credential(c, "team/api").owner == "team-api"
    c.kv.write_metadata(root, "team/api", MetadataUpdate(owner="team-platform"))
    assert credential(c, "team/api").owner == "team-platform"
    assert c.kv.read(root, "team/api").custom_metadata == {"ticket": "OPS-1"}
    with pytest.raises(InvalidRequest):
        MetadataUpdate(custom_metadata={f"k{i}": "v" for i in range(65)})
    with pytest.raises(InvalidRequest):
        c.kv.write_metadata(root, "team/api", MetadataUpdate(owner="  "))

    c.kv.delete_metadata(root, "team/api")
    assert credential(c, "team/api").status == CredentialStatus.REVOKED.value
    for call in (lambda: c.kv.read(root, "team/api"), lambda: c.kv.read_metadata(root, "team/api")):
        with pytest.raises(NotFound):
            call()
    assert version_rows(c, "team/api") == []
    # the path can live again: versions restart, its inventory row is active again
    assert put(c, root, "team/api", cas=0, key="k2") == 1
    cred = credential(c, "team/api")
    assert cred.status == CredentialStatus.ACTIVE.value and cred.owner is None


def test_last_used_is_written_at_most_once_a_minute(env: Env) -> None:
    c, root, clock = env
    put(c, root, "hot", v="x")
    writes: list[int] = []
    c.db.before_commit(lambda: writes.append(1))  # counts write transactions
    start = clock.now()
    c.kv.read(root, "hot")
    assert used(c, "hot") == start and len(writes) == 1
    for _ in range(50):
        clock.advance(1)
        c.kv.read(root, "hot")
    assert len(writes) == 1 and used(c, "hot") == start
    clock.advance(10)  # 60 s after the first read
    c.kv.read(root, "hot")
    assert len(writes) == 2 and used(c, "hot") == clock.now()
    meta = c.kv.read_metadata(root, "hot")
    assert meta.last_used_at == clock.now()


# -- listing --------------------------------------------------------------------------------------
def test_list_immediate_children_with_paging(both: Env) -> None:
    c, root, _ = both
    paths = ["a", "b/c", "b/d/e", "b/d/f", "b/d/g/h", "b!x", "b/c/deep", "z_", "B"]
    for path in paths:
        put(c, root, path, v="1")
    assert c.kv.list_keys(root, "").keys == ("B", "a", "b!x", "b/", "z_")
    assert c.kv.list_keys(root, "b").keys == ("c", "c/", "d/")
    assert c.kv.list_keys(root, "b/").keys == ("c", "c/", "d/")
    assert c.kv.list_keys(root, "b/d").keys == ("e", "f", "g/")
    assert c.kv.list_keys(root, "nothing").keys == ()
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = c.kv.list_keys(root, "", limit=2, cursor=cursor)
        seen += page.keys
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["B", "a", "b!x", "b/", "z_"]
    for bad in ("!!!", "Li4", "YS9i"):  # not base64 of a child; '..'; 'a/b'
        with pytest.raises(InvalidRequest):
            c.kv.list_keys(root, "", cursor=bad)


# -- policy ---------------------------------------------------------------------------------------
def test_policy_denials_reveal_nothing(env: Env) -> None:
    c, root, _ = env
    put(c, root, "team/a", v="1")
    put(c, root, "other/b", v="1")
    reader = token_with(c, root, "kv-read", [{"path": "kv/data/team/*", "capabilities": ["read"]}])
    assert c.kv.read(reader, "team/a").data == {"v": "1"}
    errors = []
    for path in ("other/b", "other/missing"):  # existing or not: the same refusal
        for call, args in (
            (c.kv.read, (reader, path)),
            (c.kv.write, (reader, WriteRequest(path, {"v": "x"}))),
            (c.kv.read_metadata, (reader, path)),
            (c.kv.destroy, (reader, path, (1,))),
            (c.kv.delete_metadata, (reader, path)),
        ):
            with pytest.raises(PermissionDenied) as denied:
                call(*args)  # type: ignore[operator]
            errors.append(denied.value.detail.replace(path, "P"))
    assert errors[:5] == errors[5:]
    with pytest.raises(PermissionDenied):
        put(c, reader, "team/a", v="2")
    with pytest.raises(PermissionDenied):
        c.kv.list_keys(reader, "team")

    creator = token_with(
        c,
        root,
        "kv-create",
        [
            {"path": "kv/data/team/*", "capabilities": ["create"]},
            {"path": "kv/metadata/team", "capabilities": ["list"]},
        ],
    )
    assert put(c, creator, "team/new", v="1") == 1  # create: a new path
    with pytest.raises(PermissionDenied):
        put(c, creator, "team/new", v="2")  # update: an existing one
    assert c.kv.list_keys(creator, "team").keys == ("a", "new")
    with pytest.raises(PermissionDenied):
        c.kv.list_keys(creator, "")
    assert version_rows(c, "team/new") == [1]


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("a/../b", "'..'"),
        ("./x", "'.'"),
        ("a/%2e%2e", "\\ % * ? #"),
        ("/abs", "start or end"),
        ("trailing/", "start or end"),
        ("a//b", "empty segments"),
        ("a b", "spaces"),
        ("a\\b", "\\ % * ? #"),
        ("a/*", "\\ % * ? #"),
        ("a?b", "\\ % * ? #"),
        ("a#b", "\\ % * ? #"),
        ("a\x00b", "control"),
        ("é", "printable ASCII"),
        ("x" * 513, "1-512"),
        ("", "1-512"),
    ],
)
def test_bad_paths_are_refused(path: str, reason: str) -> None:
    with pytest.raises(InvalidPath) as err:
        validate_path(path)
    assert reason in err.value.detail
    assert validate_path("team-1/db.prod/user_@~!") == "team-1/db.prod/user_@~!"


def test_bad_values_store_nothing(env: Env) -> None:
    c, root, _ = env
    big = "x" * (MAX_VALUE_BYTES - len('{"k":""}') + 1)
    with pytest.raises(PayloadTooLarge):
        put(c, root, "big", k=big)
    assert put(c, root, "fits", k=big[:-1]) == 1
    for data in ({str(i): 1 for i in range(1001)}, {"": 1}, {"n": float("nan")}, {"s": {1, 2}}):
        with pytest.raises(InvalidRequest):
            c.kv.write(root, WriteRequest("bad", data))
    with pytest.raises(InvalidRequest):
        put(c, root, "bad", cas=-1, v="x")
    with pytest.raises(InvalidRequest):
        c.kv.read(root, "fits", 0)
    with c.db.session() as s:
        assert s.execute(select(func.count()).select_from(KvSecretRow)).scalar_one() == 1
