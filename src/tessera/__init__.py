"""Tessera: machine identity management (discover, issue, rotate, revoke, audit)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
