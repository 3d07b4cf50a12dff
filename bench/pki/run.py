"""Tessera PKI benchmark: certificate issuance (ECDSA P-256, every certificate stored) and OCSP
throughput, with cfssl measured in the same run by the same load generator.

    .venv/bin/python bench/pki/run.py                  # the whole run, 1.5 - 2.5 minutes
    .venv/bin/python bench/pki/run.py --json pki.json --requests 6000 --csrs 6000

1. Tools: `wrk` and `cfssl` (Debian `wrk`, `golang-cfssl`), installed with apt-get if absent.
2. `--csrs` distinct ECDSA P-256 CSRs for `bench-<i>.example.com` are generated once; both
   peers are sent the same CSRs in the same order.
3. cfssl: a P-256 CA from `cfssl gencert -initca`, then `cfssl serve` (`POST
   /api/v1/cfssl/sign`, body {"certificate_request": PEM}): a warm-up, then
   `--cfssl-requests` signs. It stores nothing. Then `--requests` signs with cfssl's SQLite
   certdb (`-db-config`, WAL), so that every certificate is stored as Tessera stores it; then
   cfssl's OCSP responder (`ocsprefresh` pre-signs one response per stored certificate,
   `ocspserve` serves them from memory).
4. Tessera: `python -m tessera server --dev` (bench/server.py), root and intermediate CA
   (ec-p256), profile `bench-web` (`*.example.com`), a non-root token allowed only
   `pki/sign/bench-web`; `POST /v1/pki/sign/bench-web` {"csr": PEM}: a warm-up, then
   `--requests` signs. Afterwards `GET /v1/pki/certs` must list exactly one more issued
   certificate per 2xx answer, and none pending. Then OCSP (`POST
   /v1/pki/public/<ca>/ocsp`) for 16 issued serials: without a nonce (the responder may answer
   from its cache of signed responses) and with one (signed per request).
5. In-process (no HTTP): the same CSRs through `container.pki.issuance.issue` from 1, 2 and 8
   threads (`--threads`), `--inproc-count` each, every certificate stored and counted
   afterwards; `ocsp.respond` per second; and what building + signing one leaf costs with
   pyca/cryptography alone (the ceiling for one Python thread).

All HTTP runs use `wrk -t1 -c8` (`--wrk-threads`, `--concurrency`), count non-2xx and socket
errors as errors, stop after their count or at `--duration` seconds, whichever is first. The
servers run in a temporary directory and are stopped on exit, Ctrl-C and SIGTERM.
Exit status: 0 when there was no error and every check passed; 1 otherwise; 2 when a tool is
missing and cannot be installed.

Modules (bench/pki/, imported as siblings; bench/ is put on sys.path for the shared pieces:
`server.DevServer`, `report.machine_info`, `report.calibrate`, `report.revision`):
`pki_tools` wrk and cfssl; `pki_csrs` CSRs, OCSP requests, wrk body files; `pki_wrk` the wrk
script and run; `pki_cfssl` the cfssl CA and servers; `pki_tessera` Tessera setup and checks;
`pki_inproc` in-process rates; `pki_report` records, tables and JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # bench/: the shared harness

import httpx
from cryptography import x509
from pki_cfssl import SIGN_PATH as CFSSL_SIGN_PATH
from pki_cfssl import CfsslCA, CfsslServer
from pki_csrs import (
    cfssl_body,
    make_csrs,
    ocsp_requests,
    tessera_body,
    write_bodies,
)
from pki_inproc import count_issued, issue_many_rate, issue_rate, ocsp_rate, pyca_baseline
from pki_report import HttpRun, PkiReport, interrupt, print_summary, sign_rate
from pki_tessera import (
    INT_CA,
    PROFILE,
    SIGN_PATH,
    TOKEN_HEADER,
    check_leaf,
    check_ocsp,
    count_issued_http,
    setup_http,
    setup_inproc,
)
from pki_tools import ToolError, ensure_tools
from pki_wrk import WrkSpec, run_bodies

from report import calibrate, machine_info, revision
from server import DevServer
from tessera.app import build
from tessera.config import Settings
from tessera.pki.models import CertStatus, IssueRequest

OCSP_TYPE = {"Content-Type": "application/ocsp-request"}
JSON_TYPE = {"Content-Type": "application/json"}
OCSP_SERIALS = 16  # certificates the OCSP runs ask about
OCSP_LABEL = "tessera OCSP, no nonce (cached)"
OCSP_NONCE_LABEL = "tessera OCSP, nonce (signed per request)"
CFSSL_OCSP_LABEL = "cfssl ocspserve (pre-signed), no nonce"


@dataclass
class Target:
    """Where a load run goes: the peer, what it measures, URL, headers, the server's pid."""

    peer: str
    kind: str
    addr: str
    path: str
    headers: dict[str, str]
    pid: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Tessera PKI benchmark: issuance and OCSP per second, cfssl alongside."
    )
    p.add_argument("--csrs", type=int, default=3_000, help="distinct CSRs (default 3000)")
    p.add_argument(
        "--requests",
        type=int,
        default=3_000,
        help="signs per storing HTTP run: Tessera, cfssl+certdb (default 3000)",
    )
    p.add_argument(
        "--cfssl-requests",
        type=int,
        default=20_000,
        help="signs for cfssl without storage, a few seconds at its rate (default 20000)",
    )
    p.add_argument("--warmup", type=int, default=200, help="signs before each HTTP run")
    p.add_argument("--ocsp-requests", type=int, default=10_000, help="Tessera OCSP, no nonce")
    p.add_argument("--ocsp-nonce-requests", type=int, default=2_000, help="Tessera OCSP, nonce")
    p.add_argument("--cfssl-ocsp-requests", type=int, default=40_000, help="cfssl OCSP")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--duration", type=float, default=60.0, help="time cap per HTTP run (s)")
    p.add_argument(
        "--threads",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 2, 8],
        help="in-process issuing threads, comma-separated (default 1,2,8)",
    )
    p.add_argument("--inproc-count", type=int, default=2_000, help="issues per in-process run")
    p.add_argument("--inproc-cap", type=float, default=30.0, help="time cap per in-process run")
    p.add_argument("--baseline-count", type=int, default=5_000, help="pyca-only leaf signs")
    p.add_argument("--inproc-ocsp", type=int, default=100_000, help="ocsp.respond, no nonce")
    p.add_argument("--inproc-ocsp-nonce", type=int, default=5_000, help="ocsp.respond, nonce")
    p.add_argument(
        "--cfssl-loglevel", type=int, default=1, help="cfssl -loglevel (default 1, its default)"
    )
    p.add_argument("--skip-cfssl", action="store_true", help="no cfssl runs")
    p.add_argument("--skip-cfssl-certdb", action="store_true", help="no cfssl+certdb/OCSP runs")
    p.add_argument("--skip-http", action="store_true", help="no Tessera HTTP runs")
    p.add_argument("--skip-inproc", action="store_true")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if args.csrs < 1 or args.requests < 1 or min(args.threads) < 1:
        p.error("--csrs, --requests and --threads must be positive")
    return args


class Bench:
    """One run: the shared inputs, the report, and every server to stop at the end."""

    def __init__(self, args: argparse.Namespace, workdir: Path, report: PkiReport) -> None:
        self.args = args
        self.workdir = workdir
        self.report = report
        self.stack = ExitStack()
        self.csrs: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        (self.report.checks if ok else self.report.failures).append(what)
        if not ok:
            print(f"  FAILED: {what}", file=sys.stderr, flush=True)
        return ok

    def load(self, target: Target, name: str, bodies: Path, n: int, label: str = "") -> HttpRun:
        """One wrk run; reported (under `label`) unless it is a warm-up (no label)."""
        spec = WrkSpec(
            name=name,
            addr=target.addr,
            path=target.path,
            bodies=bodies,
            requests=n,
            concurrency=self.args.concurrency,
            threads=self.args.wrk_threads,
            duration=self.args.duration,
            workdir=self.workdir,
            headers=target.headers,
        )
        print(f"  {name}: {n} x POST {target.path} ...", flush=True)
        run = run_bodies(spec, target.pid)
        self.check(run.errors == 0, f"{name}: {run.errors} errors in {run.answered} answers")
        h = HttpRun(peer=target.peer, kind=target.kind, label=label or name, run=run)
        if label:
            self.report.http.append(h)
        return h

    def exact(self, h: HttpRun) -> bool:
        """Nothing was in flight when wrk stopped: the stored count must equal the 2xx count."""
        return h.run.sent == h.run.answered

    def stored_matches(self, h: HttpRun, gained: int) -> bool:
        run = h.run
        h.stored = gained
        if self.exact(h):
            h.stored_ok = gained == run.ok
            what = f"{h.label}: {gained} certificates stored for {run.ok} 2xx answers"
        else:  # unanswered requests may or may not have been stored
            h.stored_ok = run.ok <= gained <= run.sent - (run.answered - run.ok)
            what = (
                f"{h.label}: {gained} stored for {run.ok} 2xx answers and "
                f"{run.sent - run.answered} unanswered requests"
            )
        self.check(h.stored_ok, what)
        return h.stored_ok

    # -- cfssl ---------------------------------------------------------------------------------
    def cfssl(self, cfssl: str, sign_bodies: Path) -> None:
        args = self.args
        ca = CfsslCA(self.workdir / "cfssl", cfssl)
        plain = CfsslServer(ca, "cfssl", loglevel=args.cfssl_loglevel)
        self.stack.callback(plain.stop)
        print(f"starting cfssl serve on {plain.addr} ...", flush=True)
        plain.start()
        self._cfssl_sanity(plain, ca, 3)
        target = Target("cfssl", "sign", plain.addr, CFSSL_SIGN_PATH, JSON_TYPE, plain.pid)
        self.load(target, "cfssl-warmup", sign_bodies, args.warmup)
        label = "cfssl sign (not stored)"
        self.load(target, "cfssl sign", sign_bodies, args.cfssl_requests, label)
        plain.stop()
        if args.skip_cfssl_certdb:
            return
        stored = CfsslServer(ca, "cfssl+certdb", db=True, loglevel=args.cfssl_loglevel)
        self.stack.callback(stored.stop)
        print(f"starting cfssl serve -db-config (SQLite) on {stored.addr} ...", flush=True)
        stored.start()
        certs = self._cfssl_sanity(stored, ca, OCSP_SERIALS)
        target = Target("cfssl+certdb", "sign", stored.addr, CFSSL_SIGN_PATH, JSON_TYPE, stored.pid)
        self.load(target, "cfssl+certdb-warmup", sign_bodies, args.warmup)
        before = stored.stored()
        label = "cfssl sign, stored in its SQLite certdb"
        h = self.load(target, "cfssl+certdb sign", sign_bodies, args.requests, label)
        self.stored_matches(h, stored.stored() - before)
        print("  cfssl ocsprefresh + ocspdump + ocspserve ...", flush=True)
        responder = stored.ocsp_server()
        reqs = ocsp_requests(certs, ca.certificate)
        check = httpx.post(responder.addr + "/", content=reqs[0], headers=OCSP_TYPE, timeout=10)
        check_ocsp(check.content, certs[0], ca.certificate)
        self.check(True, "cfssl ocspserve: a pre-signed answer is 'good', signed by the CA")
        bodies = write_bodies(self.workdir / "ocsp-cfssl.hex", reqs)
        target = Target("cfssl", "ocsp", responder.addr, "/", OCSP_TYPE, responder.pid)
        self.load(target, "cfssl ocsp", bodies, args.cfssl_ocsp_requests, CFSSL_OCSP_LABEL)
        stored.stop()

    def _cfssl_sanity(self, server: CfsslServer, ca: CfsslCA, n: int) -> list[x509.Certificate]:
        certs = []
        with httpx.Client(base_url=server.addr, timeout=30) as c:
            for csr in self.csrs[:n]:
                r = c.post(CFSSL_SIGN_PATH, json={"certificate_request": csr})
                r.raise_for_status()
                cert = x509.load_pem_x509_certificate(r.json()["result"]["certificate"].encode())
                check_leaf(cert, ca.certificate, csr)
                certs.append(cert)
        self.check(True, f"{server.name}: {n} certificates verified (issuer, key, SAN, leaf)")
        return certs

    # -- Tessera over HTTP ---------------------------------------------------------------------
    def tessera_http(self, sign_bodies: Path) -> None:
        args = self.args
        server = DevServer(self.workdir / "tessera")
        self.stack.callback(server.stop)
        print(f"starting tessera server --dev on {server.addr} ...", flush=True)
        server.start()
        root = server.root_token()
        pki = setup_http(server.addr, root)
        auth = {TOKEN_HEADER: pki.token, **JSON_TYPE}
        certs = []
        with httpx.Client(base_url=server.addr, headers=auth, timeout=30) as c:
            for csr in self.csrs[:OCSP_SERIALS]:
                r = c.post(SIGN_PATH, json={"csr": csr})
                r.raise_for_status()
                cert = x509.load_pem_x509_certificate(r.json()["certificate_pem"].encode())
                check_leaf(cert, pki.int_cert, csr)
                certs.append(cert)
        self.check(True, f"tessera: {OCSP_SERIALS} certificates verified (issuer, key, SAN)")
        target = Target("tessera", "sign", server.addr, SIGN_PATH, auth, server.pid)
        self.load(target, "tessera-warmup", sign_bodies, args.warmup)
        before = count_issued_http(server.addr, root, INT_CA)
        label = "tessera sign (every certificate stored)"
        h = self.load(target, "tessera sign", sign_bodies, args.requests, label)
        self.stored_matches(h, count_issued_http(server.addr, root, INT_CA) - before)
        pending = count_issued_http(server.addr, root, INT_CA, status="pending")
        self.check(pending == 0, f"tessera: {pending} certificates left pending")

        path = f"/v1/pki/public/{pki.int_ca_id}/ocsp"
        plain = ocsp_requests(certs, pki.int_cert)
        nonced = ocsp_requests(certs, pki.int_cert, nonces=16)
        for req in (plain[0], nonced[0]):
            r = httpx.post(server.addr + path, content=req, headers=OCSP_TYPE, timeout=10)
            check_ocsp(r.content, certs[0], pki.int_cert)
        self.check(True, "tessera OCSP: answers 'good', signed by the delegated responder")
        target = Target("tessera", "ocsp", server.addr, path, OCSP_TYPE, server.pid)
        runs = (
            ("tessera ocsp", plain, args.ocsp_requests, OCSP_LABEL),
            ("tessera ocsp-nonce", nonced, args.ocsp_nonce_requests, OCSP_NONCE_LABEL),
        )
        for name, reqs, n, label in runs:
            bodies = write_bodies(self.workdir / f"{name.replace(' ', '-')}.hex", reqs)
            self.load(target, name, bodies, n, label)
        server.stop()

    # -- in-process ----------------------------------------------------------------------------
    def inproc(self) -> None:
        args = self.args
        print(f"in-process: pyca/cryptography alone, {args.baseline_count} leaves ...", flush=True)
        for threads in (1, 2):
            base = pyca_baseline(self.csrs, args.baseline_count, threads)
            base.name = f"pyca/cryptography only: CSR -> signed DER, {threads} thread(s)"
            self.report.inproc.append(base)
        c = build(Settings(data_dir=self.workdir / "inproc"))
        self.stack.callback(c.close)
        init = c.operator.initialize(1, 1)
        root = c.tokens.authenticate(init.root_token)
        pki, principal = setup_inproc(c, root)
        # warm-up, and the certificates the OCSP runs ask about
        certs = []
        for csr in self.csrs[:OCSP_SERIALS]:
            issued = c.pki.issuance.issue(principal, IssueRequest(profile=PROFILE, csr_pem=csr))
            cert = x509.load_pem_x509_certificate(issued.certificate.certificate_pem.encode())
            check_leaf(cert, pki.int_cert, csr)
            certs.append(cert)
        self.check(True, f"in-process: {OCSP_SERIALS} certificates verified (issuer, key, SAN)")
        before = count_issued(c, root)
        ok = 0
        for threads in args.threads:
            print(f"in-process: issue x{args.inproc_count}, {threads} thread(s) ...", flush=True)
            r = issue_rate(c, principal, self.csrs, threads, args.inproc_count, args.inproc_cap)
            r.name = f"issuance.issue, {threads} thread(s), stored"
            self.check(r.errors == 0, f"in-process {threads} thread(s): {r.errors} errors")
            ok += r.ok
            self.report.inproc.append(r)
        print(f"in-process: issue_many x{args.inproc_count}, 64 per call ...", flush=True)
        r = issue_many_rate(c, principal, self.csrs, 64, args.inproc_count, args.inproc_cap)
        self.check(r.errors == 0, f"in-process issue_many: {r.errors} errors")
        ok += r.ok
        self.report.inproc.append(r)
        gained = count_issued(c, root) - before
        self.check(gained == ok, f"in-process: {gained} certificates stored for {ok} issued")
        pending = count_issued(c, root, CertStatus.PENDING)
        self.check(pending == 0, f"in-process: {pending} certificates left pending")

        plain = ocsp_requests(certs, pki.int_cert)
        nonced = ocsp_requests(certs, pki.int_cert, nonces=16)
        check_ocsp(c.pki.ocsp.respond(pki.int_ca_id, plain[0]), certs[0], pki.int_cert)
        check_ocsp(c.pki.ocsp.respond(pki.int_ca_id, nonced[0]), certs[0], pki.int_cert)
        self.check(True, "in-process OCSP: answers 'good', signed by the delegated responder")
        print("in-process: ocsp.respond ...", flush=True)
        for name, reqs, n in (
            ("ocsp.respond, no nonce (cached), 1 thread", plain, args.inproc_ocsp),
            ("ocsp.respond, nonce (signed), 1 thread", nonced, args.inproc_ocsp_nonce),
        ):
            r = ocsp_rate(c, name, pki.int_ca_id, reqs, n)
            self.check(r.errors == 0, f"{name}: {r.errors} errors")
            self.report.inproc.append(r)


def mark(report: PkiReport) -> None:
    """Record how fast the CPU is right now, and how busy the machine is (other processes)."""
    report.calibration_ms.append(calibrate())
    report.loadavg_1m.append(float(Path("/proc/loadavg").read_text().split()[0]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the servers are stopped either way
    signal.signal(signal.SIGTERM, interrupt)
    try:
        tools = ensure_tools()
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = PkiReport(
        date=datetime.now(UTC).date().isoformat(),
        revision=revision(),
        machine=machine_info(),
        wrk=tools.wrk_version,
        cfssl=tools.cfssl_version.removeprefix("Version: "),
        csrs=args.csrs,
    )
    workdir = Path(tempfile.mkdtemp(prefix="tessera-bench-pki-"))
    bench = Bench(args, workdir, report)
    try:
        with bench.stack:
            mark(report)
            print(f"generating {args.csrs} ECDSA P-256 CSRs ...", flush=True)
            bench.csrs = make_csrs(args.csrs)
            if not args.skip_cfssl:
                bodies = write_bodies(workdir / "sign-cfssl.hex", map_bodies(bench, cfssl_body))
                bench.cfssl(tools.cfssl, bodies)
            if not args.skip_http:
                bodies = write_bodies(workdir / "sign-tessera.hex", map_bodies(bench, tessera_body))
                bench.tessera_http(bodies)
            mark(report)
            if not args.skip_inproc:
                bench.inproc()
    except KeyboardInterrupt:
        print("interrupted; the servers were stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"data kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    mark(report)
    tessera, cfssl, stored = (sign_rate(report, p) for p in ("tessera", "cfssl", "cfssl+certdb"))
    if tessera is not None and cfssl:
        report.ratio_vs_cfssl = round(tessera / cfssl, 3)
    if tessera is not None and stored:
        report.ratio_vs_cfssl_certdb = round(tessera / stored, 3)
    ocsp = {(h.peer, h.label): h.run.per_s for h in report.http if h.kind == "ocsp"}
    ours = ocsp.get(("tessera", OCSP_LABEL))
    theirs = ocsp.get(("cfssl", CFSSL_OCSP_LABEL))
    if ours is not None and theirs:
        report.ratio_ocsp_vs_cfssl = round(ours / theirs, 3)
    print_summary(report)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"\nJSON written to {args.json}")
    return 1 if report.failures else 0


def map_bodies(bench: Bench, fn: Callable[[str], bytes]) -> list[bytes]:
    return [fn(csr) for csr in bench.csrs]


if __name__ == "__main__":
    raise SystemExit(main())
