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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tessera.app import DEV_ROOT_TOKEN_FILE, Container, build
from tessera.auth.models import CreateTokenRequest, Principal
from tessera.config import Settings
from tessera.core.errors import Unauthenticated

BENCH_DIR = Path(__file__).resolve().parent
LOADGEN = BENCH_DIR / "loadgen.py"
READ_PATH = "/v1/auth/token/lookup-self"
WRITE_PATH = "/v1/identities"
SEED_IDENTITY = "bench-seed"
READ_DB_PATH = f"{WRITE_PATH}/{SEED_IDENTITY}"
# mode -> (method, path) of what one request sends
MODES = {
    "read": ("GET", READ_PATH),
    "read-db": ("GET", READ_DB_PATH),
    "write": ("POST", WRITE_PATH),
}
POLICY_NAME = "bench"
POLICY = {
    "description": "benchmark token: look itself up and register bench-* identities",
    "rules": [
        {"path": "auth/token/lookup-self", "capabilities": ["read"]},
        {"path": "identities/bench-*", "capabilities": ["create", "read"]},
        {"path": "identities", "capabilities": ["list"]},
    ],
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- results ---------------------------------------------------------------------------------
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
class ProfileRow:
    function: str
    self_pct: float
    incl_pct: float


@dataclass
class ProfileSummary:
    """py-spy --gil samples of the server: where the GIL-holding thread spends its time."""

    samples: int
    top_self: list[ProfileRow]
    top_inclusive: list[ProfileRow]  # tessera and SQLAlchemy frames only


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


# -- machine ---------------------------------------------------------------------------------
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


# -- the server ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevServer:
    """`python -m tessera server --dev` in its own session; `stop()` is idempotent."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "tessera",
            "server",
            "--dev",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            f"127.0.0.1:{self.port}",
        ]
        with open(self.log_path, "wb") as log:
            # own session: a Ctrl-C on the terminal reaches us, and we stop the server cleanly
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.addr}/v1/sys/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the server did not become healthy in {timeout:.0f} s:\n{self.log()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def root_token(self) -> str:
        return (self.data_dir / DEV_ROOT_TOKEN_FILE).read_text().strip()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_bench_token(addr: str, root: str) -> str:
    """Write the bench policy, create a non-root token holding it (and `default`) and, with
    that token, the identity the read-db run reads."""
    with httpx.Client(base_url=addr, headers={"X-Tessera-Token": root}, timeout=30) as rc:
        r = rc.put(f"/v1/sys/policies/{POLICY_NAME}", json=POLICY)
        r.raise_for_status()
        r = rc.post(
            "/v1/auth/token/create",
            json={"policies": [POLICY_NAME], "ttl": "24h", "display_name": "bench"},
        )
        r.raise_for_status()
        token = str(r.json()["token"])
    with httpx.Client(base_url=addr, headers={"X-Tessera-Token": token}, timeout=30) as c:
        info = c.get(READ_PATH).json()
        if "root" in info["policies"] or POLICY_NAME not in info["policies"]:
            raise RuntimeError(f"unexpected bench token policies: {info['policies']}")
        # the identity that the read-db run looks up
        r = c.post(WRITE_PATH, json={"name": SEED_IDENTITY, "owner": "bench"})
        r.raise_for_status()
    return token


# -- load generators -------------------------------------------------------------------------
WRK_LUA = r"""
-- generated by bench/run.py
local mode = "@MODE@"
local limit = @LIMIT@
local token = "@TOKEN@"
local tag = "@TAG@"
local threads = {}
local next_tid = 1

-- wrk's own duration is always the full -d, even when threads stop early; so time the run
-- here (LuaJIT ffi) and, when this thread has its share, signal wrk's main thread to finish.
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk, bench_timespec *tp);
  int getpid(void);
  int tgkill(int tgid, int tid, int sig);
]]
local function now_us()
  local ts = ffi.new("bench_timespec[1]")
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts[0].tv_sec) * 1000000 + tonumber(ts[0].tv_nsec) / 1000
end

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function init(args)
  t_start = now_us()
  responses = 0
  non2xx = 0
  sent = 0
  wrk.headers["X-Tessera-Token"] = token
  if mode == "write" then
    wrk.method = "POST"
    wrk.path = "@WRITE_PATH@"
    wrk.headers["Content-Type"] = "application/json"
  elseif mode == "read-db" then
    wrk.method = "GET"
    wrk.path = "@READ_DB_PATH@"
  else
    wrk.method = "GET"
    wrk.path = "@READ_PATH@"
  end
end

if mode == "write" then
  function request()
    sent = sent + 1
    local body = string.format('{"name":"bench-%s-%d-%d","owner":"bench"}', tag, tid, sent)
    return wrk.format(nil, nil, nil, body)
  end
end

function response(status, headers, body)
  t_last = now_us()
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if non2xx <= 3 then
      io.stderr:write("BENCH_ERR HTTP " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
    end
  end
  if responses == limit then
    wrk.thread:stop()
    local pid = ffi.C.getpid()
    ffi.C.tgkill(pid, pid, 2)  -- SIGINT to the main thread: wrk stops and reports
  end
end

function done(summary, latency, requests)
  local bad = 0
  local first, last = nil, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    local s = t:get("t_start")
    if s ~= nil and (first == nil or s < first) then first = s end
    local e = t:get("t_last")
    if e ~= nil and e > last then last = e end
  end
  local elapsed = summary.duration
  if first ~= nil and last > first then elapsed = math.floor(last - first) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"max_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, elapsed, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max, bad, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class LoadSpec:
    name: str
    mode: str  # a key of MODES
    requests: int
    concurrency: int
    duration: float
    tag: str


@dataclass
class LoadResultInput:
    """What a generator measured, before server CPU accounting is added."""

    name: str
    mode: str
    generator: str
    concurrency: int
    requests: int
    errors: int
    duration_s: float
    p50_us: float
    p99_us: float
    mean_us: float
    max_us: float
    error_samples: list[str]


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


def run_wrk(spec: LoadSpec, addr: str, token: str, threads: int, workdir: Path) -> LoadResultInput:
    threads = max(1, min(threads, spec.concurrency))
    limit = math.ceil(spec.requests / threads)
    script = (
        WRK_LUA.replace("@MODE@", spec.mode)
        .replace("@LIMIT@", str(limit))
        .replace("@TOKEN@", token)
        .replace("@TAG@", spec.tag)
        .replace("@READ_PATH@", READ_PATH)
        .replace("@WRITE_PATH@", WRITE_PATH)
        .replace("@READ_DB_PATH@", READ_DB_PATH)
    )
    lua = workdir / f"wrk-{spec.name}.lua"
    lua.write_text(script)
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(spec.concurrency),
        "-d",
        f"{max(1, math.ceil(spec.duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        addr,
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=spec.duration + 60, check=False
    )
    match = re.search(r"^BENCH_JSON (\{.*\})$", out.stdout, re.MULTILINE)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    data = json.loads(match.group(1))
    transport = data["connect"] + data["read"] + data["write"] + data["timeout"]
    samples = [line[10:] for line in out.stderr.splitlines() if line.startswith("BENCH_ERR ")]
    if transport:
        samples.append(
            f"socket errors: connect {data['connect']}, read {data['read']}, "
            f"write {data['write']}, timeout {data['timeout']}"
        )
    return LoadResultInput(
        name=spec.name,
        mode=spec.mode,
        generator=f"wrk -t{threads} -c{spec.concurrency}",
        concurrency=spec.concurrency,
        requests=data["requests"],
        errors=data["non2xx"] + transport,
        duration_s=data["duration_us"] / 1e6,
        p50_us=data["p50_us"],
        p99_us=data["p99_us"],
        mean_us=data["mean_us"],
        max_us=data["max_us"],
        error_samples=samples,
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


# -- profiling (optional) --------------------------------------------------------------------
@contextlib.contextmanager
def py_spy(pid: int, raw_out: Path, rate: int) -> Iterator[None]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
    cmd += ["--output", str(raw_out), "--gil", "--threads"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # let it attach
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if not raw_out.exists():
            raise RuntimeError(f"py-spy wrote no profile: {err.strip()[-500:]}")


_FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


def summarise_profile(raw: Path, top: int = 25) -> ProfileSummary:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [name for f in stack.split(";") if (name := _frame_name(f)) is not None]
        if not frames:
            continue
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for name in set(frames):
            incl[name] = incl.get(name, 0) + count
    rows = [
        ProfileRow(
            function=name,
            self_pct=round(100 * own.get(name, 0) / total, 1),
            incl_pct=round(100 * n / total, 1),
        )
        for name, n in incl.items()
    ]
    by_self = sorted(rows, key=lambda r: (-r.self_pct, -r.incl_pct))[:top]
    ours = (r for r in rows if "tessera" in r.function or "sqlalchemy" in r.function)
    by_incl = sorted(ours, key=lambda r: -r.incl_pct)[:top]
    return ProfileSummary(samples=total, top_self=by_self, top_inclusive=by_incl)


def _frame_name(frame: str) -> str | None:
    frame = frame.strip()
    if frame.startswith("process ") or frame.startswith("thread "):
        return None
    m = _FRAME_RE.match(frame)
    if m is None:
        return frame
    file = m.group("file")
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({file})"


# -- in-process token checks -----------------------------------------------------------------
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


# -- output ----------------------------------------------------------------------------------
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


# -- main ------------------------------------------------------------------------------------
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
