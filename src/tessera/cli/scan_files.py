"""`tessera scan files`: placeholder until the scanner lands."""

from __future__ import annotations

from tessera.cli.output import fail


def command() -> None:
    """Scan for files (not implemented yet)."""
    raise fail("tessera scan files is not implemented yet")
