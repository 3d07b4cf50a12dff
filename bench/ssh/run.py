"""Tessera SSH certificate benchmark: Ed25519 user certificates signed per second, in-process and
over HTTP (every certificate stored), with `ssh-keygen -s` signing the same keys in the same run.

    .venv/bin/python bench/ssh/run.py                  # the whole run, about a minute
    .venv/bin/python bench/ssh/run.py --json ssh.json --keys 2000 --requests 4000 --duration 60

1. Tools: `wrk` and `ssh-keygen` (Debian `wrk`, `openssh-client`), installed with apt-get if
   absent.
2. `--keys` distinct Ed25519 public keys are generated once (pyca/cryptography); every signer
   is sent the same keys in the same order, ssh-keygen as `key-<i>.pub` files.
3. ssh-keygen: an Ed25519 CA key (the key type of Tessera's CA), then `ssh-keygen -q -s ca
   -I bench-<i> -n deploy -V +1h -z <i+1> key-<i>.pub` for each key, one process per
   certificate, from 1 and then 2 workers (`--workers`); process start included.
4. Tessera over HTTP: `python -m tessera server --dev` (bench/server.py), user CA
   `bench-users` (Ed25519), role `bench` (principal `deploy`, ttl 1h), a non-root token allowed
   only `ssh/sign/bench` (create); `POST /v1/ssh/sign/bench` {"principals": ["deploy"],
   "public_key": line} with wrk: a warm-up (at most 10 s), then `--requests` signs. Paging through
   `GET /v1/inventory/credentials?kind=ssh_certificate` must then show exactly one more
   credential per 2xx answer; after the server stops, its SQLite file must hold one `issued`
   row in `ssh_certificates` per certificate answered, and none `pending` or `abandoned`.
5. In-process (no HTTP): the same setup through the services, then `container.ssh.sign` from
   1, 2 and 8 threads (`--threads`), `--inproc-count` each; `SELECT count(*) FROM
   ssh_certificates WHERE status='issued'` must gain exactly the successes, none pending. And
   what building + signing one certificate costs with pyca/cryptography alone.
6. `--verify` certificates of every signer are read back with `ssh-keygen -L` (user
   certificate, the key that was sent, principal `deploy`, signing CA) and their signature
   checked with pyca/cryptography.

The HTTP run uses `wrk -t1 -c8` (bench/pki/pki_wrk.py), counts non-2xx and socket errors as
errors, and stops after its count or at `--duration` seconds. ssh-keygen and in-process runs stop
after their count or their time cap. The server runs in a temporary directory and is stopped on
exit, Ctrl-C and SIGTERM. Exit status: 0 when there was no error and every check passed; 1
otherwise; 2 when a tool is missing and cannot be installed.

Modules (bench/ssh/, imported as siblings; bench/pki/ and bench/ are put on sys.path for the
shared pieces: `pki_wrk`, `pki_inproc.Rate`, `pki_report.HttpRun`, `pki_tools`,
`pki_csrs.write_bodies`, `server.DevServer`, `report.machine_info/calibrate/revision`):
`ssh_keys` keys, .pub files, bodies; `ssh_keygen` the tools, the ssh-keygen CA, runs and
certificate checks; `ssh_tessera` Tessera setup, rates and counts; `ssh_report` the report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sqlite3
import sys
import tempfile
from contextlib import ExitStack, closing
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "pki"))  # the PKI harness
sys.path.insert(2, str(Path(__file__).resolve().parents[1]))  # bench/: the shared harness

import httpx
from pki_csrs import write_bodies
from pki_inproc import Rate
from pki_report import HttpRun, interrupt
from pki_tools import ToolError
from pki_wrk import WrkSpec, run_bodies
from ssh_keygen import KeygenCA, cert_path, check_cert, ensure_tools, keygen_rate
from ssh_keys import make_keys, sign_body, write_pubs
from ssh_report import SshReport, print_summary
from ssh_tessera import (
    CA_NAME,
    SIGN_PATH,
    TOKEN_HEADER,
    count_credentials_http,
    count_rows,
    pyca_rate,
    setup_http,
    setup_inproc,
    sign_rate,
    sign_request,
)

from report import calibrate, machine_info, revision
from server import DevServer
from tessera.app import build
from tessera.config import Settings
from tessera.storage.db import SQLITE_FILE

JSON_TYPE = {"Content-Type": "application/json"}
HTTP_LABEL = "tessera sign (every certificate stored)"
WARMUP_CAP = 10.0  # seconds


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Tessera SSH benchmark: certificates signed per second, ssh-keygen -s beside."
    )
    p.add_argument("--keys", type=int, default=800, help="distinct Ed25519 keys (default 800)")
    p.add_argument(
        "--keygen-count", type=int, help="ssh-keygen certificates per run (default: --keys)"
    )
    p.add_argument("--workers", type=_ints, default=[1, 2], help="ssh-keygen workers (1,2)")
    p.add_argument("--keygen-cap", type=float, default=12.0, help="time cap per ssh-keygen run")
    p.add_argument("--requests", type=int, default=1_200, help="HTTP signs (default 1200)")
    p.add_argument("--warmup", type=int, default=100, help="HTTP signs before the measured run")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--duration", type=float, default=25.0, help="time cap of the HTTP run (s)")
    p.add_argument(
        "--threads", type=_ints, default=[1, 2, 8], help="in-process threads (default 1,2,8)"
    )
    p.add_argument("--inproc-count", type=int, default=600, help="signs per in-process run")
    p.add_argument("--inproc-cap", type=float, default=12.0, help="time cap per in-process run")
    p.add_argument("--baseline-count", type=int, default=2_000, help="pyca-only certificates")
    p.add_argument("--verify", type=int, default=4, help="certificates checked per signer")
    p.add_argument("--skip-keygen", action="store_true", help="no ssh-keygen runs")
    p.add_argument("--skip-http", action="store_true", help="no Tessera HTTP run")
    p.add_argument("--skip-inproc", action="store_true", help="no in-process runs")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if args.keygen_count is None:
        args.keygen_count = args.keys
    counts = (args.keys, args.keygen_count, args.requests, args.inproc_count, args.verify)
    if min(counts) < 1 or min(args.threads + args.workers) < 1:
        p.error("counts, --threads and --workers must be positive")
    args.verify = min(args.verify, args.keys)
    return args


def spread(n: int, k: int) -> list[int]:
    """k indexes spread over 0..n-1 (first and last included when k > 1)."""
    if k <= 1:
        return [0]
    return sorted({round(j * (n - 1) / (k - 1)) for j in range(k)})


class Bench:
    """One run: the shared inputs, the report, and everything to stop at the end."""

    def __init__(self, args: argparse.Namespace, workdir: Path, report: SshReport) -> None:
        self.args = args
        self.workdir = workdir
        self.report = report
        self.stack = ExitStack()
        self.keys: list[str] = []
        self.pubs: list[Path] = []

    def check(self, ok: bool, what: str) -> bool:
        (self.report.checks if ok else self.report.failures).append(what)
        if not ok:
            print(f"  FAILED: {what}", file=sys.stderr, flush=True)
        return ok

    def verify(self, who: str, ca_line: str, certs: dict[int, Path]) -> None:
        """ssh-keygen -L and pyca/cryptography on each certificate (key index -> file)."""
        try:
            for i, path in certs.items():
                check_cert(path, ca_line, self.keys[i])
        except AssertionError as exc:
            self.check(False, f"{who}: certificate check: {exc}")
            return
        self.check(
            True,
            f"{who}: {len(certs)} certificates read by ssh-keygen -L (user certificate, the key "
            "sent, principal deploy, signing CA) and their signatures verified",
        )

    def rate_ok(self, r: Rate) -> None:
        self.check(r.errors == 0, f"{r.name}: {r.errors} errors in {r.ok + r.errors}")

    # -- ssh-keygen ----------------------------------------------------------------------------
    def keygen(self) -> None:
        args = self.args
        ca = KeygenCA(self.workdir / "keygen-ca")
        for workers in args.workers:
            for pub in self.pubs:
                cert_path(pub).unlink(missing_ok=True)
            print(f"ssh-keygen -s x{args.keygen_count}, {workers} worker(s) ...", flush=True)
            r = keygen_rate(ca, self.pubs, workers, args.keygen_count, args.keygen_cap)
            self.rate_ok(r)
            self.report.keygen.append(r)
            written = sum(cert_path(p).exists() for p in self.pubs)
            want = min(r.ok, len(self.pubs))
            self.check(written == want, f"{r.name}: {written} certificate files for {r.ok} signs")
        # a capped run may not have reached every picked key; the count check above covers it
        picked = [
            i for i in spread(len(self.pubs), args.verify) if cert_path(self.pubs[i]).exists()
        ]
        self.verify("ssh-keygen -s", ca.public_line, {i: cert_path(self.pubs[i]) for i in picked})

    # -- Tessera over HTTP ---------------------------------------------------------------------
    def tessera_http(self) -> None:
        args = self.args
        data = self.workdir / "tessera"
        server = DevServer(data)
        self.stack.callback(server.stop)
        print(f"starting tessera server --dev on {server.addr} ...", flush=True)
        server.start()
        root = server.root_token()
        ssh = setup_http(server.addr, root)
        ca_line = httpx.get(f"{server.addr}/v1/ssh/public/{CA_NAME}", timeout=10).text.strip()
        self.check(ca_line == ssh.ca_public_key, "tessera: public CA key served without a token")
        auth = {TOKEN_HEADER: ssh.token, **JSON_TYPE}
        out = self.workdir / "tessera-http-certs"
        out.mkdir()
        certs: dict[int, Path] = {}
        with httpx.Client(base_url=server.addr, headers=auth, timeout=30) as c:
            for i in spread(len(self.keys), args.verify):
                r = c.post(SIGN_PATH, content=sign_body(self.keys[i]))
                r.raise_for_status()
                certs[i] = out / f"cert-{i}.pub"
                certs[i].write_text(r.json()["certificate"] + "\n")
        self.verify("tessera HTTP", ca_line, certs)
        bodies = write_bodies(self.workdir / "sign-tessera.hex", [sign_body(k) for k in self.keys])
        answered = len(certs)
        warm = self.load(server, bodies, "tessera-warmup", ssh.token, args.warmup)
        answered += warm.run.ok
        before = count_credentials_http(server.addr, root)
        h = self.load(server, bodies, "tessera sign", ssh.token, args.requests, HTTP_LABEL)
        answered += h.run.ok
        gained = count_credentials_http(server.addr, root) - before
        h.stored = gained
        if h.run.sent == h.run.answered:  # nothing in flight when wrk stopped: exact
            h.stored_ok = gained == h.run.ok
            what = f"tessera HTTP: {gained} SSH certificate credentials for {h.run.ok} 2xx answers"
        else:  # unanswered requests may or may not have been stored
            h.stored_ok = h.run.ok <= gained <= h.run.sent - (h.run.answered - h.run.ok)
            what = (
                f"tessera HTTP: {gained} credentials for {h.run.ok} 2xx answers and "
                f"{h.run.sent - h.run.answered} unanswered requests"
            )
        self.check(h.stored_ok, what)
        server.stop()
        with closing(sqlite3.connect(f"file:{data / SQLITE_FILE}?mode=ro", uri=True)) as db:
            rows = dict(db.execute("SELECT status, count(*) FROM ssh_certificates GROUP BY status"))
        issued = rows.pop("issued", 0)
        unanswered = sum(x.run.sent - x.run.answered for x in (warm, h))
        self.check(
            answered <= issued <= answered + unanswered and not rows,
            f"tessera HTTP, after stopping: {issued} issued rows in ssh_certificates for "
            f"{answered} certificates answered ({unanswered} unanswered); "
            f"other statuses: {rows or 'none'}",
        )

    def load(
        self, server: DevServer, bodies: Path, name: str, token: str, n: int, label: str = ""
    ) -> HttpRun:
        spec = WrkSpec(
            name=name,
            addr=server.addr,
            path=SIGN_PATH,
            bodies=bodies,
            requests=n,
            concurrency=self.args.concurrency,
            threads=self.args.wrk_threads,
            # a warm-up is short: at most WARMUP_CAP seconds
            duration=self.args.duration if label else min(self.args.duration, WARMUP_CAP),
            workdir=self.workdir,
            headers={TOKEN_HEADER: token, **JSON_TYPE},
        )
        print(f"  {name}: {n} x POST {SIGN_PATH} ...", flush=True)
        run = run_bodies(spec, server.pid)
        self.check(run.errors == 0, f"{name}: {run.errors} errors in {run.answered} answers")
        h = HttpRun(peer="tessera", kind="sign", label=label or name, run=run)
        if label:
            self.report.http.append(h)
        return h

    # -- in-process ----------------------------------------------------------------------------
    def inproc(self) -> None:
        args = self.args
        print(f"in-process: pyca/cryptography alone, {args.baseline_count} ...", flush=True)
        r = pyca_rate(self.keys, args.baseline_count, cap=args.inproc_cap)
        self.rate_ok(r)
        self.report.inproc.append(r)
        c = build(Settings(data_dir=self.workdir / "inproc"))
        self.stack.callback(c.close)
        init = c.operator.initialize(1, 1)
        root = c.tokens.authenticate(init.root_token)
        ssh, principal = setup_inproc(c, root)
        out = self.workdir / "inproc-certs"
        out.mkdir()
        certs: dict[int, Path] = {}
        for i in spread(len(self.keys), args.verify):
            certs[i] = out / f"cert-{i}.pub"
            certs[i].write_text(c.ssh.sign(principal, sign_request(self.keys[i])).certificate)
        self.verify("tessera in-process", ssh.ca_public_key, certs)
        before, ok = count_rows(c), 0
        for threads in args.threads:
            print(f"in-process: ssh.sign x{args.inproc_count}, {threads} thread(s) ...", flush=True)
            r = sign_rate(c, principal, self.keys, threads, args.inproc_count, args.inproc_cap)
            self.rate_ok(r)
            ok += r.ok
            self.report.inproc.append(r)
        gained = count_rows(c) - before
        self.check(gained == ok, f"in-process: {gained} issued rows for {ok} certificates signed")
        left = {s: count_rows(c, s) for s in ("pending", "abandoned")}
        self.check(not any(left.values()), f"in-process: rows left {left}")


def mark(report: SshReport) -> None:
    """Record how fast the CPU is right now, and how busy the machine is (other processes)."""
    report.calibration_ms.append(calibrate())
    report.loadavg_1m.append(float(Path("/proc/loadavg").read_text().split()[0]))


def ratios(report: SshReport) -> None:
    http = report.http[0].run.per_s if report.http else None
    signs = [r for r in report.inproc if r.name.startswith("ssh.sign")]
    best = max(signs, key=lambda r: r.per_s) if signs else None
    for k in report.keygen:
        if not k.per_s:
            continue
        if http is not None:
            report.ratios[f"Tessera HTTP / {k.name}"] = round(http / k.per_s, 3)
        if best is not None:
            report.ratios[f"Tessera {best.name} / {k.name}"] = round(best.per_s / k.per_s, 3)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the server is stopped either way
    signal.signal(signal.SIGTERM, interrupt)
    try:
        tools = ensure_tools()
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = SshReport(
        date=datetime.now(UTC).date().isoformat(),
        revision=revision(),
        machine=machine_info(),
        wrk=tools.wrk_version,
        openssh=tools.openssh_version,
        keys=args.keys,
    )
    workdir = Path(tempfile.mkdtemp(prefix="tessera-bench-ssh-"))
    bench = Bench(args, workdir, report)
    try:
        with bench.stack:
            mark(report)
            print(f"generating {args.keys} Ed25519 keys ...", flush=True)
            bench.keys = make_keys(args.keys)
            bench.pubs = write_pubs(workdir / "keys", bench.keys)
            if not args.skip_keygen:
                bench.keygen()
            if not args.skip_http:
                bench.tessera_http()
            mark(report)
            if not args.skip_inproc:
                bench.inproc()
    except KeyboardInterrupt:
        print("interrupted; the server was stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"data kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    mark(report)
    ratios(report)
    print_summary(report)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"\nJSON written to {args.json}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
