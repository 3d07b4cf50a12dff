"""Scheduled rotation of static KV secrets: a path whose metadata has both `rotation_period`
and a generator (`generate`) gets a new version, with the generated field made afresh and the
other fields carried over, once its latest version is older than the period.

Overlap window: the previous version stays readable (`GET /v1/kv/data/<path>?version=N-1`)
until pruned, and a path with a generator always keeps at least two versions. Readers that
find the new value refused (the consumer has not picked it up yet) should fall back to the
previous version. Each rotation is claimed per (path, version) through the database, so with
several nodes a version is rotated once; a crash between the write and the job's completion
is caught by check-and-set on the version. Failures retry with back-off and after three in a
row become a finding, which resolves itself when a later attempt succeeds."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from sqlalchemy import and_, select

from tessera.core.clock import Clock, as_utc
from tessera.core.errors import NotFound, TesseraError
from tessera.core.randomness import Randomness
from tessera.lifecycle.jobs import Claim, Jobs
from tessera.posture.findings import FindingStore, NewFinding, Severity
from tessera.secrets.errors import VersionConflict
from tessera.secrets.kv import KvService
from tessera.secrets.kv_models import (
    SecretDeleted,
    SecretDestroyed,
    fingerprint,
    generator_of,
)
from tessera.storage.db import Database
from tessera.storage.models_secrets import KvSecretRow, KvVersionRow

log = logging.getLogger("tessera.secrets.kv_rotation")
KIND = "rotate_kv"
RULE = "kv-rotation-failing"
FAILURES_BEFORE_FINDING = 3
MAX_PAGES = 20  # candidates read per pass: at most MAX_PAGES * batch
# The state changed under us (a newer write, a delete, a destroy): nothing left to rotate.
_MOVED_ON = (VersionConflict, SecretDeleted, SecretDestroyed, NotFound)


def subject_id(path: str, version: int) -> str:
    """The job subject of one version of a path (paths are longer than the 64-char column)."""
    return f"{hashlib.sha256(path.encode()).hexdigest()[:48]}#{version}"


class KvRotation:
    """`run_once()` rotates every KV path that is due (up to `batch` per pass)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        kv_service: KvService,
        node: str,
        batch: int = 500,
    ) -> None:
        self._db, self._clock = db, clock
        self._kv = kv_service
        self._jobs = Jobs(db, clock, rng, KIND, node)
        self._findings = FindingStore(db, clock, rng)
        self._batch = batch

    def due(self) -> list[tuple[str, int]]:
        """(path, latest version) of paths with a period and a generator whose live latest
        version is at least a period old and whose job is not done, held or waiting."""
        now = self._clock.now()
        latest = and_(
            KvVersionRow.path == KvSecretRow.path,
            KvVersionRow.version == KvSecretRow.current_version,
        )
        due: list[tuple[str, int]] = []
        after = ""
        with self._db.session() as s:
            for _ in range(MAX_PAGES):
                rows = s.execute(
                    select(KvSecretRow.path, KvSecretRow.current_version,
                           KvSecretRow.rotation_period_seconds, KvSecretRow.custom_metadata,
                           KvVersionRow.created_at)
                    .join(KvVersionRow, latest)
                    .where(
                        KvSecretRow.rotation_period_seconds.is_not(None),
                        KvSecretRow.path > after,
                        KvVersionRow.deleted_at.is_(None),
                        KvVersionRow.destroyed.is_(False),
                    )
                    .order_by(KvSecretRow.path)
                    .limit(self._batch)
                ).all()  # fmt: skip
                ripe = {
                    subject_id(r.path, r.current_version): (r.path, r.current_version)
                    for r in rows
                    if _has_generator(r.custom_metadata)
                    and as_utc(r.created_at) + timedelta(seconds=r.rotation_period_seconds) <= now
                }
                blocked = self._jobs.blocked(list(ripe))
                due += [item for sid, item in ripe.items() if sid not in blocked]
                if len(due) >= self._batch or len(rows) < self._batch:
                    break
                after = rows[-1].path
        return due[: self._batch]

    def run_once(self) -> int:
        """Rotate what is due; returns how many paths this node rotated."""
        return sum(self._rotate_one(path, version) for path, version in self.due())

    def _rotate_one(self, path: str, version: int) -> int:
        claim = self._jobs.claim(subject_id(path, version))
        if claim is None:
            return 0  # another node has it
        try:
            written = self._kv.rotate(None, path, expected=version)
        except _MOVED_ON:
            self._jobs.done(claim, None)
            return 0
        except TesseraError as exc:
            self._failed(claim, path, exc.detail)
            return 0
        except Exception as exc:  # never let one path stop the others
            log.exception("rotating KV path %s failed", path)
            self._failed(claim, path, f"internal error: {type(exc).__name__}")
            return 0
        self._jobs.done(claim, str(written.version))
        self._findings.resolve(RULE, fingerprint(path))
        log.info("rotated KV path %s to version %d", path, written.version)
        return 1

    def _failed(self, claim: Claim, path: str, error: str) -> None:
        attempts = self._jobs.failed(claim, error)
        log.warning("rotation of KV path %s failed (attempt %d): %s", path, attempts, error)
        if attempts < FAILURES_BEFORE_FINDING:
            return
        with self._db.session() as s:
            row = s.get(KvSecretRow, path)
            credential_id = row.credential_id if row else None
        self._findings.raise_(
            NewFinding(
                RULE, fingerprint(path), Severity.HIGH,
                f"Scheduled KV rotation keeps failing ({attempts} attempts)",
                {"path": path, "attempts": attempts, "error": error[:300],
                 "remediation": "Fix the cause (value size, generator); the rotation is "
                                "retried automatically."},
                credential_id=credential_id,
            )
        )  # fmt: skip


def _has_generator(stored: dict[str, str] | None) -> bool:
    """Whether a stored map holds a usable generator (a bad one is skipped, not retried)."""
    try:
        return generator_of(stored) is not None
    except TesseraError:
        return False
