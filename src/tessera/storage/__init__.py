"""Storage: SQLAlchemy 2 engine, tables, Alembic migrations and unit of work."""

from tessera.storage.db import Database, DatabaseConfig

__all__ = ["Database", "DatabaseConfig"]
