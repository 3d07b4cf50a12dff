"""The migrations build exactly the tables the models describe, on both storage engines."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from tessera.storage.db import normalise_url
from tessera.storage.migrate import alembic_config
from tessera.storage.models import Base


def test_migrations_match_models(db_url: str) -> None:
    engine = create_engine(normalise_url(db_url))
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], diff
    finally:
        engine.dispose()
