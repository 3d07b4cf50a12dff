"""Database secrets engines, looked up by plugin name; MySQL and MariaDB share `mysql`."""

from __future__ import annotations

from tessera.core.errors import InvalidRequest
from tessera.secrets.engines.mysql import MySQLEngine
from tessera.secrets.engines.postgresql import PostgresEngine
from tessera.secrets.ports import SecretEngine

PLUGINS: tuple[str, ...] = ("postgresql", "mysql")

_ENGINES: dict[str, SecretEngine] = {"postgresql": PostgresEngine(), "mysql": MySQLEngine()}


def engine_for(plugin: str) -> SecretEngine:
    """The engine of `plugin` (one of `PLUGINS`); engines hold no state, so one serves all."""
    engine = _ENGINES.get(plugin)
    if engine is None:
        raise InvalidRequest(
            f"unknown database plugin {plugin[:32]!r}; known: {', '.join(PLUGINS)}",
            field="plugin",
        )
    return engine


__all__ = ["PLUGINS", "MySQLEngine", "PostgresEngine", "engine_for"]
