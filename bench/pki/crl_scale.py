"""CRL scale: a CA with `--revoked` (100,000) revoked certificates — how long a full rebuild
takes (first, with nothing cached, and again after a few more revocations), how large the CRL
is, and how long a revocation request takes meanwhile. In-process on SQLite, real clock.

    .venv/bin/python bench/pki/crl_scale.py [--revoked 100000] [--json FILE]

The revoked rows are bulk-inserted as a long-lived CA accumulates them (signing 100,000
certificates first would only measure issuance). Bounded: one build of each kind.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from report import calibrate, machine_info, revision
from tessera.app import build
from tessera.config import Settings
from tessera.pki.models import (
    CAKind,
    CreateCARequest,
    IssueRequest,
    RevocationReason,
    RevokeRequest,
)
from tessera.storage.models import PkiCertificateRow


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--revoked", type=int, default=100_000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tessera-crl-") as tmp:
        c = build(Settings(data_dir=Path(tmp)))
        try:
            out = run(c, args.revoked)
        finally:
            c.close()
    out.update(revision=revision(), machine=str(machine_info()), calibration_ms=calibrate())
    for key, value in out.items():
        print(f"{key:>34}: {value}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


def run(c: object, n: int) -> dict[str, object]:
    from tessera.app import Container

    assert isinstance(c, Container)
    init = c.operator.initialize(1, 1)
    root = c.tokens.authenticate(init.root_token)
    c.pki.cas.create(root, CreateCARequest(name="root", kind=CAKind.ROOT, common_name="R"))
    ca = c.pki.cas.create(
        root, CreateCARequest(name="int", kind=CAKind.INTERMEDIATE, common_name="I", parent="root")
    )
    c.pki.profiles.write(root, "web", {"issuer": "int", "allowed_domains": ["*.example.com"]})
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    with c.db.session(write=True) as s:
        rows = [
            {
                "id": f"R{i:025d}",
                "ca_id": ca.id,
                "serial": format((1 << 120) + i, "x"),
                "status": "revoked",
                "common_name": f"h{i}.example.com",
                "created_at": now,
                "revoked_at": now,
                "revocation_reason": "key_compromise" if i % 2 else "superseded",
            }
            for i in range(n)
        ]
        s.connection().execute(insert(PkiCertificateRow.__table__), rows)  # type: ignore[arg-type]
    seeded = time.perf_counter() - t0
    crls = c.pki.crls
    c.pki.revocation.revoke(root, RevokeRequest(cert_id=_issue(c, root), reason=_KC))
    # the cold rebuild runs in a thread while revocations are timed beside it: a rebuild
    # holds no lock, so they must not wait for it
    victims = [_issue(c, root) for _ in range(10)]
    built: list[float] = []
    t1 = time.perf_counter()
    builder = threading.Thread(target=lambda: built.append(_timed(crls.rebuild, ca.id)))
    builder.start()
    latencies = []
    for cert_id in victims:
        t = time.perf_counter()
        c.pki.revocation.revoke(root, RevokeRequest(cert_id=cert_id, reason=_KC))
        latencies.append((time.perf_counter() - t) * 1000)
    builder.join()
    cold = built[0]
    revoke_ms = max(latencies)
    del t1
    t3 = time.perf_counter()
    assert crls.rebuild(ca.id)
    warm = time.perf_counter() - t3
    stored = crls.current(ca.id)
    crl = x509.load_der_x509_crl(stored.der)
    assert len(crl) == n + 11, len(crl)  # the seeded rows, the first and the ten revoked
    t4 = time.perf_counter()
    for _ in range(20):
        crls.current(ca.id)
    serve_ms = (time.perf_counter() - t4) / 20 * 1000
    return {
        "revoked entries": len(crl),
        "CRL size (bytes)": len(stored.der),
        "seed insert (s)": round(seeded, 2),
        "rebuild, nothing cached (s)": round(cold, 2),
        "rebuild after 10 more (s)": round(warm, 2),
        "slowest revocation during rebuild (ms)": round(revoke_ms, 1),
        "serve current CRL (ms)": round(serve_ms, 3),
    }


_KC = RevocationReason.KEY_COMPROMISE


def _timed(step: Callable[[str], object], arg: str) -> float:
    t = time.perf_counter()
    assert step(arg)
    return time.perf_counter() - t


def _issue(c: object, root: object) -> str:
    from tessera.app import Container

    assert isinstance(c, Container)
    out = c.pki.issuance.issue(root, IssueRequest(profile="web", common_name="x.example.com"))  # type: ignore[arg-type]
    return out.certificate.id


if __name__ == "__main__":
    raise SystemExit(main())
