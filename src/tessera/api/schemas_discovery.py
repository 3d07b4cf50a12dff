"""Discovery scan bodies: open a scan, upload its findings, complete it; server-run TLS scans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tessera.api.schemas import TIME_DOC, Strict


class ScanIn(Strict):
    """Open a scan whose results a scanner uploads (`tessera scan … --upload`)."""

    kind: str = Field(description="'secrets', 'files' or 'tls'.")
    scope: list[str] = Field(
        [], max_length=1000,
        description="Location prefixes the scan covers (e.g. an absolute directory, "
        "'host:port'): on completion, locations under them not seen again are marked gone.",
    )  # fmt: skip


class TlsScanIn(Strict):
    """A TLS scan the server runs itself (needs sudo on discovery/scans/tls)."""

    targets: list[str] = Field(
        min_length=1,
        max_length=1000,
        description="host:port, host, [v6]:port, CIDR, sni@host:port.",
    )
    ports: list[int] = Field([443], min_length=1, max_length=100)
    sni: list[str] = Field([], max_length=100)
    concurrency: int = Field(100, ge=1, le=1000)
    timeout: float = Field(5.0, gt=0, le=60)


class LocationIO(Strict):
    kind: str = Field(description="'file', 'git' or 'endpoint'.")
    location: str = Field(max_length=1024)


class FoundIn(Strict):
    """One credential a scanner found (never the secret: fingerprints and public data)."""

    kind: str = Field(description="Credential kind, e.g. x509_certificate, leaked_secret.")
    fingerprint: str = Field(min_length=8, max_length=128)
    name: str = Field(max_length=512)
    locations: list[LocationIO] = Field([], max_length=1000)
    not_after: datetime | None = None
    attributes: dict[str, Any] = Field({}, description="Scanner details (≤ 16 KiB as JSON).")


class ErrorIn(Strict):
    where: str = Field(max_length=1024)
    message: str = Field(max_length=1024)


class ResultsIn(Strict):
    credentials: list[FoundIn] = Field([], max_length=1000)
    errors: list[ErrorIn] = Field([], max_length=1000)


class ScanOut(BaseModel):
    id: str
    kind: str
    status: str = Field(description="running, completed or failed.")
    scope: list[str]
    started_at: datetime = Field(description=TIME_DOC)
    finished_at: datetime | None
    credentials: int = Field(description="Credentials reported (with repeats across batches).")
    new_credentials: int = Field(description="Of those, first seen by this scan.")
    locations: int
    missing: int = Field(description="Locations under the scope not seen again.")
    errors: int
    error_samples: list[dict[str, str]]
    failure: str | None


class ScanListOut(BaseModel):
    items: list[ScanOut]
