"""Tables of the discovery domain: scans (jobs) and what each one reported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.storage.models import Base, UTCDateTime


class DiscoveryScanRow(Base):
    """One scan: run by a CLI that uploads its results, or by the server itself (TLS).
    `scope` lists the location prefixes the scan covered: on completion, locations under them
    that the scan did not see again are marked gone."""

    __tablename__ = "discovery_scans"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # secrets | files | tls
    status: Mapped[str] = mapped_column(String(16), index=True)  # running|completed|failed
    scope: Mapped[list[str]] = mapped_column(JSON)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # server-run scans: the targets
    created_by: Mapped[str] = mapped_column(String(64))  # token accessor
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    credentials: Mapped[int] = mapped_column(Integer)  # distinct credentials reported
    new_credentials: Mapped[int] = mapped_column(Integer)
    locations: Mapped[int] = mapped_column(Integer)
    missing: Mapped[int] = mapped_column(Integer)  # locations not seen again on completion
    errors: Mapped[int] = mapped_column(Integer)
    error_samples: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    failure: Mapped[str | None] = mapped_column(String(1024))
