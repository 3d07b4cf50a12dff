"""What every scanner reports: found credentials (deduplicated by fingerprint) and scan errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tessera.inventory.models import CredentialKind, LocationKind


@dataclass(frozen=True)
class Location:
    """Where a credential was seen: `file` "path:line", `git` "repo@commit:path:line",
    `endpoint` "host:port" (with "#sni" when the SNI name differs from host)."""

    kind: LocationKind
    location: str


@dataclass
class DiscoveredCredential:
    """One credential as the inventory will hold it; one object per fingerprint, many locations.

    `fingerprint` is the SHA-256 (hex) of the certificate DER or SubjectPublicKeyInfo DER, or a
    keyed HMAC-SHA-256 of a secret's value: never the secret itself."""

    kind: CredentialKind
    fingerprint: str
    name: str
    locations: list[Location] = field(default_factory=list)
    not_after: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanError:
    """Something the scan could not read or parse; the scan goes on past it."""

    where: str
    message: str


class Progress(Protocol):
    """Told how much work there is and how much is done (the CLI shows a rich progress bar)."""

    def total(self, units: int) -> None: ...

    def advance(self, units: int = 1) -> None: ...


ProgressFactory = Callable[[str], Progress]
