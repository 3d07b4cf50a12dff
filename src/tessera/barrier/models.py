"""Seal state as callers see it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SealStatus:
    """Seal state; `threshold` and `shares` are 0 and `seal_type` None until initialized."""

    initialized: bool
    sealed: bool
    seal_type: str | None
    threshold: int
    shares: int
    progress: int
    keyring_version: int | None


@dataclass(frozen=True)
class InitResult:
    """Shares in their printable form (base64 of `x || y`), shown once and never stored."""

    shares: tuple[str, ...]
    threshold: int
