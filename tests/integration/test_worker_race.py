"""Two `tessera worker` processes on one PostgreSQL race over 1,000 due renewals: each
certificate is renewed exactly once, by one of them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tessera.app import build
from tessera.config import Settings
from tessera.pki.models import CAKind, CreateCARequest, IssueRequest

COUNT = 1000
DEADLINE = 240.0


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_two_workers_renew_each_due_certificate_once(tmp_path: Path, postgres_url: str) -> None:
    c = build(Settings(data_dir=tmp_path / "setup", database_url=postgres_url))
    try:
        init = c.operator.initialize(1, 1)
        root = c.tokens.authenticate(init.root_token)
        c.pki.cas.create(root, CreateCARequest(name="r", kind=CAKind.ROOT, common_name="Race"))
        c.pki.profiles.write(root, "svc", {
            "issuer": "r", "allowed_domains": ["*.race.test"], "ttl": "10m",
            "auto_renew": True, "renew_at": 0.01,
        })  # fmt: skip
        originals: list[str] = []
        for start in range(0, COUNT, 500):
            reqs = [IssueRequest(profile="svc", dns_names=(f"s{i}.race.test",))
                    for i in range(start, min(start + 500, COUNT))]  # fmt: skip
            for result in c.pki.issuance.issue_many(root, reqs):
                assert not isinstance(result, Exception), result
                originals.append(result.certificate.id)
        share = init.shares[0]
    finally:
        c.close()
    key_file = tmp_path / "unseal.key"
    key_file.write_text(share + "\n")
    time.sleep(6)  # 1 % of ten minutes: every original becomes due
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tessera", "worker", "--data-dir", str(tmp_path / f"w{i}"),
             "--database-url", postgres_url, "--unseal-key-file", str(key_file),
             "--duration", str(DEADLINE)],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"w{i}.log", "w"),  # noqa: SIM115
        )
        for i in range(2)
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE
        with psycopg.connect(_pg(postgres_url), autocommit=True) as db:
            while True:
                renewed = db.execute(
                    "SELECT count(DISTINCT renewed_from) FROM pki_certificates "
                    "WHERE renewed_from = ANY(%s)", (originals,)
                ).fetchone()[0]  # fmt: skip
                if renewed == COUNT:
                    break
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    logs = [(tmp_path / f"w{i}.log").read_text()[-2000:] for i in range(2)]
                    pytest.fail(f"{renewed}/{COUNT} renewed; worker logs: {logs}")
                time.sleep(0.5)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=60)
    with psycopg.connect(_pg(postgres_url), autocommit=True) as db:
        twice = db.execute(
            "SELECT renewed_from, count(*) FROM pki_certificates WHERE renewed_from = ANY(%s) "
            "GROUP BY renewed_from HAVING count(*) > 1", (originals,)
        ).fetchall()  # fmt: skip
        assert twice == []
        jobs = dict(db.execute(
            "SELECT state, count(*) FROM lifecycle_jobs WHERE subject_id = ANY(%s) GROUP BY state",
            (originals,),
        ).fetchall())  # fmt: skip
        assert jobs == {"done": COUNT}
        by_node = db.execute(
            "SELECT count(DISTINCT claimed_by) FROM lifecycle_jobs WHERE subject_id = ANY(%s)",
            (originals,),
        ).fetchone()[0]  # fmt: skip
        assert by_node >= 1
