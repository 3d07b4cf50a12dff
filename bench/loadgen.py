"""Python HTTP load generator (fallback when `wrk` is not installed), run as its own process.

    python bench/loadgen.py --addr http://127.0.0.1:PORT --token TOKEN --mode read \
        --requests 5000 --concurrency 16 --duration 30

`--mode read` sends `GET /v1/auth/token/lookup-self`; `--mode read-db` sends
`GET /v1/identities/bench-seed` (run.py creates it); `--mode write` sends
`POST /v1/identities` with a unique name per request. Exactly `--requests` requests are sent
by `--concurrency` asyncio workers over keep-alive connections (httpx), unless `--duration`
seconds pass first. Prints one JSON object on stdout: counts, wall time, every latency in
microseconds (the parent merges several processes and takes the percentiles) and a few sample
error descriptions. Non-2xx answers and transport failures are errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field

import httpx

READ_PATH = "/v1/auth/token/lookup-self"
WRITE_PATH = "/v1/identities"
READ_DB_PATH = "/v1/identities/bench-seed"


@dataclass
class Tally:
    latencies_us: list[int] = field(default_factory=list)
    errors: int = 0
    transport_errors: int = 0
    samples: list[str] = field(default_factory=list)
    next_index: int = 0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(what)


async def _worker(
    client: httpx.AsyncClient, args: argparse.Namespace, tally: Tally, deadline: float
) -> None:
    while time.monotonic() < deadline:
        index = tally.next_index
        if index >= args.requests:
            return
        tally.next_index = index + 1
        started = time.perf_counter_ns()
        try:
            if args.mode == "read":
                response = await client.get(READ_PATH)
            elif args.mode == "read-db":
                response = await client.get(READ_DB_PATH)
            else:
                name = f"bench-{args.tag}-{index}"
                response = await client.post(WRITE_PATH, json={"name": name, "owner": "bench"})
        except httpx.HTTPError as exc:
            tally.transport_errors += 1
            tally.error(f"{type(exc).__name__}: {exc}")
            continue
        tally.latencies_us.append((time.perf_counter_ns() - started) // 1000)
        if not 200 <= response.status_code < 300:
            tally.error(f"HTTP {response.status_code}: {response.text[:200]}")


async def _run(args: argparse.Namespace) -> dict[str, object]:
    tally = Tally()
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    headers = {"X-Tessera-Token": args.token}
    async with httpx.AsyncClient(
        base_url=args.addr, headers=headers, limits=limits, timeout=30
    ) as client:
        started = time.perf_counter()
        deadline = time.monotonic() + args.duration
        await asyncio.gather(
            *(_worker(client, args, tally, deadline) for _ in range(args.concurrency))
        )
        elapsed = time.perf_counter() - started
    return {
        "requests": len(tally.latencies_us) + tally.transport_errors,
        "completed": len(tally.latencies_us),
        "errors": tally.errors,
        "error_samples": tally.samples,
        "duration_s": elapsed,
        "latencies_us": tally.latencies_us,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addr", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--mode", choices=("read", "read-db", "write"), default="read")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="time cap in seconds")
    parser.add_argument("--tag", default="0", help="makes write-mode names unique per process")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # plain asyncio is fine, just a little slower
        pass
    result = asyncio.run(_run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
