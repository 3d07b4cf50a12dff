"""`tessera scan secrets`: placeholder until the scanner lands."""

from __future__ import annotations

from tessera.cli.output import fail


def command() -> None:
    """Scan for secrets (not implemented yet)."""
    raise fail("tessera scan secrets is not implemented yet")
