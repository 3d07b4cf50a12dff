"""Barrier: AEAD bound to the row (AAD), keyring rotation across nodes, Shamir seal and unseal.

Runs on a SQLite file in tmp_path with a FakeClock; every test builds its own database.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tessera.barrier import aead
from tessera.barrier.aead import AAD
from tessera.barrier.service import Barrier
from tessera.core.clock import FakeClock
from tessera.core.errors import (
    AlreadyInitialized,
    BarrierError,
    InvalidRequest,
    NotInitialized,
    Sealed,
    UnsealFailed,
)
from tessera.storage.db import Database, DatabaseConfig
from tessera.storage.models import KeyringRow, SystemSecretRow

SECRET_AAD = AAD("system_secrets", "A", "ciphertext")
KEYRING_AAD = AAD("keyring", "1", "ciphertext")


class RecordingRandomness:
    """The OS CSPRNG, remembering every output so tests can look for keys where they must not be."""

    def __init__(self) -> None:
        self.outputs: list[bytes] = []

    def token_bytes(self, n: int) -> bytes:
        out = secrets.token_bytes(n)
        self.outputs.append(out)
        return out

    def key_outputs(self) -> list[bytes]:
        return [o for o in self.outputs if len(o) == aead.KEY_SIZE]


def open_db(path: Path) -> Database:
    db = Database(DatabaseConfig(url=f"sqlite:///{path}"))
    db.migrate()
    return db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = open_db(tmp_path / "barrier.db")
    yield d
    d.dispose()


@pytest.fixture
def rng() -> RecordingRandomness:
    return RecordingRandomness()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def barrier(db: Database, clock: FakeClock, rng: RecordingRandomness) -> Barrier:
    return Barrier(db, clock, rng)


@pytest.fixture
def shares(barrier: Barrier) -> list[str]:
    """Initialise 5/3; the barrier is left unsealed."""
    result = barrier.initialize(5, 3)
    barrier.complete_initialization()
    return list(result.shares)


def unseal(b: Barrier, parts: list[str]) -> None:
    for share in parts:
        b.submit_share(share)
    assert not b.sealed


# -- encryption ----------------------------------------------------------------------------
def test_encrypt_decrypt_round_trip(barrier: Barrier, shares: list[str]) -> None:
    plaintext = b"database password: hunter2"
    blob = barrier.encrypt(SECRET_AAD, plaintext)
    assert plaintext not in blob
    assert int.from_bytes(blob[:4], "big") == 1
    assert len(blob) == 4 + aead.NONCE_SIZE + len(plaintext) + 16
    assert barrier.decrypt(SECRET_AAD, blob) == plaintext
    # a fresh nonce every time: the same plaintext never gives the same blob
    assert barrier.encrypt(SECRET_AAD, plaintext) != blob
    assert barrier.decrypt(SECRET_AAD, barrier.encrypt(SECRET_AAD, b"")) == b""


def test_ciphertext_copied_onto_another_row_fails(
    db: Database, clock: FakeClock, barrier: Barrier, shares: list[str]
) -> None:
    value_a = barrier.system_secret("A")
    value_b = barrier.system_secret("B")
    assert value_a != value_b and len(value_a) == 32
    assert barrier.system_secret("A") == value_a  # stored, not regenerated
    with db.session(write=True) as s:
        blob_a = s.get(SystemSecretRow, "A").ciphertext
        s.execute(
            update(SystemSecretRow).where(SystemSecretRow.name == "B").values(ciphertext=blob_a)
        )
    with db.session() as s:
        assert s.get(SystemSecretRow, "B").ciphertext == blob_a

    with pytest.raises(BarrierError):
        barrier.decrypt(AAD("system_secrets", "B", "ciphertext"), blob_a)
    fresh = Barrier(db, clock, RecordingRandomness())
    unseal(fresh, shares[:3])
    with pytest.raises(BarrierError):
        fresh.system_secret("B")
    assert fresh.system_secret("A") == value_a


@pytest.mark.parametrize(
    "wrong",
    [
        AAD("system_secrets", "B", "ciphertext"),
        AAD("system_secrets", "A", "other_column"),
        AAD("policies", "A", "ciphertext"),
        AAD("system_secretsA", "", "ciphertext"),  # same concatenation, different fields
        AAD("system_secrets", "a", "ciphertext"),
    ],
)
def test_other_location_in_aad_fails(barrier: Barrier, shares: list[str], wrong: AAD) -> None:
    blob = barrier.encrypt(SECRET_AAD, b"payload")
    with pytest.raises(BarrierError):
        barrier.decrypt(wrong, blob)
    assert barrier.decrypt(SECRET_AAD, blob) == b"payload"


@pytest.mark.parametrize("position", [0, 3, 4, 15, 16, -17, -1])
def test_one_bit_flip_fails(barrier: Barrier, shares: list[str], position: int) -> None:
    blob = bytearray(barrier.encrypt(SECRET_AAD, b"some secret bytes"))
    blob[position] ^= 0x01
    with pytest.raises(BarrierError):
        barrier.decrypt(SECRET_AAD, bytes(blob))


@pytest.mark.parametrize("keep", [0, 3, 4, 16, 31, 32, -1])
def test_truncated_blob_fails(barrier: Barrier, shares: list[str], keep: int) -> None:
    blob = barrier.encrypt(SECRET_AAD, b"some secret bytes")
    with pytest.raises(BarrierError):
        barrier.decrypt(SECRET_AAD, blob[:keep])


# -- rotation ------------------------------------------------------------------------------
def test_rotate_keeps_old_data_and_survives_seal(barrier: Barrier, shares: list[str]) -> None:
    old = barrier.encrypt(SECRET_AAD, b"before")
    assert barrier.rotate() == 2
    assert barrier.status().keyring_version == 2
    new = barrier.encrypt(SECRET_AAD, b"after")
    assert int.from_bytes(new[:4], "big") == 2
    assert int.from_bytes(old[:4], "big") == 1
    assert barrier.decrypt(SECRET_AAD, old) == b"before"
    assert barrier.decrypt(SECRET_AAD, new) == b"after"

    barrier.seal()
    with pytest.raises(Sealed):
        barrier.decrypt(SECRET_AAD, new)
    unseal(barrier, [shares[4], shares[0], shares[2]])
    assert barrier.status().keyring_version == 2
    assert barrier.decrypt(SECRET_AAD, old) == b"before"
    assert barrier.decrypt(SECRET_AAD, new) == b"after"
    assert barrier.rotate() == 3


def test_other_node_reloads_keyring_after_rotation(
    db: Database, clock: FakeClock, barrier: Barrier, shares: list[str]
) -> None:
    other = Barrier(db, clock, RecordingRandomness())
    unseal(other, shares[1:4])
    assert other.status().keyring_version == 1
    assert barrier.rotate() == 2
    blob = barrier.encrypt(SECRET_AAD, b"written by node 1 after rotation")
    assert int.from_bytes(blob[:4], "big") == 2
    assert other.decrypt(SECRET_AAD, blob) == b"written by node 1 after rotation"
    # once reloaded, the other node also writes with the new key
    assert other.status().keyring_version == 2
    assert int.from_bytes(other.encrypt(SECRET_AAD, b"x")[:4], "big") == 2
    # a version nobody has stays an error after the reload
    unknown = (99).to_bytes(4, "big") + blob[4:]
    with pytest.raises(BarrierError, match="unknown key version"):
        other.decrypt(SECRET_AAD, unknown)


def test_other_node_writes_with_new_key_within_a_second_without_reading(
    db: Database, clock: FakeClock, barrier: Barrier, shares: list[str]
) -> None:
    other = Barrier(db, clock, RecordingRandomness())
    unseal(other, shares[1:4])
    assert barrier.rotate() == 2
    clock.advance(1.0)
    assert int.from_bytes(other.encrypt(SECRET_AAD, b"x")[:4], "big") == 2
    assert other.status().keyring_version == 2


# -- init / seal / unseal ------------------------------------------------------------------
def test_init_then_any_three_shares_unseal(barrier: Barrier, shares: list[str]) -> None:
    st = barrier.status()
    assert (st.initialized, st.sealed, st.seal_type) == (True, False, "shamir")
    assert (st.shares, st.threshold, st.keyring_version) == (5, 3, 1)
    assert len(set(shares)) == 5
    assert all(len(base64.b64decode(s)) == 1 + aead.KEY_SIZE for s in shares)
    blob = barrier.encrypt(SECRET_AAD, b"kept")

    barrier.seal()
    st = barrier.status()
    assert st.sealed and st.progress == 0 and st.keyring_version is None
    assert barrier.submit_share(shares[0]).progress == 1
    st = barrier.submit_share(shares[3])
    assert st.progress == 2 and st.sealed
    st = barrier.submit_share(shares[4])
    assert not st.sealed and st.progress == 0 and st.keyring_version == 1
    assert barrier.decrypt(SECRET_AAD, blob) == b"kept"

    for combo in combinations(shares, 3):
        barrier.seal()
        unseal(barrier, list(combo))
        assert barrier.decrypt(SECRET_AAD, blob) == b"kept"


def test_share_from_another_init_resets_progress(
    tmp_path: Path, clock: FakeClock, barrier: Barrier, shares: list[str]
) -> None:
    other_db = open_db(tmp_path / "other.db")
    try:
        foreign = Barrier(other_db, clock, RecordingRandomness()).initialize(5, 3).shares
    finally:
        other_db.dispose()
    barrier.seal()
    barrier.submit_share(shares[0])
    barrier.submit_share(shares[1])
    with pytest.raises(UnsealFailed):
        barrier.submit_share(foreign[2])
    st = barrier.status()
    assert st.sealed and st.progress == 0
    unseal(barrier, shares[:3])


def test_random_share_of_right_length_resets_progress(barrier: Barrier, shares: list[str]) -> None:
    barrier.seal()
    forged = base64.b64encode(bytes([200]) + secrets.token_bytes(aead.KEY_SIZE)).decode()
    assert barrier.submit_share(forged).progress == 1
    assert barrier.submit_share(shares[0]).progress == 2
    with pytest.raises(UnsealFailed, match="progress reset"):
        barrier.submit_share(shares[1])
    st = barrier.status()
    assert st.sealed and st.progress == 0
    with pytest.raises(Sealed):
        barrier.encrypt(SECRET_AAD, b"x")
    unseal(barrier, shares[2:])


def test_repeated_share_is_refused_without_losing_progress(
    barrier: Barrier, shares: list[str]
) -> None:
    barrier.seal()
    barrier.submit_share(shares[2])
    with pytest.raises(UnsealFailed, match="already submitted"):
        barrier.submit_share(shares[2])
    with pytest.raises(UnsealFailed, match="already submitted"):
        barrier.submit_share(f"  {shares[2]}\n")
    st = barrier.status()
    assert st.sealed and st.progress == 1
    barrier.submit_share(shares[0])
    assert not barrier.submit_share(shares[1]).sealed


@pytest.mark.parametrize(
    "garbage",
    ["not base64 at all!", "", "   \n", "====", "A" * 5000, "QUJD" * 600, "é€"],
    ids=["words", "empty", "blank", "padding", "huge", "huge-valid-b64", "unicode"],
)
def test_garbage_share_is_refused(barrier: Barrier, shares: list[str], garbage: str) -> None:
    barrier.seal()
    barrier.submit_share(shares[0])
    with pytest.raises(UnsealFailed):
        barrier.submit_share(garbage)
    st = barrier.status()
    assert st.sealed and st.progress == 1
    unseal(barrier, shares[1:3])


def test_wrong_length_share_does_not_block_unseal(barrier: Barrier, shares: list[str]) -> None:
    barrier.seal()
    with pytest.raises(UnsealFailed):
        barrier.submit_share("AA==")  # valid base64, one byte: cannot be a share of this key
    assert barrier.status().progress == 0
    unseal(barrier, shares[:3])


def test_second_initialize_is_refused(barrier: Barrier, shares: list[str]) -> None:
    blob = barrier.encrypt(SECRET_AAD, b"kept")
    with pytest.raises(AlreadyInitialized):
        barrier.initialize(1, 1)
    barrier.seal()
    with pytest.raises(AlreadyInitialized):
        barrier.initialize(5, 3)
    assert barrier.status().shares == 5
    unseal(barrier, shares[:3])  # the original shares and keyring are untouched
    assert barrier.decrypt(SECRET_AAD, blob) == b"kept"


def test_sealed_barrier_refuses_crypto(barrier: Barrier, shares: list[str]) -> None:
    blob = barrier.encrypt(SECRET_AAD, b"x")
    barrier.seal()
    with pytest.raises(Sealed):
        barrier.encrypt(SECRET_AAD, b"x")
    with pytest.raises(Sealed):
        barrier.decrypt(SECRET_AAD, blob)
    with pytest.raises(Sealed):
        barrier.rotate()
    with pytest.raises(Sealed):
        barrier.system_secret("A")


def test_before_init(barrier: Barrier) -> None:
    st = barrier.status()
    assert not st.initialized and st.sealed and st.seal_type is None
    with pytest.raises(NotInitialized):
        barrier.submit_share(base64.b64encode(b"\x01" + bytes(32)).decode())
    with pytest.raises(Sealed):
        barrier.encrypt(SECRET_AAD, b"x")
    for shares_, threshold in [(3, 4), (0, 0), (256, 2), (3, 0)]:
        with pytest.raises(InvalidRequest):
            barrier.initialize(shares_, threshold)
    assert not barrier.status().initialized


# -- nothing in clear ----------------------------------------------------------------------
def _find_key(candidates: list[bytes], blob: bytes, aad: AAD) -> bytes:
    found = []
    for key in candidates:
        try:
            aead.decrypt(key, blob, aad.encode())
        except BarrierError:
            continue
        found.append(key)
    assert len(found) == 1
    return found[0]


def test_no_key_in_clear_in_the_database(
    tmp_path: Path, db: Database, barrier: Barrier, rng: RecordingRandomness, shares: list[str]
) -> None:
    barrier.rotate()
    blob_v2 = barrier.encrypt(SECRET_AAD, b"x")
    assert int.from_bytes(blob_v2[:4], "big") == 2
    with db.session() as s:
        ring = s.get(KeyringRow, 1).ciphertext
        assert s.execute(select(KeyringRow.active_version)).scalar_one() == 2
    root_key = _find_key(rng.key_outputs(), ring, KEYRING_AAD)
    data_key_2 = _find_key(rng.key_outputs(), blob_v2, SECRET_AAD)
    data_keys = [k for k in rng.key_outputs() if k != root_key]
    assert data_key_2 in data_keys and len(data_keys) == 2
    assert b'"keys"' not in ring and b"active" not in ring

    files = [p.read_bytes() for p in tmp_path.glob("barrier.db*")]
    assert files and ring in b"".join(files)  # the scan does see the stored rows
    for key in [root_key, *data_keys]:
        for form in (key, base64.b64encode(key), key.hex().encode()):
            assert form not in ring
            for content in files:
                assert form not in content


def test_unseal_is_all_or_nothing_when_a_listener_fails(
    barrier: Barrier, shares: list[str]
) -> None:
    calls: list[str] = []

    def flaky() -> None:
        calls.append("unseal")
        if len(calls) == 1:
            raise RuntimeError("database blip")

    barrier.add_listener(flaky, lambda: calls.append("seal"))
    barrier.seal()
    calls.clear()
    barrier.submit_share(shares[0])
    barrier.submit_share(shares[1])
    with pytest.raises(RuntimeError):
        barrier.submit_share(shares[2])
    assert barrier.sealed and calls == ["unseal", "seal"]
    unseal(barrier, shares[2:5])  # a retry does the whole unseal again
    assert calls[-1] == "unseal"
