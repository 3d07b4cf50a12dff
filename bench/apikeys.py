"""API key verifications per second, in-process and over loopback HTTP.

    .venv/bin/python bench/apikeys.py                      # ~1 minute
    .venv/bin/python bench/apikeys.py --duration 5 --json apikeys.json

1. In-process (`tessera.app.build`, SQLite, real clock, 1 s verified-key cache): a non-root
   principal holding only `apikeys/verify` calls `ApiKeyService.verify` on one thread:
   `cached` (one hot key), `cached-spread` (`--keys` keys in a cycle, all cached) and
   `uncached` (`clear_cache()` before each call: HMAC + one indexed read). Median of
   `--rounds`. The flushes of last use stay off the timed path (background thread, 5 s).
2. HTTP: `python -m tessera server --dev` (bench/server.py); `POST /v1/apikeys/verify` from
   `--procs` processes of asyncio workers, `--concurrency` connections in all (keep-alive
   httpx). `hot`: one key (the cache answers on the event loop); `spread`: `--keys` keys in a
   cycle (a key comes back about every keys/rate seconds: mostly cache misses at these
   rates). Every request is audited by the server as in production. A non-200 is an error.

Prints one table (ops/s, p50/p99 latency, server CPU ms per verification for HTTP) and the CPU
calibration of bench/report.py; `--json` writes the figures. Exit status 0 when nothing failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent))  # bench/: the shared harness

import httpx

from report import calibrate, machine_info, revision
from server import DevServer
from tessera.apikeys import CreateApiKeyRequest
from tessera.apikeys.service import ApiKeyService
from tessera.app import build
from tessera.auth.models import CreateTokenRequest
from tessera.config import Settings
from tessera.inventory.models import CreateIdentityRequest

VERIFY_POLICY = {"rules": [{"path": "apikeys/verify", "capabilities": ["update"]}]}


@dataclass
class Figure:
    door: str  # in-process | http
    case: str
    concurrency: int
    verifications: int
    errors: int
    per_s: float
    p50_us: float
    p99_us: float
    server_cpu_us_per_op: float | None = None


# -- in-process ------------------------------------------------------------------------------
def _timed(case: str, fn: Callable[[int], object], iterations: int, rounds: int) -> Figure:
    rates: list[float] = []
    samples: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(iterations):
            if i % 97 == 0:  # sample latencies without timing every call
                t0 = time.perf_counter()
                fn(i)
                samples.append((time.perf_counter() - t0) * 1e6)
            else:
                fn(i)
        rates.append(iterations / (time.perf_counter() - started))
    samples.sort()
    return Figure("in-process", case, 1, iterations * rounds, 0,
                  round(statistics.median(rates)), round(samples[len(samples) // 2], 1),
                  round(samples[int(len(samples) * 0.99)], 1))  # fmt: skip


def inproc(workdir: Path, args: argparse.Namespace) -> list[Figure]:
    c = build(Settings(data_dir=workdir / "inproc"))
    svc = getattr(c, "apikeys", None)
    if svc is None:  # before the service is wired into the container
        svc = ApiKeyService(c.db, c.clock, c.rng, c.barrier, c.policies, c.inventory)
        c.barrier.add_listener(svc.on_unseal, svc.on_seal)
    try:
        root = c.tokens.authenticate(c.operator.initialize(1, 1).root_token)
        c.policies.write(root, "bench-verify", VERIFY_POLICY)
        verifier = c.tokens.authenticate(
            c.tokens.create(root, CreateTokenRequest(policies=("bench-verify",))).token
        )
        c.inventory.create_identity(root, CreateIdentityRequest(name="bench", owner="bench"))
        keys = [
            svc.create(root, CreateApiKeyRequest("bench", ("orders:read",))).key
            for _ in range(args.keys)
        ]
        hot = keys[0]

        def cached(_: int) -> object:
            return svc.verify(verifier, hot)

        def spread(i: int) -> object:
            return svc.verify(verifier, keys[i % len(keys)])

        def uncached(_: int) -> object:
            svc.clear_cache()
            return svc.verify(verifier, hot)

        for k in keys:  # warm: every key verified once, so cached-spread hits
            svc.verify(verifier, k)
        return [
            _timed("cached", cached, args.iterations, args.rounds),
            _timed("cached-spread", spread, args.iterations, args.rounds),
            _timed("uncached", uncached, args.iterations // 10, args.rounds),
        ]
    finally:
        c.close()


# -- HTTP ------------------------------------------------------------------------------------
def _load_worker(addr: str, token: str, keys: list[str], conns: int, offset: int,
                 duration: float) -> dict[str, Any]:  # fmt: skip
    """One load process: `conns` keep-alive connections verifying keys in a cycle."""
    latencies: list[int] = []
    state = {"ok": 0, "errors": 0, "i": offset}
    samples: list[str] = []

    async def worker(client: httpx.AsyncClient, deadline: float) -> None:
        while time.monotonic() < deadline:
            state["i"] += 1
            key = keys[state["i"] % len(keys)]
            t0 = time.perf_counter_ns()
            try:
                resp = await client.post("/v1/apikeys/verify", json={"key": key})
                good = resp.status_code == 200
                if not good and len(samples) < 3:
                    samples.append(f"{resp.status_code}: {resp.text[:120]}")
            except httpx.HTTPError as exc:
                good = False
                if len(samples) < 3:
                    samples.append(type(exc).__name__)
            latencies.append((time.perf_counter_ns() - t0) // 1000)
            state["ok" if good else "errors"] += 1

    async def main() -> None:
        limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
        headers = {"X-Tessera-Token": token}
        async with httpx.AsyncClient(base_url=addr, headers=headers, limits=limits,
                                     timeout=30) as client:  # fmt: skip
            await client.post("/v1/apikeys/verify", json={"key": keys[0]})  # connect
            deadline = time.monotonic() + duration
            await asyncio.gather(*(worker(client, deadline) for _ in range(conns)))

    asyncio.run(main())
    return {"ok": state["ok"], "errors": state["errors"], "latencies": latencies,
            "samples": samples}  # fmt: skip


def http(workdir: Path, args: argparse.Namespace) -> list[Figure]:
    srv = DevServer(workdir / "http")
    srv.start()
    try:
        with httpx.Client(base_url=srv.addr, timeout=30,
                          headers={"X-Tessera-Token": srv.root_token()}) as rc:  # fmt: skip
            if rc.get("/v1/apikeys").status_code == 404:
                raise SystemExit("the server has no /v1/apikeys: wire the router first")
            rc.put("/v1/sys/policies/bench-verify", json=VERIFY_POLICY).raise_for_status()
            token = rc.post(
                "/v1/auth/token/create", json={"policies": ["bench-verify"], "ttl": "24h"}
            ).json()["token"]
            rc.post("/v1/identities", json={"name": "bench", "owner": "bench"}).raise_for_status()
            keys = []
            for _ in range(args.keys):
                made = rc.post("/v1/apikeys", json={"identity": "bench", "scopes": ["a:read"]})
                made.raise_for_status()
                keys.append(made.json()["key"])
        figures = []
        for case, pool in (("hot", keys[:1]), ("spread", keys)):
            per_proc = max(1, args.concurrency // args.procs)
            cpu0 = srv.cpu_seconds()
            with ProcessPoolExecutor(args.procs) as ex:
                parts = list(ex.map(_load_worker, [srv.addr] * args.procs, [token] * args.procs,
                                    [pool] * args.procs, [per_proc] * args.procs,
                                    [p * 7919 for p in range(args.procs)],
                                    [args.duration] * args.procs))  # fmt: skip
            cpu = srv.cpu_seconds() - cpu0
            lat = sorted(x for p in parts for x in p["latencies"])
            ok, errors = sum(p["ok"] for p in parts), sum(p["errors"] for p in parts)
            for p in parts:
                for sample in p["samples"]:
                    print(f"error sample ({case}): {sample}", file=sys.stderr)
            figures.append(Figure("http", case, per_proc * args.procs, ok, errors,
                                  round(ok / args.duration), float(lat[len(lat) // 2]),
                                  float(lat[int(len(lat) * 0.99)]),
                                  round(cpu * 1e6 / max(ok, 1), 1)))  # fmt: skip
        return figures
    finally:
        srv.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--iterations", type=int, default=50_000, help="in-process calls per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=200, help="keys in the spread cases")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per HTTP case")
    ap.add_argument("--concurrency", type=int, default=16, help="HTTP connections in all")
    ap.add_argument("--procs", type=int, default=2, help="HTTP load processes")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    before = calibrate()
    with tempfile.TemporaryDirectory(prefix="tessera-apikeys-bench-") as tmp:
        figures = inproc(Path(tmp), args)
        if not args.skip_http:
            figures += http(Path(tmp), args)
    after = calibrate()
    print(f"revision {revision()}; calibration {before} ms before, {after} ms after")
    print(f"{'door':<11} {'case':<14} {'conc':>4} {'ok':>9} {'err':>4} {'per s':>9} "
          f"{'p50 us':>9} {'p99 us':>9} {'srv cpu us/op':>13}")  # fmt: skip
    for f in figures:
        cpu = "-" if f.server_cpu_us_per_op is None else f"{f.server_cpu_us_per_op:.1f}"
        print(
            f"{f.door:<11} {f.case:<14} {f.concurrency:>4} {f.verifications:>9} "
            f"{f.errors:>4} {f.per_s:>9.0f} {f.p50_us:>9.1f} {f.p99_us:>9.1f} {cpu:>13}"
        )
    if args.json:
        doc = {
            "revision": revision(),
            "machine": asdict(machine_info()),
            "calibration_ms": [before, after],
            "figures": [asdict(f) for f in figures],
        }
        args.json.write_text(json.dumps(doc, indent=2))
    return 1 if any(f.errors for f in figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
