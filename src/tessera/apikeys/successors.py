"""Delivery of keys made by scheduled rotation: nobody is there to see them, so each waits
sealed by the barrier (AAD = its key id) until it is picked up once — by the holder of the
key it replaces, or by someone with `update` on its policy path — or until the predecessor's
overlap ends. Whichever comes first wipes the sealed copy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from tessera.apikeys import format as key_format
from tessera.apikeys import repository as repo
from tessera.apikeys.models import CreatedApiKey, VerifiedKey
from tessera.apikeys.ports import Authorizer, KeySource
from tessera.auth.models import Principal
from tessera.barrier.aead import AAD
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import Conflict, NotFound
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models_apikeys import ApiKeyRow

NOTHING_WAITING = "no successor key is waiting for pickup (picked up already, or its time ended)"


def sealed_aad(key_id: str) -> AAD:
    return AAD("api_keys", key_id, "sealed_key")


class Successors:
    """Seal, hand out once, and purge the successors of scheduled rotations."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        keys: KeySource,
        policies: Authorizer,
        verify: Callable[[str], VerifiedKey],
    ) -> None:
        self._db, self._clock, self._keys, self._policies = db, clock, keys, policies
        self._verify = verify

    def seal(self, row: ApiKeyRow, key: str, until: datetime) -> None:
        """Keep `key` (the key of `row`) sealed in its row until `until`."""
        row.sealed_key = self._keys.encrypt(sealed_aad(row.id), key.encode())
        row.sealed_until = until

    def by_old_key(self, old_key: str) -> CreatedApiKey:
        """The successor of a still-working key, which proves possession; a wrong, expired or
        revoked old key gets the uniform InvalidApiKey, a second pickup Conflict."""
        verified = self._verify(old_key)
        with self._db.session(write=True) as s:
            found = repo.load(s, verified.key_id)
            successor = found[0].replaced_by if found is not None else None
            if successor is None:
                raise Conflict(NOTHING_WAITING)
            return self._take(s, successor)

    def by_id(self, principal: Principal, key_id: str) -> CreatedApiKey:
        """The sealed key `key_id` itself, for a caller with `update` on it (as a rotation
        would need); Conflict when nothing waits."""
        with self._db.session(write=True) as s:
            found = repo.load(s, key_id) if key_format.is_key_id(key_id) else None
            if found is None:
                raise NotFound("no such API key")
            row, identity = found
            self._policies.authorize(principal, repo.key_path(identity, row.id), Capability.UPDATE)
            return self._take(s, key_id)

    def _take(self, s: Session, key_id: str) -> CreatedApiKey:
        """Decrypt and wipe in one transaction: if the commit fails, the key is not answered."""
        now = self._clock.now()
        found = repo.load(s, key_id, lock=True)
        if found is None:
            raise Conflict(NOTHING_WAITING)
        row, identity = found
        if row.sealed_key is None or row.sealed_until is None or as_utc(row.sealed_until) <= now:
            raise Conflict(NOTHING_WAITING)
        key = self._keys.decrypt(sealed_aad(row.id), row.sealed_key).decode()
        row.sealed_key, row.sealed_until = None, None
        s.flush()
        return CreatedApiKey(key=key, info=repo.key_from_row(row, identity, now))

    def purge(self) -> int:
        """Wipe every sealed copy whose pickup window ended; returns how many."""
        with self._db.session(write=True) as s:
            return repo.purge_sealed(s, self._clock.now())
