"""HTTP API: FastAPI app factory and one router per domain.

`create_app` is imported lazily so the CLI can use `tessera.api.schemas` without loading the
server (FastAPI app, storage) on every command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tessera.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from tessera.api.app import create_app

        return create_app
    raise AttributeError(name)
