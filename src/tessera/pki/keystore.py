"""The software KeyStore: PKCS#8 keys encrypted by the barrier, cached in memory while unsealed."""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from tessera.barrier.aead import AAD
from tessera.barrier.service import Barrier
from tessera.core.clock import Clock
from tessera.core.errors import NotFound
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness
from tessera.pki import keys
from tessera.pki.keys import PrivateKey
from tessera.pki.models import KeyType
from tessera.pki.ports import KeyHandle
from tessera.storage.db import Database
from tessera.storage.models import PkiKeyRow

PREFIX = "soft:"


class SoftwareKeyStore:
    """KeyStore whose keys live in `pki_keys`, sealed by the barrier (AAD = the key's row)."""

    def __init__(self, db: Database, barrier: Barrier, clock: Clock, rng: Randomness) -> None:
        self._db = db
        self._barrier = barrier
        self._clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        self._cache: dict[str, PrivateKey] = {}
        self._generation = 0  # bumped on seal: a decryption that raced it is not cached
        barrier.add_listener(lambda: None, self.forget)

    def forget(self) -> None:
        """Drop every decrypted key (on seal)."""
        with self._lock:
            self._generation += 1
            self._cache.clear()

    def create(self, session: Session, key_type: KeyType) -> KeyHandle:
        key = keys.generate(key_type)
        key_id = new_ulid(self._clock, self._rng)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        session.add(
            PkiKeyRow(
                id=key_id,
                key_type=key_type.value,
                ciphertext=self._barrier.encrypt(_aad(key_id), der),
                created_at=self._clock.now(),
            )
        )
        ref = PREFIX + key_id
        with self._lock:
            self._cache[ref] = key
        return KeyHandle(ref, key.public_key())

    def signing_key(self, ref: str) -> PrivateKey:
        cached = self._cache.get(ref)
        if cached is not None:
            return cached
        key_id = ref.removeprefix(PREFIX)
        generation = self._generation
        with self._db.session() as s:
            row = s.get(PkiKeyRow, key_id)
        if row is None or not ref.startswith(PREFIX):
            raise NotFound("the CA key is missing from the key store")
        der = self._barrier.decrypt(_aad(key_id), row.ciphertext)
        loaded = keys.as_signing_key(serialization.load_der_private_key(der, password=None))
        with self._lock:
            if generation == self._generation and not self._barrier.sealed:
                self._cache[ref] = loaded
        return loaded


def _aad(key_id: str) -> AAD:
    return AAD("pki_keys", key_id, "ciphertext")
