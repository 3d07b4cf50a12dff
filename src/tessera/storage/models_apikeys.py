"""Tables of the API key domain. A key is stored only as its keyed hash (`key_hash`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.storage.models import Base, UTCDateTime


class ApiKeyRow(Base):
    """One API key. `expires_at` is when it stops working: its lifetime's end, or the end of
    the overlap once rotated (`replaced_by` names the successor). With a rotation policy
    (`rotate_every_seconds`) the scheduler rotates it at `rotate_at`; the successor of such a
    rotation waits in `sealed_key` (barrier-encrypted, AAD = its id) until its one pickup or
    `sealed_until` (the predecessor's overlap end), whichever comes first."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the public key id
    key_hash: Mapped[bytes] = mapped_column(LargeBinary)  # HMAC-SHA-256 of the whole key
    identity_id: Mapped[str] = mapped_column(String(32), ForeignKey("identities.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    credential_id: Mapped[str] = mapped_column(String(32))
    replaces: Mapped[str | None] = mapped_column(String(16))
    replaced_by: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rotate_every_seconds: Mapped[int | None] = mapped_column(Integer)
    overlap_seconds: Mapped[int | None] = mapped_column(Integer)  # None: the server default
    rotate_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    generation: Mapped[int] = mapped_column(Integer, server_default="0")  # rotations so far
    sealed_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
