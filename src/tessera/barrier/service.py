"""The barrier: seal state, the root key, the keyring, and encryption of every stored secret.

Only the keyring (wrapped by the root key) and the seal configuration are stored in the clear
shape; everything else secret goes through `encrypt`/`decrypt` with an `AAD` naming its row.
The root key lives only in memory between unseal and seal.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.barrier import aead, shamir
from tessera.barrier.aead import AAD
from tessera.barrier.keyring import Keyring
from tessera.barrier.models import InitResult, SealStatus
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import (
    AlreadyInitialized,
    BarrierError,
    InvalidRequest,
    NotInitialized,
    Sealed,
    UnsealFailed,
)
from tessera.core.randomness import Randomness
from tessera.storage.db import Database
from tessera.storage.models import (
    CredentialRow,
    KeyringRow,
    SealConfigRow,
    SystemSecretRow,
    TokenRow,
)

_KEYRING_AAD = AAD("keyring", "1", "ciphertext").encode()
MAX_SHARE_CHARS = 2048
INIT_STALE = timedelta(minutes=5)  # an unfinished init older than this is a crash, not a peer
log = logging.getLogger("tessera.barrier")
KEYRING_CHECK_INTERVAL = 1.0  # seconds between checks for a rotation made by another node


def encode_share(share: bytes) -> str:
    return base64.b64encode(share).decode()


def decode_share(text: str) -> bytes:
    cleaned = text.strip()
    if not cleaned or len(cleaned) > MAX_SHARE_CHARS:
        raise UnsealFailed("the unseal share is empty or too long")
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise UnsealFailed("the unseal share is not valid base64") from None


class Barrier:
    """Seal/unseal/rotate and authenticated encryption with the active data key."""

    def __init__(self, db: Database, clock: Clock, rng: Randomness) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._lock = threading.RLock()
        self._root_key: bytes | None = None
        self._keyring: Keyring | None = None
        self._pending: list[bytes] = []
        self._config: SealConfigRow | None = None
        self._on_unseal: list[Callable[[], None]] = []
        self._on_seal: list[Callable[[], None]] = []
        self._checked_at = clock.monotonic()

    # -- listeners -------------------------------------------------------------------------
    def add_listener(self, on_unseal: Callable[[], None], on_seal: Callable[[], None]) -> None:
        """Services that cache keys load them on unseal and drop them on seal."""
        self._on_unseal.append(on_unseal)
        self._on_seal.append(on_seal)

    # -- state -----------------------------------------------------------------------------
    @property
    def sealed(self) -> bool:
        return self._keyring is None

    def _seal_config(self) -> SealConfigRow | None:
        """The completed seal configuration (cached once complete), or None."""
        if self._config is None:
            with self._db.session() as s:
                row = s.get(SealConfigRow, 1)
            if row is None or row.completed_at is None:
                return None
            self._config = row
        return self._config

    def status(self) -> SealStatus:
        cfg = self._seal_config()
        keyring = self._keyring
        return SealStatus(
            initialized=cfg is not None,
            sealed=keyring is None,
            seal_type=cfg.seal_type if cfg else None,
            threshold=cfg.secret_threshold if cfg else 0,
            shares=cfg.secret_shares if cfg else 0,
            progress=len(self._pending),
            keyring_version=keyring.active if keyring else None,
        )

    # -- init / unseal / seal --------------------------------------------------------------
    def initialize(self, shares: int, threshold: int) -> InitResult:
        """Create the root key and keyring, split the root key, and leave the barrier unsealed."""
        if not (1 <= threshold <= shares <= 255):
            raise InvalidRequest(
                "secret_threshold must be at least 1 and at most secret_shares (at most 255)"
            )
        root_key = self._rng.token_bytes(aead.KEY_SIZE)
        parts = shamir.split(root_key, shares, threshold, self._rng)
        now = self._clock.now()
        keyring = Keyring.new(self._rng, now)
        blob = aead.encrypt(root_key, 0, keyring.to_bytes(), _KEYRING_AAD, self._rng)
        with self._lock:
            try:
                with self._db.session(write=True) as s:
                    existing = s.get(SealConfigRow, 1)
                    if existing is not None:
                        self._repair_incomplete_init(s, existing, now)
                    s.add(
                        SealConfigRow(
                            id=1,
                            seal_type="shamir",
                            secret_shares=shares,
                            secret_threshold=threshold,
                            created_at=now,
                            completed_at=None,
                        )
                    )
                    s.flush()
                    s.add(
                        KeyringRow(
                            id=1, ciphertext=blob, active_version=keyring.active, updated_at=now
                        )
                    )
            except IntegrityError:
                raise AlreadyInitialized("Tessera is already initialized") from None
            self._config = None
            self._activate(root_key, keyring)
        return InitResult(shares=tuple(encode_share(p) for p in parts), threshold=threshold)

    def complete_initialization(self) -> None:
        """Mark init done (the root token exists); until then a crashed init can be redone."""
        with self._db.session(write=True) as s:
            row = s.get(SealConfigRow, 1)
            if row is not None and row.completed_at is None:
                row.completed_at = self._clock.now()
        self._config = None

    def _repair_incomplete_init(self, s: Session, existing: SealConfigRow, now: datetime) -> None:
        """An init whose shares were never handed out (crash before completion) is wiped once
        it is older than INIT_STALE, so a new init can run; anything else is a conflict."""
        if existing.completed_at is not None:
            raise AlreadyInitialized("Tessera is already initialized")
        if now - as_utc(existing.created_at) < INIT_STALE:
            raise AlreadyInitialized("an initialization is in progress; retry in a few minutes")
        log.warning("repairing an initialization that did not complete")
        for table in (CredentialRow, TokenRow, SystemSecretRow, KeyringRow, SealConfigRow):
            s.execute(delete(table))
        s.flush()

    def submit_share(self, share_text: str) -> SealStatus:
        """Add one share; at the threshold, reconstruct the root key and unseal (or reset)."""
        cfg = self._seal_config()
        if cfg is None:
            raise NotInitialized("initialize Tessera before unsealing it")
        share = decode_share(share_text)
        if len(share) != 1 + aead.KEY_SIZE or share[0] == 0:
            raise UnsealFailed("this is not an unseal share of this Tessera (wrong size)")
        with self._lock:
            if not self.sealed:
                return self.status()
            if any(p[:1] == share[:1] for p in self._pending):
                raise UnsealFailed("this share was already submitted")
            self._pending.append(share)
            if len(self._pending) < cfg.secret_threshold:
                return self.status()
            parts, self._pending = self._pending, []
            try:
                root_key = shamir.combine(parts)
            except shamir.ShamirError as exc:
                raise UnsealFailed(f"the shares do not combine: {exc}; progress reset") from None
            self.unseal_with_root_key(root_key)
        return self.status()

    def unseal_with_root_key(self, root_key: bytes) -> None:
        with self._lock:
            try:
                keyring = self._load_keyring(root_key)
            except BarrierError:
                raise UnsealFailed(
                    "the shares do not reconstruct the root key; progress reset"
                ) from None
            self._activate(root_key, keyring)

    def reset_progress(self) -> SealStatus:
        with self._lock:
            self._pending = []
        return self.status()

    def seal(self) -> None:
        """Drop the root key and keyring from memory (references; Python cannot wipe bytes)."""
        with self._lock:
            self._root_key = None
            self._keyring = None
            self._pending = []
        for listener in self._on_seal:
            listener()

    def _activate(self, root_key: bytes, keyring: Keyring) -> None:
        """Unseal, all or nothing: if a service cannot load its keys (e.g. the database blips),
        the barrier goes back to sealed so a retry of unseal does the whole thing again."""
        self._root_key, self._keyring, self._pending = root_key, keyring, []
        try:
            for listener in self._on_unseal:
                listener()
        except Exception:
            self.seal()
            raise

    def _load_keyring(self, root_key: bytes) -> Keyring:
        with self._db.session() as s:
            row = s.get(KeyringRow, 1)
        if row is None:
            raise NotInitialized("no keyring stored")
        return Keyring.from_bytes(aead.decrypt(root_key, row.ciphertext, _KEYRING_AAD))

    # -- rotation --------------------------------------------------------------------------
    def rotate(self) -> int:
        """Add a keyring version and make it active; returns the new version."""
        with self._lock:
            root_key = self._require_root_key()
            with self._db.session(write=True) as s:
                row = s.execute(
                    select(KeyringRow).where(KeyringRow.id == 1).with_for_update()
                ).scalar_one()
                current = Keyring.from_bytes(aead.decrypt(root_key, row.ciphertext, _KEYRING_AAD))
                keyring = current.rotated(self._rng, self._clock.now())
                row.ciphertext = aead.encrypt(
                    root_key, 0, keyring.to_bytes(), _KEYRING_AAD, self._rng
                )
                row.active_version = keyring.active
                row.updated_at = self._clock.now()
            self._keyring = keyring
            return keyring.active

    def _refresh_if_rotated(self, keyring: Keyring) -> Keyring:
        """Another node may have rotated: new writes must use the newest key within a second."""
        self._checked_at = self._clock.monotonic()
        with self._db.session() as s:
            active = s.execute(select(KeyringRow.active_version)).scalar_one_or_none()
        if active is not None and active != keyring.active:
            with self._lock:
                keyring = self._load_keyring(self._require_root_key())
                self._keyring = keyring
        return keyring

    def _require_root_key(self) -> bytes:
        if self._root_key is None:
            raise Sealed("Tessera is sealed")
        return self._root_key

    def _require_keyring(self) -> Keyring:
        keyring = self._keyring
        if keyring is None:
            raise Sealed("Tessera is sealed")
        return keyring

    # -- encryption ------------------------------------------------------------------------
    def encrypt(self, aad: AAD, plaintext: bytes) -> bytes:
        keyring = self._require_keyring()
        if self._clock.monotonic() - self._checked_at >= KEYRING_CHECK_INTERVAL:
            keyring = self._refresh_if_rotated(keyring)
        return aead.encrypt(keyring.active_key, keyring.active, plaintext, aad.encode(), self._rng)

    def decrypt(self, aad: AAD, blob: bytes) -> bytes:
        keyring = self._require_keyring()
        version = aead.blob_version(blob)
        if version not in keyring.keys:
            # Another node rotated: reload the keyring once with the root key we hold.
            with self._lock:
                keyring = self._load_keyring(self._require_root_key())
                self._keyring = keyring
            if version not in keyring.keys:
                raise BarrierError("ciphertext names an unknown key version")
        return aead.decrypt(keyring.keys[version], blob, aad.encode())

    # -- named system secrets --------------------------------------------------------------
    def system_secret(self, name: str, size: int = 32) -> bytes:
        """A named random secret (e.g. the token HMAC key), created on first use."""
        aad = AAD("system_secrets", name, "ciphertext")
        try:
            return self._system_secret(name, size, aad)
        except IntegrityError:
            # another node created it at the same moment: use theirs
            return self._system_secret(name, size, aad)

    def _system_secret(self, name: str, size: int, aad: AAD) -> bytes:
        with self._db.session(write=True) as s:
            row = s.get(SystemSecretRow, name)
            if row is None:
                value = self._rng.token_bytes(size)
                s.add(
                    SystemSecretRow(
                        name=name, ciphertext=self.encrypt(aad, value), updated_at=self._clock.now()
                    )
                )
                return value
        return self.decrypt(aad, row.ciphertext)
