"""`InventoryService.mark_used`: last_used_at only moves forward, and not within the interval."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tessera.core.clock import FakeClock, as_utc
from tessera.inventory.models import CredentialKind, CredentialSource, RecordCredential
from tessera.storage.models import CredentialRow
from tests.helpers import make_container


def test_mark_used_moves_forward_only(tmp_path: Path) -> None:
    clock = FakeClock()
    c, _shares, _token = make_container(tmp_path, clock=clock)
    try:
        t0 = clock.now()
        with c.db.session(write=True) as s:
            cid = c.inventory.record(
                s, RecordCredential(CredentialKind.API_KEY, "fp-1", "k", CredentialSource.MANAGED)
            )

        def used() -> object:
            with c.db.session() as s:
                row = s.get(CredentialRow, cid)
                assert row is not None and row.last_used_at is not None
                return as_utc(row.last_used_at)

        with c.db.session(write=True) as s:
            c.inventory.mark_used(s, {cid: t0 + timedelta(minutes=5)})
        with c.db.session(write=True) as s:  # an older use from a slower node: ignored
            c.inventory.mark_used(s, {cid: t0 + timedelta(minutes=1)})
        assert used() == t0 + timedelta(minutes=5)
        with c.db.session(write=True) as s:  # within the interval: not written
            c.inventory.mark_used(s, {cid: t0 + timedelta(minutes=5, seconds=30)},
                                  unless_within=timedelta(minutes=1))  # fmt: skip
        assert used() == t0 + timedelta(minutes=5)
        with c.db.session(write=True) as s:
            c.inventory.mark_used(s, {cid: t0 + timedelta(minutes=7)},
                                  unless_within=timedelta(minutes=1))  # fmt: skip
        assert used() == t0 + timedelta(minutes=7)
    finally:
        c.close()
