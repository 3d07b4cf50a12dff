"""In-process token checks and the revocation check, without HTTP.

Contract: `token_checks(workdir, iterations, uncached_iterations, rounds)` builds a container
like the server's (`tessera.app.build`, SQLite under `workdir/inproc`, real clock, 1 s token
cache), initialises it, writes the bench policy and creates a token holding it. It times
`TokenService.authenticate` on the cached path and on the uncached path (`clear_cache()`
before each call), median of `rounds`. Then it revokes the token and checks that the same
node refuses it at once and that a second container on the same database refuses it within
the cache TTL (polled every 50 ms). Returns the two `TokenCheckResult`s and a
`RevocationResult`; both containers are closed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tessera.app import Container, build
from tessera.auth.models import CreateTokenRequest, Principal
from tessera.config import Settings
from tessera.core.errors import Unauthenticated
from workload import POLICY, POLICY_NAME


@dataclass
class TokenCheckResult:
    path: str
    iterations: int
    ops_per_s: float
    us_per_op: float
    rounds_ops_per_s: list[float]


@dataclass
class RevocationResult:
    same_node_refused_at_once: bool
    other_node_cache_ttl_s: float
    other_node_refused_after_s: float | None
    other_node_accepted_after_revoke: int
    poll_interval_s: float
    within_bound: bool


def _build_node(data_dir: Path, cache_ttl: float) -> Container:
    # same wiring as the server (real clock, SQLite in data_dir, file audit sink)
    return build(Settings(data_dir=data_dir, token_cache_ttl=cache_ttl))


def _rate(fn: Callable[[], object], iterations: int, rounds: int) -> TokenCheckResult:
    rates: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(iterations):
            fn()
        rates.append(iterations / (time.perf_counter() - started))
    median = statistics.median(rates)
    return TokenCheckResult(
        path="",
        iterations=iterations,
        ops_per_s=round(median, 0),
        us_per_op=round(1e6 / median, 2),
        rounds_ops_per_s=[round(r, 0) for r in rates],
    )


def token_checks(
    workdir: Path, iterations: int, uncached_iterations: int, rounds: int
) -> tuple[list[TokenCheckResult], RevocationResult]:
    data_dir = workdir / "inproc"
    cache_ttl = 1.0
    node_a = _build_node(data_dir, cache_ttl)
    node_b: Container | None = None
    try:
        init = node_a.operator.initialize(1, 1)
        root: Principal = node_a.tokens.authenticate(init.root_token)
        node_a.policies.write(root, POLICY_NAME, POLICY)
        created = node_a.tokens.create(
            root, CreateTokenRequest(policies=(POLICY_NAME,), display_name="bench")
        )
        token = created.token
        auth = node_a.tokens.authenticate
        principal = auth(token)
        assert not principal.is_root and POLICY_NAME in principal.policy_names

        cached = _rate(lambda: auth(token), iterations, rounds)
        cached.path = "cached (TokenService.authenticate, warm cache)"

        def uncached_once() -> None:
            node_a.tokens.clear_cache()
            auth(token)

        uncached = _rate(uncached_once, uncached_iterations, rounds)
        uncached.path = "uncached (clear_cache() + authenticate: SQLite read)"

        # another node on the same database
        node_b = _build_node(data_dir, cache_ttl)
        node_b.barrier.submit_share(init.shares[0])
        revocation = _revocation(node_a, node_b, root, token, cache_ttl)
        return [cached, uncached], revocation
    finally:
        node_a.close()
        if node_b is not None:
            node_b.close()


def _revocation(
    node_a: Container, node_b: Container, root: Principal, token: str, cache_ttl: float
) -> RevocationResult:
    poll = 0.05
    node_a.tokens.authenticate(token)  # both nodes hold the token in their caches
    node_b.tokens.authenticate(token)
    node_a.tokens.revoke(root, token)
    revoked_at = time.monotonic()
    try:
        node_a.tokens.authenticate(token)
        at_once = False
    except Unauthenticated:
        at_once = True
    accepted, refused_after = 0, None
    while time.monotonic() - revoked_at < cache_ttl + 5:
        try:
            node_b.tokens.authenticate(token)
            accepted += 1
        except Unauthenticated:
            refused_after = time.monotonic() - revoked_at
            break
        time.sleep(poll)
    within = refused_after is not None and refused_after <= cache_ttl + poll
    return RevocationResult(
        same_node_refused_at_once=at_once,
        other_node_cache_ttl_s=cache_ttl,
        other_node_refused_after_s=round(refused_after, 3) if refused_after is not None else None,
        other_node_accepted_after_revoke=accepted,
        poll_interval_s=poll,
        within_bound=within,
    )
