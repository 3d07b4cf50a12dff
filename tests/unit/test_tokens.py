"""Token service semantics with a fake clock: caching, revocation reach, TTL constraints."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tessera.app import build
from tessera.auth.models import CreateTokenRequest
from tessera.config import Settings
from tessera.core.clock import FakeClock
from tessera.core.errors import InvalidRequest, PermissionDenied, Unauthenticated
from tessera.inventory.models import CreateIdentityRequest, CredentialQuery
from tests.helpers import make_container, root_principal


def test_revocation_is_immediate_on_this_node_and_within_cache_ttl_on_another(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    node_a, shares, root_token = make_container(tmp_path, clock=clock)
    node_b = build(Settings(data_dir=tmp_path), clock=clock)
    node_b.barrier.submit_share(shares[0])
    root = root_principal(node_a, root_token)
    tok = node_a.tokens.create(root, CreateTokenRequest(ttl=timedelta(hours=1))).token
    assert node_a.tokens.authenticate(tok).accessor == node_b.tokens.authenticate(tok).accessor

    node_a.tokens.revoke(root, tok)
    with pytest.raises(Unauthenticated):
        node_a.tokens.authenticate(tok)  # at once on the node that revoked
    node_b.tokens.authenticate(tok)  # still cached on the other node for < cache_ttl
    clock.advance(1.0)
    with pytest.raises(Unauthenticated):
        node_b.tokens.authenticate(tok)  # gone within the cache TTL


def test_expiry_and_renew_bounded_by_max_ttl(tmp_path: Path) -> None:
    clock = FakeClock()
    c, _, root_token = make_container(tmp_path, clock=clock)
    root = root_principal(c, root_token)
    created = c.tokens.create(
        root, CreateTokenRequest(ttl=timedelta(minutes=10), explicit_max_ttl=timedelta(minutes=15))
    )
    p = c.tokens.authenticate(created.token)
    clock.advance(9 * 60)
    info = c.tokens.renew_self(p, timedelta(hours=1))
    assert info.expires_at == created.info.max_expires_at  # capped at max TTL
    clock.advance(6 * 60 + 1)
    with pytest.raises(Unauthenticated):
        c.tokens.authenticate(created.token)


def test_policy_constraint_caps_ttl_and_child_never_outlives_parent(tmp_path: Path) -> None:
    clock = FakeClock()
    c, _, root_token = make_container(tmp_path, clock=clock)
    root = root_principal(c, root_token)
    c.policies.write(
        root,
        "minter",
        {
            "rules": [
                {
                    "path": "auth/token/create",
                    "capabilities": ["create"],
                    "constraints": {"max_ttl": 600},
                }
            ]
        },
    )
    parent = c.tokens.create(root, CreateTokenRequest(policies=("minter",), ttl=timedelta(hours=2)))
    minter = c.tokens.authenticate(parent.token)
    child = c.tokens.create(minter, CreateTokenRequest(ttl=timedelta(hours=5)))
    assert child.info.ttl_seconds == 600  # the decision's constraint was applied
    assert child.info.expires_at == clock.now() + timedelta(seconds=600)
    with pytest.raises(PermissionDenied):
        c.tokens.create(minter, CreateTokenRequest(policies=("root",)))
    with pytest.raises(InvalidRequest):
        c.tokens.create(root, CreateTokenRequest(policies=("no-such-policy",)))
    c.tokens.revoke(root, parent.token)
    with pytest.raises(Unauthenticated):
        c.tokens.authenticate(child.token)


def test_root_children_without_ttl_do_not_expire_and_defaults_apply(tmp_path: Path) -> None:
    c, _, root_token = make_container(tmp_path)
    root = root_principal(c, root_token)
    admin = c.tokens.create(root, CreateTokenRequest(policies=("root",)))
    assert admin.info.expires_at is None
    inherited = c.tokens.create(root, CreateTokenRequest())  # no policies: the caller's
    assert inherited.info.policies == ("root",)
    c.policies.write(root, "web", {"rules": [{"path": "identities/*", "capabilities": ["read"]}]})
    plain = c.tokens.create(root, CreateTokenRequest(policies=("web",)))
    assert plain.info.expires_at == c.clock.now() + timedelta(hours=24)
    assert set(plain.info.policies) == {"web", "default"}


def test_decommission_revokes_bound_tokens_and_inventory_follows(tmp_path: Path) -> None:
    c, _, root_token = make_container(tmp_path)
    root = root_principal(c, root_token)
    c.inventory.create_identity(root, CreateIdentityRequest(name="ci-bot", owner="platform"))
    bound = c.tokens.create(root, CreateTokenRequest(identity="ci-bot", ttl=timedelta(hours=1)))
    grandchild_parent = c.tokens.authenticate(bound.token)
    grandchild = c.tokens.create(grandchild_parent, CreateTokenRequest())
    identity, revoked = c.inventory.decommission(root, "ci-bot")
    assert identity.status.value == "decommissioned"
    assert revoked == 2
    for tok in (bound.token, grandchild.token):
        with pytest.raises(Unauthenticated):
            c.tokens.authenticate(tok)
    creds = c.inventory.list_credentials(root, CredentialQuery(identity="ci-bot")).items
    assert [(x.owner, x.status.value) for x in creds] == [("platform", "revoked")]
    assert c.inventory.decommission(root, "ci-bot")[1] == 0  # idempotent


def test_a_revoke_that_races_a_cache_fill_is_not_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c, _, root_token = make_container(tmp_path)
    root = root_principal(c, root_token)
    tok = c.tokens.create(root, CreateTokenRequest(ttl=timedelta(hours=1))).token
    original = c.policies.resolve
    fired: list[bool] = []

    def revoke_midway(names: tuple[str, ...]):  # type: ignore[no-untyped-def]
        if not fired:  # between the token read and the cache insert, another thread revokes
            fired.append(True)
            c.tokens.revoke(root, tok)
        return original(names)

    monkeypatch.setattr(c.policies, "resolve", revoke_midway)
    c.tokens.clear_cache()
    c.tokens.authenticate(tok)  # read before the revoke: this one call may still pass
    assert fired
    with pytest.raises(Unauthenticated):
        c.tokens.authenticate(tok)  # but nothing stale was cached
