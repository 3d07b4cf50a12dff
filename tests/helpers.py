"""In-process helpers for service-level tests (no HTTP)."""

from __future__ import annotations

from pathlib import Path

from tessera.app import Container, build
from tessera.auth.models import Principal
from tessera.config import Settings
from tessera.core.clock import FakeClock


def make_container(
    data_dir: Path,
    database_url: str | None = None,
    clock: FakeClock | None = None,
    shares: int = 1,
    threshold: int = 1,
) -> tuple[Container, list[str], str]:
    """A migrated, initialised and unsealed container; returns it, the shares and root token."""
    c = build(Settings(data_dir=data_dir, database_url=database_url), clock=clock or FakeClock())
    result = c.operator.initialize(shares, threshold)
    return c, list(result.shares), result.root_token


def root_principal(c: Container, root_token: str) -> Principal:
    return c.tokens.authenticate(root_token)
