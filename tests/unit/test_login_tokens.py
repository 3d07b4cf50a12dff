"""Tokens minted for auth-method logins: the role's policies and lifetime, bound to the identity."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tessera.core.clock import FakeClock
from tessera.core.errors import Conflict, InvalidRequest
from tessera.inventory.models import CreateIdentityRequest
from tests.helpers import make_container, root_principal


def test_login_token_is_bound_capped_and_never_root(tmp_path: Path) -> None:
    clock = FakeClock()
    c, _shares, token = make_container(tmp_path, clock=clock)
    try:
        root = root_principal(c, token)
        c.inventory.create_identity(root, CreateIdentityRequest(name="ci-deployer", owner="team"))
        made = c.tokens.create_for_login(
            "approle", "ci-deployer", ["default"], timedelta(hours=1), timedelta(hours=2),
            {"role": "deploy"},
        )  # fmt: skip
        p = c.tokens.authenticate(made.token)
        assert p.identity_id is not None and p.policy_names == ("default",)
        assert made.info.meta["auth_method"] == "approle"
        assert p.expires_at == clock.now() + timedelta(hours=1)
        with pytest.raises(InvalidRequest):
            c.tokens.create_for_login("jwt", None, ["root"], timedelta(hours=1), timedelta(hours=1))
        with pytest.raises(InvalidRequest):
            c.tokens.create_for_login("jwt", None, ["nope"], timedelta(hours=1), timedelta(hours=1))
        c.inventory.decommission(root, "ci-deployer")
        with pytest.raises(Conflict):
            c.tokens.create_for_login(
                "approle", "ci-deployer", [], timedelta(hours=1), timedelta(hours=1)
            )
    finally:
        c.close()
