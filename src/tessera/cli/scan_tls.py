"""`tessera scan tls`: placeholder until the scanner lands."""

from __future__ import annotations

from tessera.cli.output import fail


def command() -> None:
    """Scan for tls (not implemented yet)."""
    raise fail("tessera scan tls is not implemented yet")
