"""One HTTP load run against the dev server, and the Python load generator.

Contract: `run_load(spec, server, token, args, workdir)` runs `spec` with `args.generator`
("wrk": `wrk.run_wrk` with `args.wrk_threads`; "python": `run_python` with
`args.loadgen_procs`) and returns a `LoadResult`: requests/s, latency percentiles, errors,
plus the server's CPU time (from /proc) and the generator's (RUSAGE_CHILDREN) over the run.
`run_python` starts `bench/loadgen.py` in several processes, splitting requests and
connections, and merges their JSON outputs; raises `RuntimeError` if one of them fails.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from server import DevServer
from workload import MODES, LoadResultInput, LoadSpec
from wrk import run_wrk

LOADGEN = Path(__file__).resolve().parent / "loadgen.py"


@dataclass
class LoadResult:
    name: str
    method: str
    path: str
    generator: str
    concurrency: int
    requests: int
    errors: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    server_cpu_s: float
    server_cpu_ms_per_request: float
    server_cores_busy: float
    client_cpu_s: float
    error_samples: list[str] = field(default_factory=list)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _finish(
    m: LoadResultInput, server: DevServer, cpu_before: float, child_before: float
) -> LoadResult:
    """Add the server's and the generator's CPU time to what the generator measured."""
    cpu = server.cpu_seconds() - cpu_before
    done = max(m.requests, 1)
    return LoadResult(
        name=m.name,
        method=MODES[m.mode][0],
        path=MODES[m.mode][1],
        generator=m.generator,
        concurrency=m.concurrency,
        requests=m.requests,
        errors=m.errors,
        duration_s=round(m.duration_s, 3),
        rps=round(m.requests / m.duration_s, 1) if m.duration_s > 0 else 0.0,
        p50_ms=round(m.p50_us / 1000, 2),
        p99_ms=round(m.p99_us / 1000, 2),
        mean_ms=round(m.mean_us / 1000, 2),
        max_ms=round(m.max_us / 1000, 2),
        server_cpu_s=round(cpu, 2),
        server_cpu_ms_per_request=round(cpu * 1000 / done, 3),
        server_cores_busy=round(cpu / m.duration_s, 2) if m.duration_s > 0 else 0.0,
        client_cpu_s=round(_children_cpu() - child_before, 2),
        error_samples=m.error_samples,
    )


def run_python(spec: LoadSpec, addr: str, token: str, procs: int) -> LoadResultInput:
    """`bench/loadgen.py` in `procs` processes, splitting requests and connections."""
    procs = max(1, min(procs, spec.concurrency))
    children: list[subprocess.Popen[str]] = []
    try:
        for i in range(procs):
            conc = spec.concurrency // procs + (1 if i < spec.concurrency % procs else 0)
            reqs = spec.requests // procs + (1 if i < spec.requests % procs else 0)
            cmd = [
                sys.executable,
                str(LOADGEN),
                "--addr",
                addr,
                "--token",
                token,
                "--mode",
                spec.mode,
                "--requests",
                str(reqs),
                "--concurrency",
                str(conc),
                "--duration",
                str(spec.duration),
                "--tag",
                f"{spec.tag}-{i}",
            ]
            children.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
        outputs = [child.communicate(timeout=spec.duration + 60)[0] for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    latencies: list[int] = []
    errors, completed, wall = 0, 0, 0.0
    samples: list[str] = []
    for child, text in zip(children, outputs, strict=True):
        if child.returncode != 0:
            raise RuntimeError(f"loadgen failed with status {child.returncode}")
        data = json.loads(text)
        latencies.extend(data["latencies_us"])
        errors += data["errors"]
        completed += data["requests"]
        wall = max(wall, data["duration_s"])
        samples.extend(data["error_samples"])
    latencies.sort()
    return LoadResultInput(
        name=spec.name,
        mode=spec.mode,
        generator=f"python loadgen (asyncio+httpx) x{procs} process(es), {spec.concurrency} conns",
        concurrency=spec.concurrency,
        requests=completed,
        errors=errors,
        duration_s=wall,
        p50_us=_percentile(latencies, 50),
        p99_us=_percentile(latencies, 99),
        mean_us=statistics.fmean(latencies) if latencies else 0.0,
        max_us=latencies[-1] if latencies else 0.0,
        error_samples=samples[:5],
    )


def _percentile(sorted_values: list[int], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(0, math.ceil(pct / 100 * len(sorted_values)) - 1)
    return float(sorted_values[rank])


def run_load(
    spec: LoadSpec, server: DevServer, token: str, args: argparse.Namespace, workdir: Path
) -> LoadResult:
    cpu_before, child_before = server.cpu_seconds(), _children_cpu()
    if args.generator == "wrk":
        measured = run_wrk(spec, server.addr, token, args.wrk_threads, workdir)
    else:
        measured = run_python(spec, server.addr, token, args.loadgen_procs)
    return _finish(measured, server, cpu_before, child_before)
