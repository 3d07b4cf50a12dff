"""Inventory paging at a million credentials: keyset pages stay fast however deep or filtered.

    .venv/bin/python bench/inventory.py                         # SQLite, 1,000,000 credentials
    .venv/bin/python bench/inventory.py --rows 200000
    .venv/bin/python bench/inventory.py --postgres postgresql://postgres@127.0.0.1:5432/test

Loads `--rows` credentials (60% x509 certificates, 20% SSH keys, 10% private keys, 10% leaked
secrets; 1,000 identities in 5 environments; expiry spread over -30..+730 days; 5% revoked) in
bulk into a fresh, migrated database (SQLite in a temporary directory; PostgreSQL: a fresh
database `tessera_invbench_<hex>` made with the given admin URL, COPY-loaded, ANALYZEd as
autovacuum would, dropped at the end), with three search names per credential (name, SAN,
fingerprint). Then times `InventoryService.list_credentials` (100 per page, policy stubbed to
allow) for: the first page; page 500 reached through 499 cursors; kind=x509 + expiring-within
30d (first page and page 10); q= a narrow and a broad prefix; sort=expiry (page 1 and 50);
environment; key_type+key_bits; and prints each query's plan. Medians of 5 runs.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, event, insert, select, text

from tessera.auth.models import Principal
from tessera.core.clock import FakeClock
from tessera.core.ids import new_ulid
from tessera.core.randomness import SystemRandomness
from tessera.inventory import repository as repo
from tessera.inventory.models import (
    CredentialKind,
    CredentialQuery,
    CredentialSort,
    CredentialStatus,
    Page,
    SearchMatch,
)
from tessera.inventory.service import InventoryService
from tessera.storage.db import Database, DatabaseConfig
from tessera.storage.models import CredentialNameRow, CredentialRow, IdentityRow

NOW = datetime(2030, 1, 1, tzinfo=UTC)
KINDS = [("x509_certificate", 6), ("ssh_key", 2), ("private_key", 1), ("leaked_secret", 1)]
KEYS = [("rsa", 2048), ("rsa", 4096), ("ec", 256), ("ec", 384), ("ed25519", 256), ("rsa", 1024)]
ENVS = ["prod", "staging", "dev", "test", "lab"]
BATCH = 20_000
DAYS_30 = timedelta(days=30)


class AllowAll:
    """Policy stub: the bench measures queries, not policy evaluation."""

    def authorize(self, principal: Any, path: str, capability: Any, *, sudo: bool = False) -> Any:
        return None

    def permits(self, principal: Any, path: str, capability: Any) -> bool:
        return True


def rows(n: int, identity_ids: list[str]) -> Iterator[tuple[dict[str, Any], list[str]]]:
    rnd, rng = random.Random(7), SystemRandomness()
    clock = FakeClock(NOW - timedelta(days=400))
    kinds = [k for k, w in KINDS for _ in range(w)]
    for i in range(n):
        clock.advance(0.01)
        kind = kinds[i % len(kinds)]
        key_type, bits = KEYS[rnd.randrange(len(KEYS))]
        host = f"host{i}.svc{i % 997}.example.com"
        fp = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
        cert = kind == "x509_certificate"
        row = {
            "id": new_ulid(clock, rng),
            "kind": kind,
            "fingerprint": fp,
            "name": host,
            "identity_id": identity_ids[i % len(identity_ids)] if i % 3 else None,
            "owner": f"team-{i % 50}",
            "source": "managed" if i % 4 == 0 else "discovered",
            "status": "revoked" if i % 20 == 0 else "active",
            "issued_at": clock.now(),
            "not_after": NOW + timedelta(minutes=rnd.randrange(-30 * 1440, 730 * 1440))
            if kind != "leaked_secret"
            else None,
            "last_used_at": None,
            "last_rotated_at": None,
            "attributes": {"subject": f"CN={host}", "sans": [f"DNS:www.{host}"]},
            "created_at": clock.now(),
            "updated_at": clock.now(),
            "key_type": key_type if kind != "leaked_secret" else None,
            "key_bits": bits if kind != "leaked_secret" else None,
            "signature_algorithm": "rsa-with-sha256" if cert else None,
        }
        yield row, [host, f"www.{host}", fp]


def load(db: Database, n: int) -> float:
    started = time.perf_counter()
    with db.session(write=True) as s:
        idents = []
        for i in range(1000):
            iid = f"0I{i:024d}"
            idents.append(
                {
                    "id": iid, "name": f"svc-{i}", "kind": "workload", "owner": f"team-{i % 50}",
                    "environment": ENVS[i % 5], "labels": {}, "spiffe_id": None,
                    "status": "active", "created_at": NOW, "updated_at": NOW,
                    "decommissioned_at": None,
                }
            )  # fmt: skip
        s.connection().execute(insert(cast(Table, IdentityRow.__table__)), idents)
    ids = [i["id"] for i in idents]
    batch: list[tuple[dict[str, Any], list[str]]] = []
    for done, item in enumerate(rows(n, ids), 1):
        batch.append(item)
        if len(batch) == BATCH or done == n:
            _write(db, batch)
            batch = []
            print(f"\r  loaded {done:,}", end="", file=sys.stderr)
    print(file=sys.stderr)
    if not db.is_sqlite:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def _write(db: Database, batch: list[tuple[dict[str, Any], list[str]]]) -> None:
    names = [{"credential_id": r["id"], "name_lower": n} for r, ns in batch for n in ns]
    if db.is_sqlite:
        with db.session(write=True) as s:
            conn = s.connection()
            conn.execute(insert(cast(Table, CredentialRow.__table__)), [r for r, _ in batch])
            conn.execute(insert(cast(Table, CredentialNameRow.__table__)), names)
        return
    import json

    cols = list(batch[0][0])
    with db.engine.begin() as conn:
        raw: Any = conn.connection.dbapi_connection
        with raw.cursor() as cur:
            with cur.copy(f"COPY credentials ({', '.join(cols)}) FROM STDIN") as copy:
                for r, _ in batch:
                    copy.write_row([json.dumps(r[c]) if c == "attributes" else r[c] for c in cols])
            with cur.copy("COPY credential_names (credential_id, name_lower) FROM STDIN") as cp:
                for nm in names:
                    cp.write_row([nm["credential_id"], nm["name_lower"]])


def timed(fn: Callable[[], Any], runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def cursor_at(svc: InventoryService, who: Principal, q: CredentialQuery, page: int) -> str | None:
    """The cursor of page `page` (1-based), reached by following cursors."""
    cursor = None
    for _ in range(page - 1):
        got: Page[Any] = svc.list_credentials(who, replace(q, cursor=cursor))
        cursor = got.next_cursor
    return cursor


def plan(db: Database, q: CredentialQuery) -> str:
    stmt = select(CredentialRow).where(*repo.credential_filters(q, NOW))
    order = (
        (CredentialRow.not_after, CredentialRow.id)
        if q.sort is CredentialSort.EXPIRY
        else (CredentialRow.id,)
    )
    sql = (
        stmt.order_by(*order).limit(101).compile(db.engine, compile_kwargs={"literal_binds": True})
    )
    with db.engine.connect() as conn:
        if db.is_sqlite:
            return " | ".join(r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        lines = [r[0].strip() for r in conn.execute(text(f"EXPLAIN {sql}"))]
        return " | ".join(x for x in lines if "->" in x or x.startswith(("Limit", "Index")))[:300]


def run(config: DatabaseConfig, n: int) -> None:
    db = Database(config)
    print(f"engine: {'sqlite' if db.is_sqlite else 'postgresql'}, {n:,} credentials")
    db.migrate()
    if db.is_sqlite:  # the load only: a page cache that holds the indexes being built
        event.listen(db.engine, "connect", _big_cache)
        db.engine.dispose()
    try:
        print(f"load: {load(db, n):.1f} s")
    finally:
        db.engine.dispose()
    db = Database(config)  # queries run with the server's own connection settings
    try:
        measure(db)
    finally:
        db.engine.dispose()


def _big_cache(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA cache_size=-1048576")
    cur.execute("PRAGMA synchronous=OFF")
    cur.close()


def measure(db: Database) -> None:
    svc = InventoryService(db, FakeClock(NOW), SystemRandomness(), AllowAll())
    who = cast(Principal, None)
    base = CredentialQuery(limit=100)
    expiring = replace(base, kind=CredentialKind.X509_CERTIFICATE, expiring_within=DAYS_30)
    exact = "www.host777.svc777.example.com"
    cases = [
        ("first page", base, 1),
        ("page 500 (cursor)", base, 500),
        ("kind=x509 + expiring 30d, page 1", expiring, 1),
        ("kind=x509 + expiring 30d, page 10", expiring, 10),
        ("q=host12345 (prefix, narrow)", replace(base, q="host12345"), 1),
        ("q=host1 (prefix, broad)", replace(base, q="host1"), 1),
        (f"q={exact} exact", replace(base, q=exact, match=SearchMatch.EXACT), 1),
        ("sort=expiry, page 1", replace(base, sort=CredentialSort.EXPIRY), 1),
        ("sort=expiry, page 50", replace(base, sort=CredentialSort.EXPIRY), 50),
        ("environment=prod, page 1", replace(base, environment="prod"), 1),
        ("key_type=rsa + key_bits=1024, page 1", replace(base, key_type="rsa", key_bits=1024), 1),
        ("status=expired, page 1", replace(base, status=CredentialStatus.EXPIRED), 1),
    ]  # fmt: skip
    print(f"{'query':<46} {'ms':>8}  items  plan")
    for label, q, page in cases:
        start = time.perf_counter()
        cursor = cursor_at(svc, who, q, page)
        walk = time.perf_counter() - start
        final = replace(q, cursor=cursor)
        ms = timed(lambda final=final: svc.list_credentials(who, final))
        items = len(svc.list_credentials(who, final).items)
        extra = f" (walk to it: {walk:.2f} s)" if page > 1 else ""
        print(f"{label:<46} {ms:8.2f}  {items:5d}  {plan(db, q)[:160]}{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--postgres", metavar="URL", help="PostgreSQL admin URL (else SQLite)")
    args = ap.parse_args()
    if args.postgres is None:
        with tempfile.TemporaryDirectory() as d:
            run(DatabaseConfig(data_dir=Path(d)), args.rows)
        return
    import psycopg

    admin = args.postgres.replace("postgresql+psycopg://", "postgresql://", 1)
    name = "tessera_invbench_" + secrets.token_hex(4)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name
    try:
        run(DatabaseConfig(url=url), args.rows)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
