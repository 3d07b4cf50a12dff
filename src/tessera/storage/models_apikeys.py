"""Tables of the API key domain. A key is stored only as its keyed hash (`key_hash`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.storage.models import Base, UTCDateTime


class ApiKeyRow(Base):
    """One API key. `expires_at` is when it stops working: its lifetime's end, or the end of
    the overlap once rotated (`replaced_by` names the successor)."""

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
