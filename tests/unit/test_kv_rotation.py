"""Scheduled rotation of KV secrets through the services (no HTTP): which paths are due, exactly
once across two nodes, the generated value, carried-over fields, the overlap version, skipped
states, the inventory row, the generator spec's rules and failures becoming a finding."""

from __future__ import annotations

import string
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tessera.app import Container
from tessera.auth.models import Principal
from tessera.core.clock import FakeClock, as_utc
from tessera.core.errors import InvalidRequest, PermissionDenied
from tessera.core.randomness import SystemRandomness
from tessera.secrets import kv_rotation
from tessera.secrets.kv_models import (
    Alphabet,
    GeneratorSpec,
    MetadataUpdate,
    SecretDestroyed,
    WriteRequest,
    fingerprint,
)
from tessera.secrets.kv_rotation import KvRotation
from tessera.storage.models import CredentialRow
from tessera.storage.models_lifecycle import FindingRow
from tests.helpers import make_container, root_principal

DAY = timedelta(days=1)
PASSWORD = GeneratorSpec("password", 32, Alphabet.ALNUM)
Env = tuple[Container, Principal, FakeClock]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    clock = FakeClock()
    c, _, token = make_container(tmp_path, clock=clock)
    return c, root_principal(c, token), clock


def rotation(c: Container, node: str = "n1") -> KvRotation:
    return KvRotation(c.db, c.clock, c.rng, c.kv, node)


def setup(
    c: Container, p: Principal, path: str, spec: GeneratorSpec | None = PASSWORD,
    period: timedelta | None = 30 * DAY, **data: Any,
) -> None:  # fmt: skip
    c.kv.write_metadata(p, path, MetadataUpdate(rotation_period=period, generate=spec))
    c.kv.write(p, WriteRequest(path, data or {"username": "app", "password": "initial"}))


def rotated_at(c: Container, path: str) -> Any:
    with c.db.session() as s:
        stamp = s.scalar(
            select(CredentialRow.last_rotated_at).where(
                CredentialRow.fingerprint == fingerprint(path)
            )
        )
    return as_utc(stamp) if stamp else None


def test_due_paths_rotate_once_across_two_nodes(env: Env) -> None:
    c, p, clock = env
    for i in range(3):
        setup(c, p, f"apps/db{i}")
    a, b = rotation(c, "node-a"), rotation(c, "node-b")
    assert a.run_once() + b.run_once() == 0  # not due yet
    clock.advance(30 * DAY)
    assert a.run_once() + b.run_once() == 3
    assert a.run_once() + b.run_once() == 0
    for i in range(3):
        assert c.kv.read(p, f"apps/db{i}").version.version == 2
    clock.advance(30 * DAY)  # the next period rotates again, once
    assert b.run_once() + a.run_once() == 3
    assert c.kv.read(p, "apps/db0").version.version == 3


def test_claimed_job_is_not_rotated_by_another_node(env: Env) -> None:
    c, p, clock = env
    setup(c, p, "apps/db")
    clock.advance(31 * DAY)
    a, b = rotation(c, "node-a"), rotation(c, "node-b")
    assert a.due() == [("apps/db", 1)]
    held = a._jobs.claim(kv_rotation.subject_id("apps/db", 1))  # node a is mid-rotation
    assert held is not None
    assert b.due() == [] and b.run_once() == 0
    assert c.kv.read(p, "apps/db").version.version == 1


def test_new_value_fields_and_overlap(env: Env) -> None:
    c, p, clock = env
    spec = GeneratorSpec("password", 40, Alphabet.HEX)
    setup(c, p, "apps/db", spec, username="app", password="initial", port=5432)
    before = rotated_at(c, "apps/db")
    clock.advance(30 * DAY)
    assert rotation(c).run_once() == 1
    new = c.kv.read(p, "apps/db").data
    assert new["username"] == "app" and new["port"] == 5432
    assert set(new) == {"username", "password", "port"}
    assert len(new["password"]) == 40 and set(new["password"]) <= set("0123456789abcdef")
    assert new["password"] != "initial"
    assert c.kv.read(p, "apps/db", version=1).data["password"] == "initial"  # overlap window
    assert rotated_at(c, "apps/db") == clock.now() != before


def test_paths_without_generator_or_period_never_rotate(env: Env) -> None:
    c, p, clock = env
    setup(c, p, "no/generator", spec=None)
    setup(c, p, "no/period", period=None)
    c.kv.write(p, WriteRequest("plain", {"a": "b"}))
    clock.advance(400 * DAY)
    assert rotation(c).run_once() == 0
    for path in ("no/generator", "no/period", "plain"):
        assert c.kv.read(p, path).version.version == 1


def test_deleted_or_destroyed_latest_is_skipped(env: Env) -> None:
    c, p, clock = env
    setup(c, p, "gone/deleted")
    setup(c, p, "gone/destroyed")
    setup(c, p, "live")
    c.kv.delete_latest(p, "gone/deleted")
    c.kv.destroy(p, "gone/destroyed", (1,))
    clock.advance(31 * DAY)
    assert rotation(c).run_once() == 1
    assert c.kv.read(p, "live").version.version == 2
    assert c.kv.read_metadata(p, "gone/deleted").current_version == 1
    with pytest.raises(SecretDestroyed):
        c.kv.read(p, "gone/destroyed")
    c.kv.undelete(p, "gone/deleted", (1,))  # live again: due again
    assert rotation(c).run_once() == 1


def test_race_with_a_destroy_after_due_is_skipped_and_done(env: Env) -> None:
    c, p, clock = env
    setup(c, p, "apps/db")
    clock.advance(31 * DAY)
    r = rotation(c)
    assert r._rotate_one("apps/db", 1) == 1
    assert r._rotate_one("apps/db", 1) == 0  # stale candidate: cas refuses, no double rotation
    c.kv.destroy(p, "apps/db", (2,))
    clock.advance(31 * DAY)
    assert r._rotate_one("apps/db", 2) == 0
    assert c.kv.read_metadata(p, "apps/db").current_version == 2


def test_rotate_now_and_metadata(env: Env) -> None:
    c, p, _ = env
    setup(c, p, "apps/db")
    meta = c.kv.read_metadata(p, "apps/db")
    assert meta.generate == PASSWORD and "tessera:generate" not in meta.custom_metadata
    c.kv.write_metadata(p, "apps/db", MetadataUpdate(custom_metadata={"team": "x"}))
    meta = c.kv.read_metadata(p, "apps/db")
    assert meta.generate == PASSWORD and dict(meta.custom_metadata) == {"team": "x"}
    assert dict(c.kv.read(p, "apps/db").custom_metadata) == {"team": "x"}
    assert c.kv.rotate(p, "apps/db").version == 2
    assert c.kv.read(p, "apps/db").data["password"] != "initial"
    c.kv.write_metadata(p, "apps/db", MetadataUpdate(clear_generate=True))
    assert c.kv.read_metadata(p, "apps/db").generate is None
    with pytest.raises(InvalidRequest):
        c.kv.rotate(p, "apps/db")


def test_rotate_needs_update_permission(env: Env) -> None:
    c, p, _ = env
    setup(c, p, "apps/db")
    reader = Principal("acc", (), (), "nobody")
    with pytest.raises(PermissionDenied):
        c.kv.rotate(reader, "apps/db")


def test_generator_keeps_two_versions(env: Env) -> None:
    c, p, _ = env
    setup(c, p, "apps/db")
    with pytest.raises(InvalidRequest, match="at least 2 versions"):
        c.kv.write_metadata(p, "apps/db", MetadataUpdate(max_versions=1))
    c.kv.write_metadata(p, "one", MetadataUpdate(max_versions=1))
    with pytest.raises(InvalidRequest, match="at least 2 versions"):
        c.kv.write_metadata(p, "one", MetadataUpdate(generate=PASSWORD))
    with pytest.raises(InvalidRequest, match="reserved"):
        MetadataUpdate(custom_metadata={"tessera:generate": "x:32:hex"})


@pytest.mark.parametrize(
    ("alphabet", "chars"),
    [
        (Alphabet.ALNUM, string.ascii_letters + string.digits),
        (Alphabet.HEX, "0123456789abcdef"),
        (Alphabet.BASE64URL, string.ascii_letters + string.digits + "-_"),
        (Alphabet.ALNUM_SYMBOLS, string.ascii_letters + string.digits + string.punctuation),
    ],
)
def test_generated_values(alphabet: Alphabet, chars: str) -> None:
    spec = GeneratorSpec("k", 64, alphabet)
    values = {spec.generate(SystemRandomness()) for _ in range(20)}
    assert len(values) == 20
    assert all(len(v) == 64 and set(v) <= set(chars) for v in values)


def test_generator_spec_rules() -> None:
    assert GeneratorSpec.parse("db:pass:32:alnum") == GeneratorSpec("db:pass", 32, Alphabet.ALNUM)
    assert GeneratorSpec.parse("password:32:hex").encode() == "password:32:hex"
    for bad in ("password:31:hex", "password:21:alnum", "password:32:emoji", "password:32",
                ":32:hex", "password:x:hex", "password:2000:hex"):  # fmt: skip
        with pytest.raises(InvalidRequest):
            GeneratorSpec.parse(bad)


def test_repeated_failures_become_a_finding(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    c, p, clock = env
    setup(c, p, "apps/db")
    clock.advance(31 * DAY)
    r = rotation(c)

    def broken(*_a: Any, **_k: Any) -> Any:
        raise InvalidRequest("boom")

    monkeypatch.setattr(c.kv, "rotate", broken)
    for _ in range(3):
        assert r.run_once() == 0
        assert r.due() == []  # waiting for its retry
        clock.advance(timedelta(hours=2))
    with c.db.session() as s:
        rules = s.scalars(select(FindingRow.status).where(FindingRow.rule_id == kv_rotation.RULE))
        assert list(rules) == ["open"]
    monkeypatch.undo()
    assert r.run_once() == 1
    with c.db.session() as s:
        rules = s.scalars(select(FindingRow.status).where(FindingRow.rule_id == kv_rotation.RULE))
        assert list(rules) == ["resolved"]


def test_api_generator_and_rotate(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from tessera.api.app import create_app

    c, _, token = make_container(tmp_path)
    h = {"X-Tessera-Token": token}
    with TestClient(create_app(c)) as http:
        spec = {"field": "password", "length": 32, "alphabet": "hex"}
        r = http.post("/v1/kv/metadata/apps/db", headers=h,
                      json={"rotation_period": "30d", "generate": spec})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["generate"] == spec and r.json()["custom_metadata"] == {}
        bad = {"field": "password", "length": 8, "alphabet": "hex"}
        r = http.post("/v1/kv/metadata/apps/db", headers=h, json={"generate": bad})
        assert r.status_code == 400 and "128 bits" in r.json()["detail"]
        http.post("/v1/kv/data/apps/db", headers=h, json={"data": {"password": "old", "u": "x"}})
        r = http.post("/v1/kv/rotate/apps/db", headers=h)
        assert r.status_code == 200 and r.json()["version"] == 2
        got = http.get("/v1/kv/data/apps/db", headers=h).json()
        assert got["data"]["u"] == "x" and len(got["data"]["password"]) == 32
        assert "old" not in r.text
        old = http.get("/v1/kv/data/apps/db", params={"version": 1}, headers=h).json()
        assert old["data"]["password"] == "old"
        r = http.post("/v1/kv/metadata/apps/db", headers=h, json={"clear_generate": True})
        assert r.json()["generate"] is None
        assert http.post("/v1/kv/rotate/apps/db", headers=h).status_code == 400
