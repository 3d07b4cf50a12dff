"""A crash between creating the root key and handing out shares/root token is repaired."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.app import build
from tessera.config import Settings
from tessera.core.clock import FakeClock
from tessera.core.errors import AlreadyInitialized


class Crash(Exception):
    pass


def test_incomplete_init_is_repaired_by_the_next_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    c = build(Settings(data_dir=tmp_path), clock=clock)

    def crash(display_name: str = "root") -> None:
        raise Crash

    monkeypatch.setattr(c.tokens, "create_root", crash)
    with pytest.raises(Crash):
        c.operator.initialize(5, 3)
    monkeypatch.undo()

    # a fresh process (restart) sees an uninitialised Tessera, not a bricked one
    restarted = build(Settings(data_dir=tmp_path), clock=clock)
    assert restarted.barrier.status().initialized is False
    with pytest.raises(AlreadyInitialized, match="in progress"):
        restarted.operator.initialize(5, 3)  # could be a peer still initialising
    clock.advance(6 * 60)
    result = restarted.operator.initialize(5, 3)
    assert len(result.shares) == 5
    assert restarted.barrier.status().initialized is True
    assert restarted.tokens.authenticate(result.root_token).is_root
    with pytest.raises(AlreadyInitialized, match="already initialized"):
        restarted.operator.initialize(1, 1)
    # the shares of the completed init unseal a further restart
    again = build(Settings(data_dir=tmp_path), clock=clock)
    for share in result.shares[:3]:
        again.barrier.submit_share(share)
    assert again.barrier.sealed is False
