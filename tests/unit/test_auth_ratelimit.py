"""Login throttling: token buckets per source and per key, lockout on a canonicalised key,
all on the injected clock."""

from __future__ import annotations

import pytest

from tessera.auth.methods.ratelimit import LoginGuard, LoginLimits, canonical_key
from tessera.core.clock import FakeClock
from tessera.core.errors import InvalidRequest, RateLimited


def guard(**limits: float) -> tuple[LoginGuard, FakeClock]:
    clock = FakeClock()
    return LoginGuard(clock, LoginLimits(**limits)), clock  # type: ignore[arg-type]


def test_canonical_key_folds_case_width_and_whitespace() -> None:
    assert (
        canonical_key(" Role-A\t")
        == canonical_key("role-a")
        == canonical_key("\uff32\uff2f\uff2c\uff25-a")
    )
    assert canonical_key("ro le-a") == "role-a"
    assert canonical_key("role-b") != canonical_key("role-a")


def test_source_bucket_limits_and_refills() -> None:
    g, clock = guard(source_burst=3, source_rate=1.0)
    for i in range(3):
        g.admit("approle", "10.0.0.1", f"key-{i}")
    with pytest.raises(RateLimited) as exc:
        g.admit("approle", "10.0.0.1", "key-x")
    assert exc.value.extra["retry_after"] == 1
    g.admit("approle", "10.0.0.2", "key-y")  # another source has its own bucket
    clock.advance(1.0)
    g.admit("approle", "10.0.0.1", "key-z")


def test_key_bucket_is_shared_by_variants_of_the_key() -> None:
    g, _ = guard(key_burst=2, key_rate=0.5)
    g.admit("jwt", "10.0.0.1", "CI")
    g.admit("jwt", "10.0.0.1", " ci ")
    with pytest.raises(RateLimited) as exc:
        g.admit("jwt", "10.0.0.1", "Ci")
    assert exc.value.extra["retry_after"] == 2
    g.admit("jwt", "10.0.0.2", "ci")  # another caller of the same role is not starved
    g.admit("approle", "10.0.0.1", "ci")  # another method, another key


def test_role_wide_ceiling_caps_a_spread_out_attack() -> None:
    g, _ = guard(key_burst=1, key_rate=0.01)
    for i in range(10):  # ten times the per-source burst, from ten addresses
        g.admit("jwt", f"10.0.1.{i}", "deploy")
    with pytest.raises(RateLimited):
        g.admit("jwt", "10.0.1.99", "deploy")


def test_lockout_after_consecutive_failures_on_variants() -> None:
    g, clock = guard(max_failures=3, lockout=600)
    src = "10.9.9.9"
    assert [g.failed("approle", k, src) for k in ("Web", " web", "WEB\n")] == [False, False, True]
    g.admit("approle", "10.1.1.1", "web")  # failures from elsewhere do not lock real callers
    with pytest.raises(RateLimited, match="locked") as exc:
        g.admit("approle", "10.9.9.9", "web")
    assert exc.value.extra["retry_after"] == 600
    clock.advance(599)
    with pytest.raises(RateLimited):
        g.admit("approle", "10.9.9.9", "web")
    clock.advance(1)
    g.admit("approle", "10.9.9.9", "web")


def test_success_resets_and_old_failures_expire() -> None:
    g, clock = guard(max_failures=3, failure_window=60)
    g.failed("jwt", "ci")
    g.failed("jwt", "ci")
    g.succeeded("jwt", "CI")
    assert not g.failed("jwt", "ci")  # count restarted
    g.failed("jwt", "ci")
    clock.advance(61)
    assert not g.failed("jwt", "ci")  # the window passed: this is the first again
    g.admit("jwt", "10.0.0.1", "ci")


def test_memory_is_bounded() -> None:
    g, _ = guard(max_entries=10)
    for i in range(100):
        g.admit("approle", f"10.0.{i}.1", f"role-{i}")
        g.failed("approle", f"role-{i}")
    assert len(g._buckets) <= 10 and len(g._failures) <= 10


def test_limits_must_be_positive() -> None:
    with pytest.raises(InvalidRequest):
        LoginLimits(max_failures=0)
    with pytest.raises(InvalidRequest):
        LoginLimits(key_rate=0)
