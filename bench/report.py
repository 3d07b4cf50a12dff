"""The benchmark report: machine facts, CPU calibration and the printed summary.

Contract: `Report` is the whole result; `dataclasses.asdict(report)` is the `--json` output,
so its fields (and those of the records it holds) are the JSON format. `revision()` is the
checkout's git HEAD (+dirty when src/ has uncommitted changes), `machine_info()` reads CPU,
memory and versions from /proc, platform and `wrk --version`, `calibrate()` times a fixed
Python loop (ms, best of 5). `print_summary(report)` prints the tables to stdout.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from http_load import LoadResult
from inproc import RevocationResult, TokenCheckResult
from server_profile import ProfileSummary

BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class MachineInfo:
    cpu_count: int | None
    cpus_usable: int
    cpu_model: str
    memory_gib: float
    kernel: str
    python: str
    sqlite: str
    wrk: str | None


@dataclass
class Report:
    date: str
    revision: str  # git HEAD of the checkout, "+dirty" when src/ has uncommitted changes
    machine: MachineInfo
    http: list[LoadResult]
    token_checks: list[TokenCheckResult]
    revocation: RevocationResult | None
    profile: ProfileSummary | None = None
    # calibrate() at the start, between the HTTP and the in-process parts, and at the end
    calibration_ms: list[float] = field(default_factory=list)


def revision() -> str:
    root = BENCH_DIR.parent

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--", "src") else "")


def machine_info() -> MachineInfo:
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1024 / 1024
    wrk_version = None
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        first = (out.stdout or out.stderr).strip().splitlines()
        wrk_version = first[0] if first else "wrk"
    return MachineInfo(
        cpu_count=os.cpu_count(),
        cpus_usable=len(os.sched_getaffinity(0)),
        cpu_model=model,
        memory_gib=round(mem, 1),
        kernel=platform.release(),
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        wrk=wrk_version,
    )


def calibrate() -> float:
    """Milliseconds for a fixed single-threaded Python workload (dicts, strings, ints), best of
    5: on a shared or throttled VM the same machine gives different figures at different times,
    and this says how fast the CPU was when the benchmark ran."""
    best = math.inf
    for _ in range(5):
        started = time.perf_counter()
        acc: dict[str, int] = {}
        for i in range(200_000):
            key = f"k{i % 1000}"
            acc[key] = acc.get(key, 0) + (i * 7 % 13)
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def print_summary(report: Report) -> None:
    m = report.machine
    print()
    print(f"Tessera benchmark, {report.date}, revision {report.revision}")
    print(
        f"machine: {m.cpus_usable} usable CPUs ({m.cpu_count} online), {m.cpu_model}, "
        f"{m.memory_gib} GiB, Linux {m.kernel}, Python {m.python}, SQLite {m.sqlite}"
    )
    readings = ", ".join(f"{c:g}" for c in report.calibration_ms)
    print(f"CPU calibration (fixed Python loop, ms, lower is faster; start/middle/end): {readings}")
    if report.http:
        print()
        head = (
            f"{'HTTP (loopback)':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
            f" {'requests':>9} {'srv ms/req':>10} {'srv cores':>9}"
        )
        print(head)
        print("-" * len(head))
        for r in report.http:
            label = f"{r.method} {r.path.removeprefix('/v1')} c={r.concurrency}"
            print(
                f"{label:<34} {r.rps:>9,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>7}"
                f" {r.requests:>9,} {r.server_cpu_ms_per_request:>10.3f}"
                f" {r.server_cores_busy:>9.2f}"
            )
        print(f"generator: {report.http[0].generator}")
        for r in report.http:
            for sample in r.error_samples:
                print(f"  error ({r.name}): {sample}")
    if report.token_checks:
        print()
        head = f"{'in-process token check':<54} {'ops/s':>10} {'us/op':>8}"
        print(head)
        print("-" * len(head))
        for t in report.token_checks:
            print(f"{t.path:<54} {t.ops_per_s:>10,.0f} {t.us_per_op:>8.2f}")
    rv = report.revocation
    if rv is not None:
        print()
        print(f"revocation effective at once: {'yes' if rv.same_node_refused_at_once else 'NO'}")
        after = (
            f"{rv.other_node_refused_after_s:.3f} s"
            if rv.other_node_refused_after_s is not None
            else "never (within the test window)"
        )
        print(
            f"revocation on another node: refused after {after} "
            f"(cache_ttl {rv.other_node_cache_ttl_s:g} s, polled every "
            f"{rv.poll_interval_s * 1000:.0f} ms, {rv.other_node_accepted_after_revoke} "
            f"polls still accepted) -> {'within bound' if rv.within_bound else 'TOO SLOW'}"
        )
    prof = report.profile
    if prof is not None:
        print()
        print(f"server profile (py-spy --gil), {prof.samples} samples")
        for title, rows in (
            ("by self time", prof.top_self),
            ("tessera/SQLAlchemy, inclusive", prof.top_inclusive),
        ):
            print(f"  {title}:")
            for row in rows:
                print(f"    {row.self_pct:>5.1f}% self {row.incl_pct:>5.1f}% incl  {row.function}")
