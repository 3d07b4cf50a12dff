"""The PKI benchmark's report: its records, the printed tables and the JSON output.

Contract: `PkiReport` is the whole result; `dataclasses.asdict(report)` is the `--json`
output. `HttpRun` is one wrk run against one peer with what was checked afterwards (`stored`:
certificates the peer's database gained over the run, None when the peer stores nothing);
`print_summary(report)` prints the tables to stdout. Machine facts and CPU calibration come
from bench/report.py (`machine_info`, `calibrate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pki_inproc import Rate
from pki_wrk import WrkRun

from report import MachineInfo


@dataclass
class HttpRun:
    peer: str  # "tessera", "cfssl", "cfssl+certdb"
    kind: str  # "sign" or "ocsp"
    label: str
    run: WrkRun
    stored: int | None = None  # rows the peer's database gained during the run
    stored_ok: bool | None = None  # stored matches the 2xx answers


@dataclass
class PkiReport:
    date: str
    revision: str
    machine: MachineInfo
    wrk: str
    cfssl: str
    csrs: int
    http: list[HttpRun] = field(default_factory=list)
    inproc: list[Rate] = field(default_factory=list)
    # tessera sign cert/s over cfssl's (which stores nothing), and over cfssl with its certdb
    ratio_vs_cfssl: float | None = None
    ratio_vs_cfssl_certdb: float | None = None
    ratio_ocsp_vs_cfssl: float | None = None  # no nonce: Tessera's cache vs cfssl's pre-signed
    checks: list[str] = field(default_factory=list)  # what was verified, one line each
    failures: list[str] = field(default_factory=list)
    calibration_ms: list[float] = field(default_factory=list)
    loadavg_1m: list[float] = field(default_factory=list)  # /proc/loadavg at the same moments


def sign_rate(report: PkiReport, peer: str) -> float | None:
    for h in report.http:
        if h.peer == peer and h.kind == "sign":
            return h.run.per_s
    return None


def print_http(http: list[HttpRun]) -> None:
    """The HTTP table (rate, latency, errors, stored count, server CPU) of one run."""
    head = (
        f"{'HTTP, loopback':<44} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        f" {'answered':>8} {'stored':>7} {'srv ms/req':>10} {'srv cores':>9}"
    )
    print(head)
    print("-" * len(head))
    for h in http:
        r = h.run
        stored = "-" if h.stored is None else f"{h.stored}{'' if h.stored_ok else '!'}"
        label = h.label + (" (capped)" if r.capped else "")
        print(
            f"{label:<44} {r.per_s:>8,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>6}"
            f" {r.answered:>8,} {stored:>7} {r.server_cpu_ms_per_request:>10.3f}"
            f" {r.server_cores_busy:>9.2f}"
        )
    print(f"generator: {http[0].run.generator}")
    for h in http:
        for sample in h.run.error_samples:
            print(f"  error ({h.label}): {sample}")


def interrupt(signum: int, _frame: object) -> None:
    """SIGTERM handler: unwind like Ctrl-C, so the servers are stopped either way."""
    raise KeyboardInterrupt(f"signal {signum}")


def print_summary(report: PkiReport) -> None:
    m = report.machine
    print()
    print(f"Tessera PKI benchmark, {report.date}, revision {report.revision}")
    print(
        f"machine: {m.cpus_usable} usable CPUs ({m.cpu_count} online), {m.cpu_model}, "
        f"{m.memory_gib} GiB, Linux {m.kernel}, Python {m.python}, SQLite {m.sqlite}"
    )
    print(f"generator: {report.wrk}; peer: cfssl {report.cfssl}; {report.csrs} distinct CSRs")
    readings = ", ".join(f"{c:g}" for c in report.calibration_ms)
    print(f"CPU calibration (fixed Python loop, ms, lower is faster; start/middle/end): {readings}")
    loads = ", ".join(f"{x:g}" for x in report.loadavg_1m)
    print(f"load average (1 min) at the same moments: {loads} (on {m.cpus_usable} CPUs)")
    if report.http:
        print()
        print_http(report.http)
    if report.ratio_vs_cfssl is not None:
        print()
        print(f"ratio Tessera HTTP / cfssl HTTP (no storing): {report.ratio_vs_cfssl:.3f}")
    if report.ratio_vs_cfssl_certdb is not None:
        print(f"ratio Tessera HTTP / cfssl HTTP with certdb:  {report.ratio_vs_cfssl_certdb:.3f}")
    if report.ratio_ocsp_vs_cfssl is not None:
        print(f"ratio Tessera OCSP / cfssl OCSP (no nonce):   {report.ratio_ocsp_vs_cfssl:.3f}")
    if report.inproc:
        print()
        head = (
            f"{'in-process':<56} {'per s':>8} {'us/op':>8} {'ok':>7} {'errors':>6}"
            f" {'CPU us/op':>9} {'CPU cores':>9}"
        )
        print(head)
        print("-" * len(head))
        for r in report.inproc:
            label = r.name + (" (capped)" if r.capped else "")
            print(
                f"{label:<56} {r.per_s:>8,.0f} {r.us_per_op:>8.1f} {r.ok:>7,} {r.errors:>6}"
                f" {r.cpu_us_per_op:>9.1f} {r.cores_busy:>9.2f}"
            )
            for sample in r.error_samples:
                print(f"  error ({r.name}): {sample}")
    if report.checks:
        print()
        print("checks:")
        for line in report.checks:
            print(f"  ok: {line}")
    for line in report.failures:
        print(f"  FAILED: {line}")
