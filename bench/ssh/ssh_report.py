"""The SSH benchmark's report: its records, the printed tables and the JSON output.

Contract: `SshReport` is the whole result; `dataclasses.asdict(report)` is the `--json` output.
`keygen` holds the `ssh-keygen -s` runs, `inproc` the in-process ones (pyca/cryptography alone
and `ssh.sign`), `http` the wrk runs (`pki_report.HttpRun`, `stored` = SSH certificate
credentials the inventory gained over the run). `print_summary(report)` prints the tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pki_inproc import Rate
from pki_report import HttpRun, print_http

from report import MachineInfo


@dataclass
class SshReport:
    date: str
    revision: str
    machine: MachineInfo
    wrk: str
    openssh: str
    keys: int
    keygen: list[Rate] = field(default_factory=list)
    http: list[HttpRun] = field(default_factory=list)
    inproc: list[Rate] = field(default_factory=list)
    # "Tessera ... / ssh-keygen -s, <n> worker(s)" -> certificates/s over certificates/s
    ratios: dict[str, float] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    calibration_ms: list[float] = field(default_factory=list)
    loadavg_1m: list[float] = field(default_factory=list)


def _rates(title: str, rates: list[Rate]) -> None:
    head = (
        f"{title:<62} {'per s':>7} {'ms/cert':>8} {'ok':>6} {'errors':>6}"
        f" {'CPU ms/cert':>11} {'CPU cores':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rates:
        label = r.name + (" (capped)" if r.capped else "")
        print(
            f"{label:<62} {r.per_s:>7,.0f} {r.us_per_op / 1000:>8.3f} {r.ok:>6,} {r.errors:>6}"
            f" {r.cpu_us_per_op / 1000:>11.3f} {r.cores_busy:>9.2f}"
        )
        for sample in r.error_samples:
            print(f"  error ({r.name}): {sample}")


def print_summary(report: SshReport) -> None:
    m = report.machine
    print()
    print(f"Tessera SSH certificate benchmark, {report.date}, revision {report.revision}")
    print(
        f"machine: {m.cpus_usable} usable CPUs ({m.cpu_count} online), {m.cpu_model}, "
        f"{m.memory_gib} GiB, Linux {m.kernel}, Python {m.python}, SQLite {m.sqlite}"
    )
    print(f"generator: {report.wrk}; peer: {report.openssh}; {report.keys} distinct Ed25519 keys")
    readings = ", ".join(f"{c:g}" for c in report.calibration_ms)
    print(f"CPU calibration (fixed Python loop, ms, lower is faster; start/middle/end): {readings}")
    loads = ", ".join(f"{x:g}" for x in report.loadavg_1m)
    print(f"load average (1 min) at the same moments: {loads} (on {m.cpus_usable} CPUs)")
    if report.keygen:
        print()
        _rates("ssh-keygen -s, one process per certificate", report.keygen)
    if report.http:
        print()
        print_http(report.http)
    if report.inproc:
        print()
        _rates("in-process", report.inproc)
    if report.ratios:
        print()
        width = max(map(len, report.ratios))
        for name, ratio in report.ratios.items():
            print(f"ratio {name:<{width}} {ratio:.3f}")
    if report.checks:
        print()
        print("checks:")
        for line in report.checks:
            print(f"  ok: {line}")
    for line in report.failures:
        print(f"  FAILED: {line}")
