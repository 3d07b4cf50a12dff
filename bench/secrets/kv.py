"""Versioned KV: writes/s and reads/s, in-process and over HTTP, on SQLite and PostgreSQL.

    .venv/bin/python bench/secrets/kv.py                          # both engines, ~2 minutes
    .venv/bin/python bench/secrets/kv.py --storage sqlite --duration 5 --json kv.json

PostgreSQL: TESSERA_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/test) is the admin
login; each engine run gets a fresh database `tessera_kvbench_<hex>`, dropped at the end.

Per engine:
1. In-process (`tessera.app.build`, real clock): a non-root principal holding only the bench
   policy calls `c.kv.write` / `c.kv.read` directly. `create` writes `--paths` new paths
   (metadata row + inventory credential + version 1); `update` writes new versions of those
   paths in a cycle (at 10 versions each write also prunes the oldest); `read` reads the latest
   version in a cycle (last_used_at is written once a minute per path: about `--paths` writes).
   Each from every `--threads` count, at most `--count`/`--reads` operations or `--duration`
   seconds, whichever comes first.
2. HTTP (loopback): `python -m tessera server --dev` (bench/server.py; on PostgreSQL through
   TESSERA_DATABASE_URL), a non-root token; the same three phases as `POST/GET
   /v1/kv/data/...` from `--procs` processes of `--conns` threads, each thread one keep-alive
   httpx client. Every request is audited by the server as in production. Reads check that the
   answer is the value written for that path; a non-2xx answer or a wrong value is an error.
3. Afterwards the sum of `current_version` over the bench paths must equal the writes answered.

Prints one table (ops/s, p50/p99 latency, CPU ms per op: the process for in-process runs, the
server for HTTP) and the CPU calibration of bench/report.py at the start and the end; `--json`
writes the figures. Exit status 0 when nothing failed and every check passed, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[1]))  # bench/: the shared harness

import httpx
import psycopg
from sqlalchemy import func, select

from report import calibrate, machine_info, revision
from server import DevServer
from tessera.app import build
from tessera.auth.models import CreateTokenRequest
from tessera.config import Settings
from tessera.secrets.kv_models import WriteRequest
from tessera.storage.db import Database, DatabaseConfig
from tessera.storage.models_secrets import KvSecretRow

PG = os.environ.get("TESSERA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
POLICY = {
    "description": "KV benchmark",
    "rules": [
        {"path": "kv/data/inproc/*", "capabilities": ["create", "read", "update"]},
        {"path": "kv/data/http/*", "capabilities": ["create", "read", "update"]},
    ],
}
PASSWORD = "x" * 32


def value(path: str) -> dict[str, Any]:
    """A typical small secret (~150 bytes serialised), naming its path so reads can be checked."""
    return {"username": "svc-app", "password": PASSWORD, "url": "postgres://db:5432/app",
            "path": path}  # fmt: skip


@dataclass
class Run:
    engine: str
    door: str  # in-process | http
    op: str  # create | update | read
    concurrency: int
    requested: int
    ok: int
    errors: int
    seconds: float
    per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_op: float
    capped: bool
    error_samples: list[str] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _run(
    engine: str, door: str, op: str, threads: int, count: int, cap: float,
    work: Callable[[int], None], cpu: Callable[[], float],
) -> Run:  # fmt: skip
    """work(i) for i in 0..count-1 from `threads` threads, until done or `cap` seconds."""
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "errors": 0}
    latencies: list[float] = []
    samples: list[str] = []
    deadline = time.monotonic() + cap

    def loop() -> None:
        mine: list[float] = []
        while time.monotonic() < deadline:
            with lock:
                i = state["next"]
                if i >= count:
                    break
                state["next"] = i + 1
            started = time.perf_counter()
            try:
                work(i)
                ok = True
            except Exception as exc:  # counted and sampled: the bench reports, never hides
                ok = False
                with lock:
                    if len(samples) < 3:
                        samples.append(f"{type(exc).__name__}: {str(exc)[:160]}")
            mine.append((time.perf_counter() - started) * 1000)
            with lock:
                state["ok" if ok else "errors"] += 1
        with lock:
            latencies.extend(mine)

    cpu0, t0 = cpu(), time.perf_counter()
    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds, used = time.perf_counter() - t0, cpu() - cpu0
    done = state["ok"]
    return Run(engine, door, op, threads, count, done, state["errors"], round(seconds, 3),
               round(done / seconds, 1), round(_percentile(latencies, 0.5), 3),
               round(_percentile(latencies, 0.99), 3), round(used * 1000 / max(done, 1), 3),
               state["next"] < count, samples)  # fmt: skip


def _process_cpu() -> float:
    t = os.times()
    return t.user + t.system


# -- in-process ------------------------------------------------------------------------------
def inproc(engine: str, url: str | None, data_dir: Path, args: argparse.Namespace) -> list[Run]:
    c = build(Settings(data_dir=data_dir, database_url=url))
    try:
        root = c.tokens.authenticate(c.operator.initialize(1, 1).root_token)
        c.policies.write(root, "kv-bench", POLICY)
        p = c.tokens.authenticate(
            c.tokens.create(root, CreateTokenRequest(policies=("kv-bench",))).token
        )
        paths = [f"inproc/p{i}" for i in range(args.paths)]

        def write(i: int) -> None:
            path = paths[i % len(paths)]
            c.kv.write(p, WriteRequest(path, value(path)))

        def read(i: int) -> None:
            path = paths[i % len(paths)]
            if c.kv.read(p, path).data["path"] != path:
                raise AssertionError("read another path's value")

        runs = [_run(engine, "in-process", "create", max(args.threads), len(paths),
                     args.duration, write, _process_cpu)]  # fmt: skip
        for threads in args.threads:
            runs.append(_run(engine, "in-process", "update", threads, args.count,
                             args.duration, write, _process_cpu))  # fmt: skip
            runs.append(_run(engine, "in-process", "read", threads, args.reads,
                             args.duration, read, _process_cpu))  # fmt: skip
        return runs
    finally:
        c.close()


# -- HTTP ------------------------------------------------------------------------------------
def _http_worker(
    addr: str, token: str, op: str, proc: int, procs: int, conns: int, count: int,
    paths: int, deadline: float,
) -> dict[str, Any]:  # fmt: skip
    """One load process: indices proc, proc+procs, … below count, from `conns` threads."""
    lock = threading.Lock()
    state = {"next": proc, "ok": 0, "errors": 0}
    latencies: list[float] = []
    samples: list[str] = []

    def loop() -> None:
        mine: list[float] = []
        with httpx.Client(base_url=addr, headers={"X-Tessera-Token": token}, timeout=30) as h:
            while time.monotonic() < deadline:
                with lock:
                    i = state["next"]
                    if i >= count:
                        break
                    state["next"] = i + procs
                path = f"http/p{i % paths}"
                started = time.perf_counter()
                try:
                    if op == "read":
                        r = h.get(f"/v1/kv/data/{path}")
                        good = r.status_code == 200 and r.json()["data"]["path"] == path
                    else:
                        r = h.post(f"/v1/kv/data/{path}", json={"data": value(path)})
                        good = r.status_code == 200
                    what = f"HTTP {r.status_code}: {r.text[:160]}"
                except httpx.HTTPError as exc:
                    good, what = False, type(exc).__name__
                mine.append((time.perf_counter() - started) * 1000)
                with lock:
                    state["ok" if good else "errors"] += 1
                    if not good and len(samples) < 3:
                        samples.append(what)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=loop) for _ in range(conns)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"ok": state["ok"], "errors": state["errors"], "latencies": latencies,
            "samples": samples, "sent": state["next"]}  # fmt: skip


def _http_run(
    engine: str, server: DevServer, token: str, op: str, count: int, args: argparse.Namespace
) -> Run:
    deadline = time.monotonic() + args.duration
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    with ProcessPoolExecutor(args.procs) as pool:
        futures = [
            pool.submit(
                _http_worker,
                server.addr,
                token,
                op,
                k,
                args.procs,
                args.conns,
                count,
                args.paths,
                deadline,
            )
            for k in range(args.procs)
        ]
        parts = [f.result() for f in futures]
    seconds, used = time.perf_counter() - t0, server.cpu_seconds() - cpu0
    done = sum(p["ok"] for p in parts)
    latencies = [x for p in parts for x in p["latencies"]]
    capped = any(p["sent"] < count for p in parts)
    return Run(engine, "http", op, args.procs * args.conns, count, done,
               sum(p["errors"] for p in parts), round(seconds, 3), round(done / seconds, 1),
               round(_percentile(latencies, 0.5), 3), round(_percentile(latencies, 0.99), 3),
               round(used * 1000 / max(done, 1), 3), capped,
               [s for p in parts for s in p["samples"]][:3])  # fmt: skip


def http(engine: str, url: str | None, data_dir: Path, args: argparse.Namespace) -> list[Run]:
    server = DevServer(data_dir)
    env_before = os.environ.get("TESSERA_DATABASE_URL")
    if url is not None:
        os.environ["TESSERA_DATABASE_URL"] = url  # read by `tessera server`
    try:
        server.start()
        with httpx.Client(base_url=server.addr, timeout=30,
                          headers={"X-Tessera-Token": server.root_token()}) as rc:  # fmt: skip
            rc.put("/v1/sys/policies/kv-bench", json=POLICY).raise_for_status()
            r = rc.post("/v1/auth/token/create", json={"policies": ["kv-bench"], "ttl": "2h"})
            token = str(r.raise_for_status().json()["token"])
        runs = [_http_run(engine, server, token, "create", args.paths, args)]
        runs.append(_http_run(engine, server, token, "update", args.http_count, args))
        runs.append(_http_run(engine, server, token, "read", args.http_reads, args))
        return runs
    finally:
        server.stop()
        if url is not None:
            os.environ.pop("TESSERA_DATABASE_URL", None)
            if env_before is not None:
                os.environ["TESSERA_DATABASE_URL"] = env_before


def versions_written(url: str | None, data_dir: Path, prefix: str) -> int:
    """Σ current_version over the bench paths: one per write that was answered."""
    db = Database(DatabaseConfig(url=url, data_dir=data_dir))
    try:
        with db.session() as s:
            total = s.execute(
                select(func.sum(KvSecretRow.current_version)).where(
                    KvSecretRow.path.startswith(prefix)
                )
            ).scalar_one()
            return int(total or 0)
    finally:
        db.dispose()


@contextmanager
def engine_url(engine: str) -> Iterator[str | None]:
    """None for SQLite (a file in the run's data directory); a fresh PostgreSQL database."""
    if engine == "sqlite":
        yield None
        return
    name = f"tessera_kvbench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG, autocommit=True) as su:
        su.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    finally:
        with psycopg.connect(PG, autocommit=True) as su:
            su.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- report ----------------------------------------------------------------------------------
def print_table(runs: list[Run]) -> None:
    head = (f"{'engine':<8} {'door':<10} {'op':<7} {'conc':>4} {'ops/s':>9} {'p50 ms':>8}"
            f" {'p99 ms':>8} {'CPU ms/op':>9} {'ok':>7} {'err':>4} {'s':>6}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in runs:
        cap = " (time cap)" if r.capped else ""
        print(f"{r.engine:<8} {r.door:<10} {r.op:<7} {r.concurrency:>4} {r.per_s:>9,.0f}"
              f" {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.cpu_ms_per_op:>9.3f} {r.ok:>7,}"
              f" {r.errors:>4} {r.seconds:>6.1f}{cap}")  # fmt: skip
        for sample in r.error_samples:
            print(f"    error: {sample}")
    print("CPU ms/op: the bench process for in-process runs, the server process for HTTP.")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Tessera KV benchmark: writes/s and reads/s.")
    p.add_argument("--storage", default="sqlite,postgres", help="sqlite,postgres (default both)")
    p.add_argument("--paths", type=int, default=1000, help="distinct paths (the create phase)")
    p.add_argument("--threads", type=_ints, default=[1, 4], help="in-process threads (1,4)")
    p.add_argument("--count", type=int, default=5000, help="in-process updates per run")
    p.add_argument("--reads", type=int, default=30000, help="in-process reads per run")
    p.add_argument("--procs", type=int, default=2, help="HTTP load processes")
    p.add_argument("--conns", type=int, default=4, help="HTTP connections per process")
    p.add_argument("--http-count", type=int, default=4000, help="HTTP updates")
    p.add_argument("--http-reads", type=int, default=10000, help="HTTP reads")
    p.add_argument("--duration", type=float, default=10.0, help="time cap per run (s)")
    p.add_argument("--skip-http", action="store_true")
    p.add_argument("--skip-inproc", action="store_true")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    engines = [e.strip() for e in args.storage.split(",") if e.strip()]
    calibration = [calibrate()]
    runs: list[Run] = []
    failures: list[str] = []
    for engine in engines:
        with tempfile.TemporaryDirectory(prefix="kvbench-") as tmp:
            if not args.skip_inproc:
                print(f"{engine}: in-process ...", flush=True)
                with engine_url(engine) as url:
                    done = inproc(engine, url, Path(tmp) / "inproc", args)
                    written = versions_written(url, Path(tmp) / "inproc", "inproc/")
                runs += done
                wrote = sum(r.ok for r in done if r.op != "read")
                if written != wrote:
                    failures.append(f"{engine} in-process: {wrote} writes, {written} versions")
            if not args.skip_http:
                print(f"{engine}: HTTP ...", flush=True)
                with engine_url(engine) as url:
                    done = http(engine, url, Path(tmp) / "http", args)
                    written = versions_written(url, Path(tmp) / "http", "http/")
                runs += done
                wrote = sum(r.ok for r in done if r.op != "read")
                if written != wrote:
                    failures.append(f"{engine} HTTP: {wrote} writes answered, {written} versions")
    calibration.append(calibrate())
    m = machine_info()
    print()
    print(f"Tessera KV benchmark, {datetime.now(UTC).date()}, revision {revision()}")
    print(f"machine: {m.cpus_usable} usable CPUs, {m.cpu_model}, Python {m.python}, "
          f"SQLite {m.sqlite}")  # fmt: skip
    print(f"CPU calibration (ms, lower is faster; start/end): {calibration}")
    print_table(runs)
    errors = sum(r.errors for r in runs)
    for failure in failures:
        print(f"CHECK FAILED: {failure}")
    if args.json is not None:
        report = {"machine": asdict(m), "calibration_ms": calibration,
                  "runs": [asdict(r) for r in runs], "failures": failures}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2))
    medians = [r.per_s for r in runs if r.op == "update"]
    if medians:
        print(f"median update rate across runs: {statistics.median(medians):,.0f}/s")
    return 1 if errors or failures else 0


if __name__ == "__main__":
    sys.exit(main())
