"""Concurrency on both engines: no token outlives its parent's revocation or its identity."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tessera.app import Container
from tessera.auth.models import CreateTokenRequest, Principal
from tessera.core.errors import Conflict, Unauthenticated
from tessera.inventory.models import CreateIdentityRequest
from tessera.storage.models import TokenRow
from tests.helpers import make_container, root_principal


@pytest.fixture
def node(tmp_path: Path, db_url: str) -> Iterator[tuple[Container, Principal]]:
    c, _, root_token = make_container(tmp_path, database_url=db_url)
    yield c, root_principal(c, root_token)
    c.close()


def _hammer(create: object, stop: threading.Event, errors: list[BaseException]) -> None:
    while not stop.is_set():
        try:
            create()  # type: ignore[operator]
        except (Unauthenticated, Conflict):
            pass  # refused because the parent/identity is already gone: correct
        except BaseException as exc:  # anything else is a bug
            errors.append(exc)
            return


def _run_race(create: object, revoke: object) -> list[BaseException]:
    stop, errors = threading.Event(), []  # type: ignore[var-annotated]
    workers = [threading.Thread(target=_hammer, args=(create, stop, errors)) for _ in range(4)]
    for w in workers:
        w.start()
    threading.Event().wait(0.3)  # let children pile up
    revoke()  # type: ignore[operator]
    threading.Event().wait(0.2)  # keep creating after the revoke: all must be refused
    stop.set()
    for w in workers:
        w.join()
    return errors


def test_no_child_survives_a_parent_revoke(node: tuple[Container, Principal]) -> None:
    c, root = node
    parent = c.tokens.create(root, CreateTokenRequest(ttl=timedelta(hours=1)))
    parent_p = c.tokens.authenticate(parent.token)
    errors = _run_race(
        lambda: c.tokens.create(parent_p, CreateTokenRequest()),
        lambda: c.tokens.revoke(root, parent.token),
    )
    assert errors == []
    with c.db.session() as s:
        children = (
            s.execute(select(TokenRow).where(TokenRow.parent_accessor == parent.info.accessor))
            .scalars()
            .all()
        )
    assert children, "the race produced no children; it tested nothing"
    assert [ch.accessor for ch in children if ch.revoked_at is None] == []


def test_no_token_survives_its_identity_decommission(node: tuple[Container, Principal]) -> None:
    c, root = node
    c.inventory.create_identity(root, CreateIdentityRequest(name="batch", owner="data"))
    errors = _run_race(
        lambda: c.tokens.create(root, CreateTokenRequest(identity="batch", policies=("default",))),
        lambda: c.inventory.decommission(root, "batch"),
    )
    assert errors == []
    with c.db.session() as s:
        bound = s.execute(select(TokenRow).where(TokenRow.identity_id.is_not(None))).scalars().all()
    assert bound
    assert [t.accessor for t in bound if t.revoked_at is None] == []
