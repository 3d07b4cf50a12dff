"""API keys through the service (no HTTP): the format and checksum, create/verify, rotation with
overlap, expiry, revocation (this node at once, another node within the cache TTL), last-use
coalescing, decommission, bad input, the constant-time path and policy. Time only moves by the
injected clock. The storage-heavy flow also runs on PostgreSQL (`db_url`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from tessera.apikeys import format as key_format
from tessera.apikeys.errors import InvalidApiKey
from tessera.apikeys.models import (
    ApiKeyLimits,
    ApiKeyQuery,
    ApiKeyStatus,
    CreateApiKeyRequest,
    RotateApiKeyRequest,
    validate_scopes,
)
from tessera.apikeys.service import ApiKeyService
from tessera.app import Container
from tessera.auth.models import CreateTokenRequest, Principal
from tessera.core.clock import FakeClock, as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tessera.inventory.models import CreateIdentityRequest, CredentialKind, CredentialStatus
from tessera.storage import models_apikeys  # noqa: F401  (registers the table until wired)
from tessera.storage.models import CredentialRow
from tessera.storage.models_apikeys import ApiKeyRow
from tests.helpers import make_container, root_principal

SCANNER_RULE = re.compile(r"\b(tsk_[0-9A-Za-z]{32,64})\b", re.ASCII)  # rules_builtin_generic


@dataclass
class Env:
    c: Container
    root: Principal
    clock: FakeClock
    keys: ApiKeyService

    def create(self, identity: str = "web", **kw: Any) -> tuple[str, str]:
        created = self.keys.create(self.root, CreateApiKeyRequest(identity=identity, **kw))
        return created.key, created.info.id

    def principal(self, name: str, rules: list[dict[str, Any]]) -> Principal:
        self.c.policies.write(self.root, name, {"rules": rules})
        token = self.c.tokens.create(self.root, CreateTokenRequest(policies=(name,))).token
        return self.c.tokens.authenticate(token)

    def credential(self, key_id: str) -> CredentialRow:
        with self.c.db.session() as s:
            row = s.execute(
                select(CredentialRow).where(CredentialRow.fingerprint == "apikey:" + key_id)
            ).scalar_one()
        return row

    def node(self) -> ApiKeyService:
        """Another server node on the same database."""
        other = ApiKeyService(
            self.c.db, self.clock, self.c.rng, self.c.barrier, self.c.policies, self.c.inventory
        )
        other.on_unseal()
        return other


def _env(tmp_path: Path, url: str | None = None) -> Env:
    clock = FakeClock()
    c, _, token = make_container(tmp_path, url, clock=clock)
    root = root_principal(c, token)
    keys = ApiKeyService(c.db, clock, c.rng, c.barrier, c.policies, c.inventory, ApiKeyLimits())
    keys.on_unseal()
    c.inventory.add_revoker(keys)
    for name in ("web", "batch"):
        c.inventory.create_identity(root, CreateIdentityRequest(name=name, owner="team-" + name))
    return Env(c, root, clock, keys)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = _env(tmp_path)
    yield e
    e.c.close()


@pytest.fixture
def both(tmp_path: Path, db_url: str) -> Iterator[Env]:
    e = _env(tmp_path, db_url)
    yield e
    e.c.close()


def count_statements(env: Env) -> list[str]:
    seen: list[str] = []

    def before(*args: Any) -> None:
        seen.append(args[2])

    event.listen(env.c.db.engine, "before_cursor_execute", before)
    return seen


# -- format --------------------------------------------------------------------------------
class _Fixed:
    def __init__(self) -> None:
        self.asked: list[int] = []

    def token_bytes(self, n: int) -> bytes:
        self.asked.append(n)
        return bytes(range(1, n + 1))


def test_format_shape_checksum_and_scanner_rule() -> None:
    rng = _Fixed()
    generated = key_format.generate(rng)
    key = generated.key
    assert rng.asked == [8, 24]  # 64-bit id, 192-bit secret (>= 128)
    assert len(key) == key_format.KEY_LEN == 54 and key.startswith("tsk_")
    assert key_format.parse_key_id(key) == generated.key_id == key[4:15]
    assert SCANNER_RULE.search(f"API_KEY={key}\n").group(1) == key  # type: ignore[union-attr]
    # CRC-32 catches every single-character typo and every adjacent transposition
    for i in range(4, len(key)):
        other = "0" if key[i] != "0" else "1"
        assert not key_format.well_formed(key[:i] + other + key[i + 1 :])
        if key[i - 1] != key[i] and i > 4:
            swapped = key[: i - 1] + key[i] + key[i - 1] + key[i + 1 :]
            assert not key_format.well_formed(swapped)


@pytest.mark.parametrize(
    "bad",
    ["", "tsk_", "TSK_" + "a" * 50, "tsr_" + "a" * 50, "tsk_" + "a" * 49, "x" * 100_000,
     "tsk_" + "é" * 50, "tsk_" + "a" * 49 + "\n", " tsk_" + "a" * 50],
)  # fmt: skip
def test_malformed_keys_refused_uniformly_without_storage(env: Env, bad: str) -> None:
    seen = count_statements(env)
    with pytest.raises(InvalidApiKey) as err:
        env.keys.verify(env.root, bad)
    assert seen == []
    assert (
        err.value.status == 401 and err.value.detail == "the API key is invalid, expired or revoked"
    )


def test_typo_rejected_before_any_lookup(env: Env) -> None:
    key, _ = env.create(scopes=["orders:read"])
    typo = key[:20] + ("A" if key[20] != "A" else "B") + key[21:]
    seen = count_statements(env)
    with pytest.raises(InvalidApiKey):
        env.keys.verify(env.root, typo)
    assert seen == []


# -- create, verify, inventory --------------------------------------------------------------
def test_create_verify_and_inventory_row(both: Env) -> None:
    env = both
    created = env.keys.create(
        env.root,
        CreateApiKeyRequest(identity="web", scopes=["orders:read", "orders:write", "orders:read"],
                            ttl=timedelta(days=90), name="checkout"),
    )  # fmt: skip
    info = created.info
    assert info.scopes == ("orders:read", "orders:write") and info.status is ApiKeyStatus.ACTIVE
    assert info.expires_at == env.clock.now() + timedelta(days=90)
    verified = env.keys.verify(env.root, created.key)
    assert (verified.key_id, verified.identity, verified.scopes) == (
        info.id, "web", ("orders:read", "orders:write"),
    )  # fmt: skip
    assert verified.expires_at == info.expires_at
    cred = env.credential(info.id)
    assert cred.id == info.credential_id and cred.kind == CredentialKind.API_KEY.value
    assert (cred.owner, cred.name, cred.status) == ("team-web", "checkout", "active")
    assert as_utc(cred.not_after) == info.expires_at  # type: ignore[arg-type]
    with env.c.db.session() as s:
        row = s.get(ApiKeyRow, info.id)
        assert row is not None
        secret = created.key[15:-6]
        stored = [row.key_hash.hex(), str(row.scopes), row.name, str(cred.attributes),
                  cred.fingerprint]  # fmt: skip
        assert all(secret not in v and created.key not in v for v in stored)
        assert row.key_hash != created.key.encode() and len(row.key_hash) == 32
    assert env.keys.get(env.root, info.id) == info
    # a second, uncached node agrees
    assert env.node().verify_key(created.key) == verified


def test_expiry(env: Env) -> None:
    key, _ = env.create(ttl=timedelta(hours=1))
    env.keys.verify(env.root, key)
    env.clock.advance(timedelta(minutes=59, seconds=59))
    env.keys.verify(env.root, key)
    env.clock.advance(1)
    with pytest.raises(InvalidApiKey):
        env.keys.verify(env.root, key)
    with pytest.raises(InvalidApiKey):
        env.node().verify_key(key)


# -- rotation -------------------------------------------------------------------------------
def test_rotation_overlap_then_old_stops(both: Env) -> None:
    env = both
    old_key, old_id = env.create(scopes=["a:read"], ttl=timedelta(days=30))
    env.clock.advance(timedelta(days=1))
    rotated = env.keys.rotate(env.root, old_id, RotateApiKeyRequest(overlap=timedelta(hours=2)))
    new_key, new = rotated.created.key, rotated.created.info
    assert new.replaces == old_id and rotated.previous.replaced_by == new.id
    assert new.scopes == ("a:read",) and new.expires_at == env.clock.now() + timedelta(days=30)
    assert rotated.previous.status is ApiKeyStatus.SUPERSEDED
    assert rotated.previous.expires_at == env.clock.now() + timedelta(hours=2)
    other = env.node()
    for node in (env.keys, other):
        assert node.verify_key(old_key).key_id == old_id
        assert node.verify_key(new_key).key_id == new.id
    old_cred, new_cred = env.credential(old_id), env.credential(new.id)
    assert old_cred.status == CredentialStatus.SUPERSEDED.value
    assert as_utc(old_cred.not_after) == rotated.previous.expires_at  # type: ignore[arg-type]
    assert new_cred.status == "active"
    assert as_utc(new_cred.last_rotated_at) == env.clock.now()  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="rotated already"):
        env.keys.rotate(env.root, old_id, RotateApiKeyRequest())
    env.clock.advance(timedelta(hours=2))
    for node in (env.keys, other):
        with pytest.raises(InvalidApiKey):
            node.verify_key(old_key)
        assert node.verify_key(new_key).key_id == new.id
    assert env.keys.get(env.root, old_id).status is ApiKeyStatus.EXPIRED


def test_rotation_without_overlap_stops_old_key_at_once(env: Env) -> None:
    old_key, old_id = env.create()
    env.keys.verify(env.root, old_key)  # cached
    rotated = env.keys.rotate(env.root, old_id, RotateApiKeyRequest(overlap=timedelta(0)))
    with pytest.raises(InvalidApiKey):
        env.keys.verify(env.root, old_key)
    env.keys.verify(env.root, rotated.created.key)


def test_rotation_refused_for_revoked_or_expired_and_bad_overlap(env: Env) -> None:
    _, key_id = env.create(ttl=timedelta(hours=1))
    with pytest.raises(InvalidRequest, match="overlap"):
        env.keys.rotate(env.root, key_id, RotateApiKeyRequest(overlap=timedelta(days=31)))
    with pytest.raises(InvalidRequest, match="overlap"):
        env.keys.rotate(env.root, key_id, RotateApiKeyRequest(overlap=timedelta(seconds=-1)))
    env.clock.advance(timedelta(hours=1))
    with pytest.raises(Conflict, match="expired"):
        env.keys.rotate(env.root, key_id, RotateApiKeyRequest())
    _, other = env.create()
    env.keys.revoke(env.root, other)
    with pytest.raises(Conflict, match="revoked"):
        env.keys.rotate(env.root, other, RotateApiKeyRequest())


# -- revocation -----------------------------------------------------------------------------
def test_revoke_applies_at_once_here_and_within_cache_ttl_elsewhere(both: Env) -> None:
    env = both
    key, key_id = env.create()
    other = env.node()
    env.keys.verify_key(key)
    other.verify_key(key)  # both nodes have it cached now
    seen = count_statements(env)
    other.verify_key(key)
    assert seen == []  # served from memory
    revoked = env.keys.revoke(env.root, key_id)
    assert revoked.status is ApiKeyStatus.REVOKED and revoked.revoked_at == env.clock.now()
    with pytest.raises(InvalidApiKey):
        env.keys.verify_key(key)
    other.verify_key(key)  # the other node's entry is younger than the cache TTL
    env.clock.advance(1.0)
    with pytest.raises(InvalidApiKey):
        other.verify_key(key)
    assert env.credential(key_id).status == CredentialStatus.REVOKED.value
    assert env.keys.revoke(env.root, key_id).revoked_at == revoked.revoked_at  # idempotent


def test_decommission_revokes_the_identitys_keys(env: Env) -> None:
    key1, id1 = env.create()
    key2, id2 = env.create()
    batch_key, _ = env.create("batch")
    env.keys.verify_key(key1)  # cached before the decommission
    _, revoked = env.c.inventory.decommission(env.root, "web")
    assert revoked >= 2
    for key in (key1, key2):
        with pytest.raises(InvalidApiKey):
            env.keys.verify_key(key)
    for key_id in (id1, id2):
        assert env.keys.get(env.root, key_id).status is ApiKeyStatus.REVOKED
        assert env.credential(key_id).status == "revoked"
    env.keys.verify_key(batch_key)
    with pytest.raises(Conflict, match="decommissioned"):
        env.create()
    with pytest.raises(Conflict, match="revoked"):
        env.keys.rotate(env.root, id1, RotateApiKeyRequest())


# -- last use -------------------------------------------------------------------------------
def test_last_used_coalesced_to_one_write_per_window(both: Env) -> None:
    env = both
    key, key_id = env.create()
    other_key, other_id = env.create("batch")
    assert env.keys.flush_usage() == 0
    for _ in range(50):
        env.keys.verify_key(key)
        env.clock.advance(0.01)
    env.keys.verify_key(other_key)
    last = env.clock.now()
    seen = count_statements(env)
    assert env.keys.flush_usage() == 2
    updates = [s for s in seen if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 2  # one executemany for the keys, one for their credentials
    assert env.keys.get(env.root, key_id).last_used_at is not None
    assert as_utc(env.credential(other_id).last_used_at) == last  # type: ignore[arg-type]
    # inside the window: uses are noted, nothing is written
    for _ in range(50):
        env.clock.advance(0.5)
        env.keys.verify_key(key)
    latest = env.clock.now()
    assert env.keys.flush_usage() == 0
    env.clock.advance(35)  # the window (60 s) since the last write has passed
    assert env.keys.flush_usage() == 1
    assert env.keys.get(env.root, key_id).last_used_at == latest
    assert as_utc(env.credential(key_id).last_used_at) == latest  # type: ignore[arg-type]
    # a node that flushes an older use never moves last_used_at back
    stale = env.node()
    env.clock.advance(-40)
    stale.verify_key(key)
    env.clock.advance(40)
    stale.flush_usage(force=True)
    assert env.keys.get(env.root, key_id).last_used_at == latest


def test_stop_flushes_what_is_pending(env: Env) -> None:
    key, key_id = env.create()
    env.keys.start()
    env.keys.verify_key(key)
    env.keys.stop()
    assert env.keys.get(env.root, key_id).last_used_at == env.clock.now()


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "scopes",
    [["Orders:read"], ["orders read"], [""], ["a:b:c:d"], ["orders:"], [":read"], ["x" * 129],
     ["ok", "é"], ["a" * 64], "orders:read", [f"s{i}" for i in range(65)]],
)  # fmt: skip
def test_bad_scopes_refused(env: Env, scopes: Any) -> None:
    with pytest.raises(InvalidRequest):
        env.keys.create(env.root, CreateApiKeyRequest(identity="web", scopes=scopes))


def test_scope_syntax_accepts_the_documented_forms() -> None:
    ok = ["orders:read", "billing:invoices:write", "admin", "a.b-c_d:e"]
    assert validate_scopes(ok) == tuple(ok)


@pytest.mark.parametrize(
    "ttl", [timedelta(seconds=59), timedelta(0), timedelta(days=367), timedelta(seconds=-5)]
)
def test_ttl_bounds(env: Env, ttl: timedelta) -> None:
    with pytest.raises(InvalidRequest, match="ttl must be between 1m and 366d"):
        env.keys.create(env.root, CreateApiKeyRequest(identity="web", ttl=ttl))


def test_bad_identity_name_and_ids(env: Env) -> None:
    with pytest.raises(NotFound):
        env.create("nobody")
    with pytest.raises(InvalidRequest):
        env.create("../web")
    with pytest.raises(InvalidRequest):
        env.create(name="bad\x1bname")
    for bad_id in ("", "short", "a" * 11 + "/", "a" * 11):  # last: well-formed, unknown
        with pytest.raises(NotFound):
            env.keys.get(env.root, bad_id)
        with pytest.raises(NotFound):
            env.keys.revoke(env.root, bad_id)


# -- constant-time path ---------------------------------------------------------------------
def test_hmac_compared_for_unknown_ids_as_for_wrong_keys(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = env.create()
    calls: list[tuple[int, int]] = []
    real = key_format.digests_equal

    def counting(stored: bytes, presented: bytes) -> bool:
        calls.append((len(stored), len(presented)))
        return real(stored, presented)

    monkeypatch.setattr(key_format, "digests_equal", counting)
    unknown = key_format.generate(env.c.rng).key  # well formed, never stored
    wrong_head = key[:15] + "0" * 33
    wrong = wrong_head + key_format._checksum(wrong_head)  # known id, wrong secret
    for candidate in (unknown, wrong):
        with pytest.raises(InvalidApiKey) as err:
            env.keys.verify_key(candidate)
        assert err.value.detail == "the API key is invalid, expired or revoked"
    assert calls == [(32, 32), (32, 32)]
    env.keys.verify_key(key)
    assert len(calls) == 3


# -- policy ---------------------------------------------------------------------------------
def test_policy_paths_and_constraints(env: Env) -> None:
    web_key, web_id = env.create()
    _, batch_id = env.create("batch")
    p = env.principal(
        "web-keys",
        [
            {"path": "apikeys/keys/web", "capabilities": ["create", "list"],
             "constraints": {"max_ttl": "7d"}},
            {"path": "apikeys/keys/web/*", "capabilities": ["read", "update", "delete"],
             "constraints": {"max_ttl": "7d"}},
            {"path": "apikeys/keys", "capabilities": ["list"]},
        ],
    )  # fmt: skip
    created = env.keys.create(p, CreateApiKeyRequest(identity="web"))
    assert created.info.expires_at == env.clock.now() + timedelta(days=7)  # default cut to cap
    with pytest.raises(InvalidRequest, match="7d your policy allows"):
        env.keys.create(p, CreateApiKeyRequest(identity="web", ttl=timedelta(days=8)))
    with pytest.raises(PermissionDenied):
        env.keys.create(p, CreateApiKeyRequest(identity="batch"))
    with pytest.raises(PermissionDenied):
        env.keys.get(p, batch_id)
    with pytest.raises(PermissionDenied):
        env.keys.revoke(p, batch_id)
    with pytest.raises(PermissionDenied):
        env.keys.verify(p, web_key)  # verifying needs apikeys/verify
    listed = env.keys.list_keys(p, ApiKeyQuery())
    assert {k.id for k in listed.items} == {web_id, created.info.id}
    with pytest.raises(PermissionDenied):
        env.keys.list_keys(p, ApiKeyQuery(identity="batch"))
    rotated = env.keys.rotate(p, web_id, RotateApiKeyRequest())  # the old key's 90d, cut
    assert rotated.created.info.expires_at == env.clock.now() + timedelta(days=7)
    verifier = env.principal("verifier", [{"path": "apikeys/verify", "capabilities": ["update"]}])
    assert env.keys.verify(verifier, web_key).identity == "web"
    with pytest.raises(PermissionDenied):
        env.keys.get(verifier, web_id)


def test_listing_pages(env: Env) -> None:
    ids = sorted(env.create()[1] for _ in range(3))
    env.create("batch")
    first = env.keys.list_keys(env.root, ApiKeyQuery(identity="web", limit=2))
    assert [k.id for k in first.items] == ids[:2] and first.next_cursor
    rest = env.keys.list_keys(
        env.root, ApiKeyQuery(identity="web", limit=2, cursor=first.next_cursor)
    )
    assert [k.id for k in rest.items] == ids[2:3] and rest.next_cursor is None
    assert len(env.keys.list_keys(env.root, ApiKeyQuery()).items) == 4
    assert env.keys.list_keys(env.root, ApiKeyQuery(identity="nobody")).items == ()
    with pytest.raises(InvalidRequest):
        env.keys.list_keys(env.root, ApiKeyQuery(limit=0))
