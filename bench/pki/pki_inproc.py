"""In-process issuance and OCSP rates, and what pyca/cryptography alone costs per leaf.

Contract: `pyca_baseline(csrs, count, threads)` times what any CA must do per CSR with
pyca/cryptography alone: load the PEM CSR, verify its signature, build a leaf with the
extensions Tessera puts in one (basic constraints, key usage, EKU, SAN, SKI, AKI, AIA, CRL
distribution point), sign it with an ECDSA P-256 key (SHA-256) and DER-encode it; nothing is
stored. `issue_rate(c, principal, csrs, threads, count, cap)` calls
`c.pki.issuance.issue(principal, IssueRequest(profile, csr_pem))` `count` times in all from
`threads` threads (CSRs in a cycle), or until `cap` seconds have passed. `ocsp_rate(c, ca_id,
requests, count)` calls `c.pki.ocsp.respond` `count` times in one thread. `count_issued(c,
root)` pages through `issuance.list` for the bench CA. Each rate is a `Rate`: successes per
second, errors (exceptions; the first three messages kept) and the process's CPU time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from pki_tessera import INT_CA, PROFILE

from tessera.app import Container
from tessera.auth.models import Principal
from tessera.pki.models import CertQuery, CertStatus, IssueRequest


@dataclass
class Rate:
    name: str
    threads: int
    requested: int
    ok: int
    errors: int
    duration_s: float
    per_s: float
    us_per_op: float
    cpu_s: float  # process CPU time (all threads) over the run
    cpu_us_per_op: float  # that CPU time per success: steadier than wall time on a busy VM
    cores_busy: float
    capped: bool
    error_samples: list[str] = field(default_factory=list)


def _timed(name: str, threads: int, count: int, cap: float, op: Callable[[int], object]) -> Rate:
    """Run op(i) for i in 0..count-1 from `threads` threads until done or `cap` seconds."""
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "errors": 0}
    samples: list[str] = []
    deadline = time.monotonic() + cap

    def worker() -> None:
        while True:
            with lock:
                i = state["next"]
                if i >= count or time.monotonic() > deadline:
                    return
                state["next"] = i + 1
            try:
                op(i)
            except Exception as exc:  # counted and reported, never hidden
                with lock:
                    state["errors"] += 1
                    if len(samples) < 3:
                        samples.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                with lock:
                    state["ok"] += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    pool = [threading.Thread(target=worker, name=f"bench-{name}-{k}") for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ok = state["ok"]
    return Rate(
        name=name,
        threads=threads,
        requested=count,
        ok=ok,
        errors=state["errors"],
        duration_s=round(elapsed, 3),
        per_s=round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        us_per_op=round(elapsed * 1e6 / ok, 1) if ok else 0.0,
        cpu_s=round(cpu, 2),
        cpu_us_per_op=round(cpu * 1e6 / ok, 1) if ok else 0.0,
        cores_busy=round(cpu / elapsed, 2) if elapsed > 0 else 0.0,
        capped=state["next"] < count,
        error_samples=samples,
    )


def pyca_baseline(csrs: Sequence[str], count: int, threads: int = 1, cap: float = 30.0) -> Rate:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Baseline CA")])
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    base = "http://127.0.0.1:8200/v1/pki/public/baseline"
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(f"{base}/ocsp")
            ),
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(f"{base}/ca.der"),
            ),
        ]
    )
    cdp = x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                [x509.UniformResourceIdentifier(f"{base}/crl.der")], None, None, None
            )
        ]
    )
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    now = datetime.now(UTC)

    def sign(i: int) -> object:
        csr = x509.load_pem_x509_csr(csrs[i % len(csrs)].encode())
        if not csr.is_signature_valid:
            raise ValueError("bad CSR signature")
        key = csr.public_key()
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca_name)
            .public_key(key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(hours=720))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(sans, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
            .add_extension(aki, critical=False)
            .add_extension(aia, critical=False)
            .add_extension(cdp, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.DER)

    return _timed(f"pyca-baseline-t{threads}", threads, count, cap, sign)


def issue_rate(
    c: Container,
    principal: Principal,
    csrs: Sequence[str],
    threads: int,
    count: int,
    cap: float,
) -> Rate:
    def issue(i: int) -> object:
        return c.pki.issuance.issue(
            principal, IssueRequest(profile=PROFILE, csr_pem=csrs[i % len(csrs)])
        )

    return _timed(f"issue-t{threads}", threads, count, cap, issue)


def issue_many_rate(
    c: Container, principal: Principal, csrs: Sequence[str], chunk: int, count: int, cap: float
) -> Rate:
    """`issuance.issue_many` with `chunk` CSRs per call from one thread, `count` in all."""
    done = {"ok": 0, "errors": 0}
    samples: list[str] = []
    deadline = time.monotonic() + cap
    cpu0, t0 = time.process_time(), time.perf_counter()
    i = 0
    while i < count and time.monotonic() < deadline:
        n = min(chunk, count - i)
        reqs = [IssueRequest(profile=PROFILE, csr_pem=csrs[(i + k) % len(csrs)]) for k in range(n)]
        for result in c.pki.issuance.issue_many(principal, reqs):
            if isinstance(result, Exception):
                done["errors"] += 1
                if len(samples) < 3:
                    samples.append(f"{type(result).__name__}: {result}"[:300])
            else:
                done["ok"] += 1
        i += n
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ok = done["ok"]
    return Rate(
        name=f"issuance.issue_many, {chunk} per call, 1 thread, stored",
        threads=1,
        requested=count,
        ok=ok,
        errors=done["errors"],
        duration_s=round(elapsed, 3),
        per_s=round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        us_per_op=round(elapsed * 1e6 / ok, 1) if ok else 0.0,
        cpu_s=round(cpu, 2),
        cpu_us_per_op=round(cpu * 1e6 / ok, 1) if ok else 0.0,
        cores_busy=round(cpu / elapsed, 2) if elapsed > 0 else 0.0,
        capped=i < count,
        error_samples=samples,
    )


def ocsp_rate(c: Container, name: str, ca_id: str, requests: Sequence[bytes], count: int) -> Rate:
    def respond(i: int) -> object:
        return c.pki.ocsp.respond(ca_id, requests[i % len(requests)])

    return _timed(name, 1, count, 60.0, respond)


def count_issued(c: Container, root: Principal, status: CertStatus = CertStatus.ISSUED) -> int:
    total, cursor = 0, None
    while True:
        page = c.pki.issuance.list(
            root, CertQuery(ca=INT_CA, status=status, limit=1000, cursor=cursor)
        )
        total += len(page.items)
        cursor = page.next_cursor
        if not cursor:
            return total
