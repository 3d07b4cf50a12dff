"""Tessera benchmark: authenticated HTTP requests/s and in-process token checks/s.

    .venv/bin/python bench/run.py                 # what `make bench` runs
    .venv/bin/python bench/run.py --json out.json --requests 50000
    .venv/bin/python bench/run.py --generator python --py-spy profile.txt

1. HTTP (loopback): starts `python -m tessera server --dev` on SQLite in a temporary data
   directory and a free port, writes a policy, creates a non-root token holding it, then sends
   `GET /v1/auth/token/lookup-self` with that token at `--concurrency` (16) and, for reference,
   at lower counts, `GET /v1/identities/bench-seed` (a sync endpoint doing one database read)
   and `POST /v1/identities` (unique names, one SQLite write transaction each).
   The load generator is `wrk` when it is on PATH (a generated Lua script sets the token header,
   counts non-2xx answers and stops each thread after its share of requests), otherwise
   `bench/loadgen.py` (asyncio + httpx) in separate processes. Every run is bounded by a request
   count and by `--duration` seconds. Reports requests/s, p50/p99 latency, errors (non-2xx and
   transport failures: must be 0) and the server's CPU time per request.
2. In-process: a container built like the server's (`tessera.app.build`, SQLite, real clock)
   times `TokenService.authenticate` on the cached path and on the uncached path
   (`clear_cache()` before each call; the policy cache stays warm).
3. Revocation: on the same container a revoked token is refused by the very next
   `authenticate`; a second container on the same SQLite file (another node, which cached the
   token just before) refuses it within `cache_ttl`; the delay is measured by polling every
   50 ms.

Exit status: 0 when every request succeeded and revocation behaved; 1 otherwise.

Modules (all in bench/, imported as siblings since this file runs as a script):
`run.py` options and orchestration; `server.py` the dev server and the bench token;
`http_load.py` one load run and the Python generator (`loadgen.py`); `wrk.py` the wrk
generator; `workload.py` endpoints, policy and shared records; `inproc.py` in-process token
and revocation checks; `server_profile.py` optional py-spy profiling; `report.py` machine
info, calibration, the printed tables and the JSON report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from http_load import run_load
from inproc import token_checks
from report import Report, calibrate, machine_info, print_summary, revision
from server import DevServer, make_bench_token
from server_profile import py_spy, summarise_profile
from workload import MODES, READ_DB_PATH, LoadSpec


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Tessera benchmark: HTTP req/s and in-process token checks/s."
    )
    p.add_argument("--requests", type=int, default=20_000, help="read requests (default 20000)")
    p.add_argument(
        "--db-requests",
        type=int,
        default=5_000,
        help=f"GET {READ_DB_PATH} count (a sync endpoint with a database read)",
    )
    p.add_argument("--write-requests", type=int, default=2_000, help="POST /v1/identities count")
    p.add_argument("--warmup", type=int, default=1_000, help="read requests before measuring")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration", type=float, default=60.0, help="time cap per load run (s)")
    p.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="auto: wrk when on PATH, else the Python load generator",
    )
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument(
        "--loadgen-procs", type=int, default=2, help="Python generator processes (default 2)"
    )
    p.add_argument("--token-iterations", type=int, default=200_000, help="cached checks/round")
    p.add_argument("--uncached-iterations", type=int, default=5_000, help="uncached checks/round")
    p.add_argument("--rounds", type=int, default=3, help="rounds of token checks (median)")
    p.add_argument("--skip-http", action="store_true")
    p.add_argument("--skip-inproc", action="store_true")
    p.add_argument(
        "--py-spy",
        type=Path,
        metavar="RAW",
        help="after measuring, profile the server under one more read run with py-spy "
        "(collapsed stacks to RAW; summary printed)",
    )
    p.add_argument("--py-spy-rate", type=int, default=200, help="samples/s")
    p.add_argument(
        "--py-spy-mode", choices=sorted(MODES), default="read", help="the run to profile"
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = p.parse_args(argv)
    if args.generator == "auto":
        args.generator = "wrk" if shutil.which("wrk") else "python"
    elif args.generator == "wrk" and not shutil.which("wrk"):
        p.error("wrk is not on PATH (Debian: apt-get install wrk)")
    return args


def http_bench(args: argparse.Namespace, workdir: Path, report: Report) -> None:
    server = DevServer(workdir / "server")
    try:
        print(f"starting dev server on {server.addr} ...", flush=True)
        server.start()
        token = make_bench_token(server.addr, server.root_token())
        tag = f"{os.getpid()}-{int(time.time())}"
        specs = [
            LoadSpec("warmup", "read", args.warmup, args.concurrency, args.duration, tag),
            LoadSpec("read", "read", args.requests, args.concurrency, args.duration, tag),
            LoadSpec("read-db", "read-db", args.db_requests, args.concurrency, args.duration, tag),
            LoadSpec("write", "write", args.write_requests, args.concurrency, args.duration, tag),
        ]
        for spec in specs:
            if spec.requests <= 0:
                continue
            print(f"  {spec.name}: {spec.requests} x {spec.mode} ...", flush=True)
            result = run_load(spec, server, token, args, workdir)
            if spec.name != "warmup":
                report.http.append(result)
        if args.py_spy is not None:
            mode = args.py_spy_mode
            spec = LoadSpec("profile", mode, args.requests, args.concurrency, args.duration, tag)
            print(f"  profile: {spec.requests} x {mode} under py-spy ...", flush=True)
            with py_spy(server.pid, args.py_spy, args.py_spy_rate):
                run_load(spec, server, token, args, workdir)
            report.profile = summarise_profile(args.py_spy)
    finally:
        server.stop()


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the server is stopped either way
    signal.signal(signal.SIGTERM, _interrupt)
    report = Report(
        date=datetime.now(UTC).date().isoformat(),
        revision=revision(),
        machine=machine_info(),
        http=[],
        token_checks=[],
        revocation=None,
    )
    workdir = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    try:
        report.calibration_ms.append(calibrate())
        if not args.skip_http:
            http_bench(args, workdir, report)
            report.calibration_ms.append(calibrate())
        if not args.skip_inproc:
            print("in-process token checks ...", flush=True)
            report.token_checks, report.revocation = token_checks(
                workdir, args.token_iterations, args.uncached_iterations, args.rounds
            )
    except KeyboardInterrupt:
        print("interrupted; the server was stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"data kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report.calibration_ms.append(calibrate())
    print_summary(report)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"\nJSON written to {args.json}")
    ok = all(r.errors == 0 for r in report.http)
    if report.revocation is not None:
        ok = ok and report.revocation.same_node_refused_at_once and report.revocation.within_bound
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
