"""Versioned data keys. Rotation adds a version; every old version keeps decrypting."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from tessera.barrier.aead import KEY_SIZE
from tessera.core.randomness import Randomness


@dataclass(frozen=True)
class Keyring:
    """Immutable data keys by version: `active` encrypts, every version decrypts."""

    keys: Mapping[int, bytes]
    active: int
    rotated_at: datetime

    @classmethod
    def new(cls, rng: Randomness, now: datetime) -> Keyring:
        return cls(keys={1: rng.token_bytes(KEY_SIZE)}, active=1, rotated_at=now)

    def rotated(self, rng: Randomness, now: datetime) -> Keyring:
        version = max(self.keys) + 1
        return Keyring(
            keys={**self.keys, version: rng.token_bytes(KEY_SIZE)}, active=version, rotated_at=now
        )

    @property
    def active_key(self) -> bytes:
        return self.keys[self.active]

    def to_bytes(self) -> bytes:
        doc = {
            "active": self.active,
            "rotated_at": self.rotated_at.isoformat(),
            "keys": {str(v): base64.b64encode(k).decode() for v, k in self.keys.items()},
        }
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Keyring:
        doc = json.loads(raw)
        return cls(
            keys={int(v): base64.b64decode(k) for v, k in doc["keys"].items()},
            active=int(doc["active"]),
            rotated_at=datetime.fromisoformat(doc["rotated_at"]),
        )
