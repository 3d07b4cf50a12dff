"""Scheduled API key rotation through the services (no HTTP): due keys rotate exactly once
across two nodes, the overlap, the one-time pickup of the sealed successor (by the old key or
by id), the sealed copy's end, and the keys that must never rotate. Time only moves by the
injected clock."""

from __future__ import annotations

import string
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tessera.apikeys import format as key_format
from tessera.apikeys.errors import InvalidApiKey
from tessera.apikeys.models import CreateApiKeyRequest, RotateApiKeyRequest, RotationPolicy
from tessera.apikeys.rotation import KIND, ApiKeyRotation
from tessera.apikeys.service import ApiKeyService
from tessera.app import Container
from tessera.auth.models import Principal
from tessera.core.clock import FakeClock
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.inventory.models import CreateIdentityRequest
from tessera.storage.models_apikeys import ApiKeyRow
from tessera.storage.models_lifecycle import LifecycleJobRow
from tests.helpers import make_container, root_principal

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
MONTHLY = RotationPolicy(rotate_every=30 * DAY, overlap=24 * HOUR)


def forged(key: str) -> str:
    """Same key id, another secret, a valid checksum (CRC-32 in 6 base62 digits): well formed,
    so it reaches the hash comparison."""
    head = key[: len(key_format.PREFIX) + key_format.ID_LEN] + "Z" * key_format.SECRET_LEN
    value, digits = zlib.crc32(head.encode()), []
    for _ in range(key_format.CHECK_LEN):
        value, rem = divmod(value, 62)
        digits.append(ALPHABET[rem])
    forged_key = head + "".join(reversed(digits))
    assert key_format.well_formed(forged_key) and forged_key != key
    return forged_key


@dataclass
class Env:
    c: Container
    root: Principal
    clock: FakeClock
    keys: ApiKeyService
    token: str

    def create(self, policy: RotationPolicy = MONTHLY, **kw: object) -> tuple[str, str]:
        req = CreateApiKeyRequest(identity="web", rotation=policy, **kw)  # type: ignore[arg-type]
        created = self.keys.create(self.root, req)
        return created.key, created.info.id

    def rotation(self, node: str = "node-a") -> ApiKeyRotation:
        return ApiKeyRotation(self.c.db, self.clock, self.c.rng, self.keys, node)

    def row(self, key_id: str) -> ApiKeyRow:
        with self.c.db.session() as s:
            row = s.get(ApiKeyRow, key_id)
            assert row is not None
            return row

    def verifies(self, key: str) -> bool:
        self.keys.clear_cache()
        try:
            self.keys.verify(self.root, key)
        except InvalidApiKey:
            return False
        return True


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock = FakeClock()
    c, _, token = make_container(tmp_path, clock=clock)
    root = root_principal(c, token)
    c.inventory.create_identity(root, CreateIdentityRequest(name="web", owner="team-web"))
    yield Env(c, root, clock, c.apikeys, token)
    c.close()


def test_due_keys_rotate_once_across_two_nodes(env: Env) -> None:
    made = [env.create()[1] for _ in range(6)]
    a, b = env.rotation("node-a"), env.rotation("node-b")
    assert a.run_once() == 0 and b.run_once() == 0  # not due yet
    env.clock.advance(30 * DAY)
    counts: list[int] = []
    start = threading.Barrier(2)

    def run(r: ApiKeyRotation) -> None:
        start.wait()
        counts.append(r.run_once())

    threads = [threading.Thread(target=run, args=(r,)) for r in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(counts) == len(made)
    assert a.run_once() + b.run_once() == 0  # nothing left to do
    successors = [env.row(k).replaced_by for k in made]
    assert all(successors) and len(set(successors)) == len(made)
    with env.c.db.session() as s:
        rotations = s.scalar(select(func.count()).where(ApiKeyRow.replaces.in_(made)))
        jobs = s.scalars(select(LifecycleJobRow.subject_id).where(LifecycleJobRow.kind == KIND))
        assert rotations == len(made)
        assert sorted(jobs) == sorted(f"{k}:0" for k in made)
    for new_id in successors:
        assert new_id is not None
        new = env.row(new_id)
        assert new.generation == 1 and new.rotate_every_seconds == 30 * 86400
    # the successors carry the policy: they rotate 30 days later, as generation 1
    env.clock.advance(30 * DAY)
    assert a.run_once() + b.run_once() == len(made)


def test_overlap_and_one_pickup_by_old_key(env: Env) -> None:
    old_key, old_id = env.create()
    env.clock.advance(30 * DAY)
    assert env.rotation().run_once() == 1
    new_id = env.row(old_id).replaced_by
    assert new_id is not None and env.row(new_id).sealed_key is not None
    assert env.keys.get(env.root, new_id).awaiting_pickup
    for wrong in (old_key[:-8] + "AAAAAAAA", forged(old_key), "", "x" * 5000):
        with pytest.raises(InvalidApiKey):  # a wrong old key: the uniform answer
            env.keys.successors.by_old_key(wrong)
    with pytest.raises(Conflict):  # a working key that was never rotated: nothing waits
        env.keys.successors.by_old_key(env.create(RotationPolicy())[0])
    picked = env.keys.successors.by_old_key(old_key)
    assert picked.info.id == new_id and picked.key.startswith("tsk_")
    assert old_key not in picked.key and picked.key != old_key
    assert env.row(new_id).sealed_key is None and env.row(new_id).sealed_until is None
    with pytest.raises(Conflict):
        env.keys.successors.by_old_key(old_key)  # second pickup refused
    with pytest.raises(Conflict):
        env.keys.successors.by_id(env.root, new_id)
    env.clock.advance(23 * HOUR)
    assert env.verifies(old_key) and env.verifies(picked.key)  # both during the overlap
    env.clock.advance(HOUR)
    assert not env.verifies(old_key) and env.verifies(picked.key)  # the old stops after it
    with pytest.raises(InvalidApiKey):
        env.keys.successors.by_old_key(old_key)


def test_pickup_by_id_once_and_sealed_copy_gone_after_overlap(env: Env) -> None:
    old_key, old_id = env.create()
    other_key, other_id = env.create()
    env.clock.advance(30 * DAY)
    assert env.rotation().run_once() == 2
    new_id, other_new = env.row(old_id).replaced_by, env.row(other_id).replaced_by
    assert new_id is not None and other_new is not None
    with pytest.raises(NotFound):
        env.keys.successors.by_id(env.root, "nope")
    with pytest.raises(Conflict):  # the old key has no sealed copy of its own
        env.keys.successors.by_id(env.root, old_id)
    blob = env.row(new_id).sealed_key
    picked = env.keys.successors.by_id(env.root, new_id)
    assert blob is not None and picked.key.encode() not in blob  # sealed, never in clear
    assert env.verifies(picked.key) and env.verifies(old_key)
    with pytest.raises(Conflict):
        env.keys.successors.by_id(env.root, new_id)
    # nobody picked up the other one: at the overlap's end its sealed copy is wiped
    assert env.row(other_new).sealed_key is not None
    env.clock.advance(24 * HOUR)
    with pytest.raises(Conflict):  # refused even before the purge runs
        env.keys.successors.by_id(env.root, other_new)
    assert env.rotation().run_once() == 0
    assert env.row(other_new).sealed_key is None and env.row(other_new).sealed_until is None
    assert not env.verifies(other_key)


def test_never_rotated_without_policy_or_when_revoked(env: Env) -> None:
    _, plain = env.create(RotationPolicy())
    _, revoked = env.create()
    _, manual = env.create()
    env.keys.revoke(env.root, revoked)
    env.keys.rotate(env.root, manual, RotateApiKeyRequest())  # successor inherits the policy
    manual_new = env.row(manual).replaced_by
    assert manual_new is not None and env.row(manual_new).sealed_key is None
    env.clock.advance(29 * DAY)
    assert env.rotation().run_once() == 0
    env.clock.advance(DAY)
    assert env.rotation().run_once() == 1  # the manual successor, 30 days after it was made
    assert env.row(manual_new).replaced_by is not None
    env.clock.advance(60 * DAY)
    assert env.rotation().run_once() == 1  # only that chain goes on (its generation 2)
    assert env.row(plain).replaced_by is None and env.row(plain).rotate_at is None
    assert env.row(revoked).replaced_by is None


def test_policy_changed_later_and_bad_policies(env: Env) -> None:
    _, key_id = env.create(RotationPolicy())
    env.clock.advance(10 * DAY)
    info = env.keys.set_rotation(env.root, key_id, RotationPolicy(rotate_every=7 * DAY))
    assert info.rotate_at == info.created_at + 7 * DAY  # past already: due at the next pass
    assert env.rotation().run_once() == 1
    new_id = env.row(key_id).replaced_by
    assert new_id is not None
    with pytest.raises(Conflict):  # superseded: the policy lives on the successor now
        env.keys.set_rotation(env.root, key_id, RotationPolicy())
    env.keys.set_rotation(env.root, new_id, RotationPolicy())  # turned off
    env.clock.advance(8 * DAY)
    assert env.rotation().run_once() == 0
    for bad in (
        RotationPolicy(rotate_every=timedelta(seconds=5)),
        RotationPolicy(rotate_every=400 * DAY),
        RotationPolicy(rotate_every=DAY, overlap=timedelta(0)),
        RotationPolicy(overlap=31 * DAY),
    ):
        with pytest.raises(InvalidRequest):
            env.keys.set_rotation(env.root, new_id, bad)
        with pytest.raises(InvalidRequest):
            env.create(bad)


def test_failed_rotation_retries_with_backoff(env: Env) -> None:
    _, key_id = env.create()
    env.clock.advance(30 * DAY)
    rotation, calls = env.rotation(), []
    real = env.keys.rotate_due

    def broken(key: str, generation: int) -> str | None:
        calls.append(key)
        raise Conflict("identity busy")

    env.keys.rotate_due = broken  # type: ignore[method-assign]
    assert rotation.run_once() == 0 and calls == [key_id]
    assert rotation.run_once() == 0 and calls == [key_id]  # waiting for its retry
    env.keys.rotate_due = real  # type: ignore[method-assign]
    env.clock.advance(timedelta(seconds=30))
    assert rotation.run_once() == 1
    assert env.row(key_id).replaced_by is not None


def test_http_policy_and_pickups(env: Env) -> None:
    from fastapi.testclient import TestClient

    from tessera.api.app import create_app

    h = {"X-Tessera-Token": env.token}
    with TestClient(create_app(env.c)) as http:
        r = http.post("/v1/apikeys", headers=h, json={"identity": "web", "rotate_every": "30d"})
        assert r.status_code == 201, r.text
        old_key, info = r.json()["key"], r.json()["info"]
        assert info["rotate_every_seconds"] == 30 * 86400 and info["overlap_seconds"] is None
        r = http.patch(
            f"/v1/apikeys/{info['id']}", headers=h, json={"rotate_every": "7d", "overlap": "2h"}
        )
        assert r.status_code == 200 and r.json()["overlap_seconds"] == 7200, r.text
        bad = http.patch(f"/v1/apikeys/{info['id']}", headers=h, json={"rotate_every": "x"})
        assert bad.status_code == 400
        env.clock.advance(7 * DAY)
        assert env.rotation().run_once() == 1
        wrong = http.post("/v1/apikeys/successor", json={"key": old_key[:-1] + "x"})
        assert wrong.status_code == 401 and old_key not in wrong.text
        assert wrong.json()["type"].endswith("invalid-api-key")
        got = http.post("/v1/apikeys/successor", json={"key": old_key})  # no Tessera token
        assert got.status_code == 200, got.text
        new_key, new_id = got.json()["key"], got.json()["info"]["id"]
        assert new_id == env.row(info["id"]).replaced_by and env.verifies(new_key)
        again = http.post("/v1/apikeys/successor", json={"key": old_key})
        assert again.status_code == 409 and new_key not in again.text
        assert http.post(f"/v1/apikeys/{new_id}/pickup", headers=h).status_code == 409
        assert http.post(f"/v1/apikeys/{new_id}/pickup").status_code == 401
