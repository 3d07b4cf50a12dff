"""AppRole through the service (no HTTP): roles, secret ids (TTL, uses, CIDR, accessors),
login, refusal of another role's secret id, and the constant-time login path."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tessera.app import Container
from tessera.auth.methods import AuthMethods, build_auth_methods
from tessera.auth.methods import approle as approle_module
from tessera.auth.methods.errors import LoginRefused
from tessera.auth.methods.models import AppRoleLogin, AppRoleSpec, SecretIdRequest
from tessera.auth.models import Principal
from tessera.core.clock import FakeClock
from tessera.core.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, RateLimited
from tessera.inventory.models import CreateIdentityRequest, CredentialKind, CredentialQuery
from tessera.policy.models import Capability
from tests.helpers import make_container, root_principal

SRC = "10.1.2.3"


class Env:
    def __init__(self, c: Container, root: Principal, clock: FakeClock) -> None:
        self.c, self.root, self.clock = c, root, clock
        self.m: AuthMethods = build_auth_methods(
            c.db, c.clock, c.rng, c.barrier, c.policies, c.inventory, c.tokens
        )

    def role(self, name: str = "web", **spec: Any) -> tuple[str, str]:
        """(role_id, secret_id) of a new role."""
        spec.setdefault("identity", "web-svc")
        spec.setdefault("policies", ("web-read",))
        self.m.approle.write_role(self.root, name, AppRoleSpec(**spec))
        role_id = self.m.approle.role_id(self.root, name)
        secret = self.m.approle.create_secret_id(self.root, name, SecretIdRequest()).secret_id
        return role_id, secret

    def login(self, role_id: str, secret_id: str | None, source: str = SRC) -> Any:
        return self.m.approle.login(AppRoleLogin(role_id, secret_id, source))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, Principal]]:
    clock = FakeClock()
    c, _, root_token = make_container(tmp_path_factory.mktemp("approle"), clock=clock)
    root = root_principal(c, root_token)
    c.policies.write(
        root, "web-read", {"rules": [{"path": "kv/data/web/*", "capabilities": ["read"]}]}
    )
    c.inventory.create_identity(root, CreateIdentityRequest(name="web-svc", owner="team-web"))
    yield c, root
    c.close()


@pytest.fixture
def env(shared: tuple[Container, Principal]) -> Env:
    c, root = shared
    assert isinstance(c.clock, FakeClock)
    e = Env(c, root, c.clock)
    for name in e.m.approle.list_roles(root):
        e.m.approle.delete_role(root, name)
    return e


def test_login_returns_token_bound_to_identity_and_policies(env: Env) -> None:
    role_id, secret = env.role()
    created = env.login(role_id, secret)
    principal = env.c.tokens.authenticate(created.token)
    assert set(principal.policy_names) == {"web-read", "default"}
    assert principal.identity_id is not None
    assert created.info.meta["auth_method"] == "approle"
    assert created.info.meta["role"] == "web"
    assert env.c.policies.permits(principal, "kv/data/web/x", Capability.READ)


def test_role_id_is_random_and_case_insensitive(env: Env) -> None:
    role_id, secret = env.role()
    other, _ = env.role("api")
    assert role_id != other and len(role_id) == 36
    # an uppercase and padded form of the role id is the same role id
    assert env.login(f"  {role_id.upper()} ", secret).token


def test_wrong_secret_and_unknown_role_refused_alike(env: Env) -> None:
    role_id, secret = env.role()
    with pytest.raises(LoginRefused) as wrong:
        env.login(role_id, secret[:-2] + "xx")
    with pytest.raises(LoginRefused) as unknown:
        env.login("00000000-0000-4000-8000-000000000000", secret)
    assert wrong.value.detail == unknown.value.detail
    assert (wrong.value.reason, unknown.value.reason) == ("invalid secret_id", "unknown role_id")


def test_secret_id_of_another_role_is_refused(env: Env) -> None:
    role_a, _secret_a = env.role("role-a")
    _role_b, secret_b = env.role("role-b")
    with pytest.raises(LoginRefused) as exc:
        env.login(role_a, secret_b)
    assert exc.value.reason == "secret_id belongs to another role"


def test_constant_time_path_for_unknown_role_id(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    role_id, secret = env.role()
    calls = {"hash": 0, "compare": 0}
    real_hash, real_compare = approle_module.keyed_hash, approle_module.hmac.compare_digest

    def counting_hash(key: bytes, value: str) -> bytes:
        calls["hash"] += 1
        return real_hash(key, value)

    def counting_compare(a: bytes, b: bytes) -> bool:
        calls["compare"] += 1
        return real_compare(a, b)

    monkeypatch.setattr(approle_module, "keyed_hash", counting_hash)
    monkeypatch.setattr(approle_module.hmac, "compare_digest", counting_compare)
    seen = []
    for rid, sid in [
        ("11111111-1111-4111-8111-111111111111", secret),  # unknown role id
        ("11111111-1111-4111-8111-111111111111", "tsid_nothing"),  # unknown both
        (role_id, "tsid_wrong"),  # known role, wrong secret
    ]:
        calls.update(hash=0, compare=0)
        with pytest.raises(LoginRefused):
            env.login(rid, sid)
        seen.append(dict(calls))
    assert seen == [{"hash": 1, "compare": 1}] * 3


def test_secret_id_ttl_uses_the_injected_clock(env: Env) -> None:
    role_id, secret = env.role(secret_id_ttl=timedelta(minutes=10))
    env.clock.advance(timedelta(minutes=9))
    assert env.login(role_id, secret).token
    env.clock.advance(timedelta(minutes=1))
    with pytest.raises(LoginRefused) as exc:
        env.login(role_id, secret)
    assert exc.value.reason == "secret_id expired"
    with pytest.raises(LoginRefused) as again:  # and it is gone, not merely refused
        env.login(role_id, secret)
    assert again.value.reason == "invalid secret_id"


def test_use_count_is_spent_and_then_gone(env: Env) -> None:
    role_id, secret = env.role(secret_id_num_uses=2)
    acc = env.m.approle.list_secret_ids(env.root, "web")[0].accessor
    env.login(role_id, secret)
    assert env.m.approle.lookup_secret_id(env.root, "web", acc).uses_left == 1
    env.login(role_id, secret)
    with pytest.raises(NotFound):
        env.m.approle.lookup_secret_id(env.root, "web", acc)
    with pytest.raises(LoginRefused):
        env.login(role_id, secret)


def test_cidr_binding_of_secret_id(env: Env) -> None:
    role_id, _ = env.role(secret_id_bound_cidrs=("10.0.0.0/8",))
    narrow = env.m.approle.create_secret_id(
        env.root, "web", SecretIdRequest(cidrs=("10.1.0.0/16",))
    )
    assert narrow.info.cidrs == ("10.1.0.0/16",)
    with pytest.raises(LoginRefused) as exc:
        env.login(role_id, narrow.secret_id, source="10.2.0.1")
    assert exc.value.reason == "source address outside the secret_id's cidrs"
    assert env.login(role_id, narrow.secret_id, source="10.1.200.7").token
    with pytest.raises(InvalidRequest):  # wider than the role allows
        env.m.approle.create_secret_id(env.root, "web", SecretIdRequest(cidrs=("0.0.0.0/0",)))


def test_token_bound_cidrs_and_role_without_secret_id(env: Env) -> None:
    with pytest.raises(InvalidRequest):
        AppRoleSpec(bind_secret_id=False)
    env.m.approle.write_role(
        env.root,
        "host",
        AppRoleSpec(policies=("web-read",), bind_secret_id=False, token_bound_cidrs=("::1/128",)),
    )
    role_id = env.m.approle.role_id(env.root, "host")
    created = env.login(role_id, None, source="::1")
    assert created.info.meta["bound_cidrs"] == "::1/128"
    with pytest.raises(LoginRefused):
        env.login(role_id, None, source="10.0.0.1")
    with pytest.raises(Conflict):
        env.m.approle.create_secret_id(env.root, "host", SecretIdRequest())


def test_accessor_only_under_its_own_role(env: Env) -> None:
    env.role("role-a")
    env.role("role-b")
    acc_a = env.m.approle.list_secret_ids(env.root, "role-a")[0].accessor
    with pytest.raises(NotFound):
        env.m.approle.lookup_secret_id(env.root, "role-b", acc_a)
    with pytest.raises(NotFound):
        env.m.approle.destroy_secret_id(env.root, "role-b", acc_a)
    assert env.m.approle.lookup_secret_id(env.root, "role-a", acc_a).role == "role-a"
    env.m.approle.destroy_secret_id(env.root, "role-a", acc_a)
    with pytest.raises(NotFound):
        env.m.approle.lookup_secret_id(env.root, "role-a", acc_a)


def test_secret_id_is_an_inventory_credential_without_the_secret(env: Env) -> None:
    role_id, secret = env.role()
    acc = env.m.approle.list_secret_ids(env.root, "web")[0].accessor
    page = env.c.inventory.list_credentials(
        env.root, CredentialQuery(kind=CredentialKind.OAUTH_CLIENT)
    )
    mine = [cr for cr in page.items if cr.attributes.get("accessor") == acc]
    assert len(mine) == 1
    assert mine[0].fingerprint.startswith("hmac-sha256:") and secret not in repr(mine[0])
    assert mine[0].identity_id is not None and mine[0].owner == "team-web"
    env.m.approle.destroy_secret_id(env.root, "web", acc)
    again = env.c.inventory.get_credential(env.root, mine[0].id)
    assert again.status.value == "revoked"
    with pytest.raises(LoginRefused):
        env.login(role_id, secret)


def test_lockout_after_failures_counts_case_and_space_variants(env: Env) -> None:
    role_id, secret = env.role()
    variants = [role_id, role_id.upper(), f" {role_id}", f"{role_id}\t", role_id.title()]
    for variant in variants:
        with pytest.raises(LoginRefused):
            env.login(variant, "tsid_wrong")
    with pytest.raises(RateLimited) as exc:  # locked: even the right secret is refused
        env.login(role_id, secret)
    assert exc.value.extra["retry_after"] > 0
    env.clock.advance(timedelta(minutes=15))
    assert env.login(role_id, secret).token


def test_role_policy_checks(env: Env) -> None:
    weak = env.c.tokens.authenticate(
        env.c.tokens.create_for_login("test", None, ("web-read",), timedelta(hours=1),
                                      timedelta(hours=1)).token
    )  # fmt: skip
    with pytest.raises(PermissionDenied):
        env.m.approle.write_role(weak, "x", AppRoleSpec(policies=("web-read",)))
    with pytest.raises(InvalidRequest):
        env.m.approle.write_role(env.root, "x", AppRoleSpec(policies=("no-such-policy",)))
    with pytest.raises(InvalidRequest):
        env.m.approle.write_role(env.root, "x", AppRoleSpec(policies=("root",)))
    with pytest.raises(NotFound):
        env.m.approle.write_role(env.root, "x", AppRoleSpec(identity="nobody"))
    with pytest.raises(InvalidRequest):
        env.m.approle.write_role(env.root, "Bad Name", AppRoleSpec())


def test_rewrite_keeps_role_id_and_delete_removes_secret_ids(env: Env) -> None:
    role_id, secret = env.role()
    env.m.approle.write_role(env.root, "web", AppRoleSpec(policies=("web-read",)))
    assert env.m.approle.role_id(env.root, "web") == role_id
    env.m.approle.delete_role(env.root, "web")
    with pytest.raises(NotFound):
        env.m.approle.read_role(env.root, "web")
    with pytest.raises(LoginRefused):
        env.login(role_id, secret)


def test_concurrent_logins_cannot_overspend_uses(env: Env) -> None:
    role_id, secret = env.role(secret_id_num_uses=3)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            env.login(role_id, secret)
            result = "ok"
        except LoginRefused as exc:
            result = exc.reason
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(outcomes) == 8 and outcomes.count("ok") == 3
