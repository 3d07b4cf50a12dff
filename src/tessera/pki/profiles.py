"""Profile CRUD (`pki/profiles/<name>`); issuance reads profiles through `load`."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock
from tessera.core.errors import NotFound
from tessera.pki.ports import Authorizer
from tessera.pki.profile import Profile, validate_profile_name
from tessera.pki.repository import ca_by_name
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models import PkiProfileRow


class ProfileService:
    """Write, read, list and delete profiles; the issuer CA must exist when a profile is written."""

    def __init__(
        self, db: Database, clock: Clock, authz: Authorizer, cache_ttl: float = 1.0
    ) -> None:
        self._db = db
        self._clock = clock
        self._authz = authz
        self._ttl = cache_ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Profile, float]] = {}

    def cached(self, name: str) -> Profile:
        """The profile for issuance, read at most every `cache_ttl` seconds (a change made on
        another node applies within that time; on this node at once)."""
        hit = self.cached_only(name)
        if hit is not None:
            return hit
        now = self._clock.monotonic()
        with self._db.session() as s:
            profile = self.load(s, name)
        with self._lock:
            self._cache[name] = (profile, now)
        return profile

    def cached_only(self, name: str) -> Profile | None:
        """The cached profile if fresh, else None (the caller reads it off the event loop)."""
        hit = self._cache.get(name)
        if hit is not None and self._clock.monotonic() - hit[1] < self._ttl:
            return hit[0]
        return None

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def write(self, principal: Principal, name: str, document: dict[str, Any]) -> Profile:
        profile = Profile.from_document(name, document)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            ca_by_name(s, profile.issuer)  # NotFound for an unknown issuer
            row = s.get(PkiProfileRow, profile.name)
            cap = Capability.CREATE if row is None else Capability.UPDATE
            self._authz.authorize(principal, f"pki/profiles/{profile.name}", cap)
            # a profile hands its CA's signature to whoever may use it: naming a CA as issuer
            # takes `update` on that CA, so profile authors cannot borrow a CA they don't run
            self._authz.authorize(principal, f"pki/cas/{profile.issuer}", Capability.UPDATE)
            if row is None:
                s.add(
                    PkiProfileRow(
                        name=profile.name,
                        document=profile.to_document(),
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                row.document = profile.to_document()
                row.updated_at = now
        self.forget()
        return profile

    def read(self, principal: Principal, name: str) -> Profile:
        validate_profile_name(name)
        self._authz.authorize(principal, f"pki/profiles/{name}", Capability.READ)
        with self._db.session() as s:
            return self.load(s, name)

    def list(self, principal: Principal) -> list[str]:
        self._authz.authorize(principal, "pki/profiles", Capability.LIST)
        with self._db.session() as s:
            names = s.execute(select(PkiProfileRow.name).order_by(PkiProfileRow.name)).scalars()
            return [
                n
                for n in names
                if self._authz.permits(principal, f"pki/profiles/{n}", Capability.READ)
            ]

    def delete(self, principal: Principal, name: str) -> None:
        validate_profile_name(name)
        self._authz.authorize(principal, f"pki/profiles/{name}", Capability.DELETE)
        with self._db.session(write=True) as s:
            row = s.get(PkiProfileRow, name)
            if row is None:
                raise NotFound(f"no profile named {name!r}")
            s.delete(row)
        self.forget()

    @staticmethod
    def load(session: Session, name: str) -> Profile:
        row = session.get(PkiProfileRow, validate_profile_name(name))
        if row is None:
            raise NotFound(f"no profile named {name!r}")
        return Profile.from_document(row.name, row.document)
