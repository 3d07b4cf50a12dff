"""Dynamic PostgreSQL credentials per second: lease recorded, user created (CREATE ROLE … VALID
UNTIL + one grant), lease activated; then the same leases revoked (sessions ended, user dropped).

    .venv/bin/python bench/secrets/dbcreds.py                      # SQLite storage
    .venv/bin/python bench/secrets/dbcreds.py --storage postgres   # Tessera's state on PG too

Target database: TESSERA_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/test); the run
creates its own admin login and schema and drops them at the end. In-process (services called
directly, no HTTP), from `--threads` threads, at most `--count` credentials or `--duration`
seconds, whichever comes first. Every credential is checked afterwards: one active lease per
answer before the revoke phase, none left after it, no `tdb_` user of this run left in
PostgreSQL. Prints one table; `--json F` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # bench/: the shared harness

import psycopg
from psycopg import sql

from report import calibrate, revision
from tessera.app import build
from tessera.config import Settings
from tessera.secrets.leases import LeaseState

PG = os.environ.get("TESSERA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _admin_setup(tag: str, password: str) -> None:
    with psycopg.connect(PG, autocommit=True) as su:
        admin, schema = sql.Identifier(f"tbench_{tag}"), sql.Identifier(f"tbs_{tag}")
        su.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
            admin, sql.Literal(password)))  # fmt: skip
        su.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(schema, admin))
        su.execute(sql.SQL("CREATE TABLE {}.items (id int)").format(schema))
        su.execute(sql.SQL("ALTER TABLE {}.items OWNER TO {}").format(schema, admin))


def _admin_teardown(tag: str) -> int:
    """Drop the run's schema and admin; returns how many of the run's users were still there."""
    with psycopg.connect(PG, autocommit=True) as su:
        left = su.execute(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, 'tdb_bench_')"
        ).fetchall()
        for (user,) in left:
            su.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(user)))
            su.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))
        su.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(f"tbs_{tag}")))
        su.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(f"tbench_{tag}")))
        su.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(f"tbench_{tag}")))
        return len(left)


def _phase(threads: int, count: int, duration: float, work: Any) -> tuple[int, int, float]:
    """Run `work(i)` until `count` calls or `duration` seconds; (ok, errors, seconds)."""
    lock, state = threading.Lock(), {"next": 0, "ok": 0, "err": 0}
    stop_at = time.monotonic() + duration

    def loop() -> None:
        while time.monotonic() < stop_at:
            with lock:
                i = state["next"]
                if i >= count:
                    return
                state["next"] = i + 1
            try:
                work(i)
                with lock:
                    state["ok"] += 1
            except Exception as exc:  # counted and shown once
                with lock:
                    state["err"] += 1
                    if state["err"] == 1:
                        print(f"first error: {type(exc).__name__}: {exc}", file=sys.stderr)

    start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(loop)
    return state["ok"], state["err"], time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tag, password = secrets.token_hex(4), secrets.token_urlsafe(24)
    store_db = None
    if args.storage == "postgres":
        store_db = f"tessera_bench_{tag}"
        with psycopg.connect(PG, autocommit=True) as su:
            su.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(store_db)))
    _admin_setup(tag, password)
    calibration = calibrate()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = None
            if store_db is not None:
                url = (
                    PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
                    + "/"
                    + store_db
                )
            c = build(Settings(data_dir=Path(tmp), database_url=url))
            try:
                root = c.tokens.authenticate(c.operator.initialize(1, 1).root_token)
                host = PG.split("@", 1)[1].split("/", 1)[0]
                db = PG.rsplit("/", 1)[1]
                c.database.write_connection(root, "bench", {
                    "plugin": "postgresql", "host": host.split(":")[0],
                    "port": int(host.split(":")[1]) if ":" in host else 5432, "database": db,
                    "username": f"tbench_{tag}", "password": password})  # fmt: skip
                c.database.write_role(root, "bench", {
                    "connection": "bench", "default_ttl": "1h",
                    "grants": [{"privileges": ["SELECT"], "on": f"tbs_{tag}.items"}]})  # fmt: skip
                leases: list[str] = []

                def create(_i: int) -> None:
                    leases.append(c.database.creds(root, "bench").lease.id)

                ok, err, secs = _phase(args.threads, args.count, args.duration, create)
                active = len(c.leases.list(root, "database/creds/bench/", limit=1000))
                rok, rerr, rsecs = _phase(args.threads, len(leases), args.duration,
                                          lambda i: c.leases.revoke(root, leases[i]))  # fmt: skip
                states = c.leases.states(leases)
            finally:
                c.close()
    finally:
        left = _admin_teardown(tag)
        if store_db is not None:
            with psycopg.connect(PG, autocommit=True) as su:
                su.execute(
                    sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(store_db))
                )
    revoked = sum(1 for s in states.values() if s == LeaseState.REVOKED.value)
    result = {
        "revision": revision(), "calibration_ms": calibration,
        "storage": args.storage, "threads": args.threads,
        "created": ok, "create_errors": err, "create_per_s": round(ok / secs, 1),
        "revoked": rok, "revoke_errors": rerr, "revoke_per_s": round(rok / rsecs, 1),
        "active_leases_seen": active, "leases_revoked": revoked, "users_left": left,
    }  # fmt: skip
    checks = active == min(ok, 1000) and revoked == ok and left == 0 and not err and not rerr
    print(f"dynamic PostgreSQL credentials, storage={args.storage}, {args.threads} threads, "
          f"rev {result['revision']}, CPU calibration {result['calibration_ms']} ms")  # fmt: skip
    print(f"  create: {ok} in {secs:.2f} s = {result['create_per_s']}/s, errors {err}")
    print(f"  revoke: {rok} in {rsecs:.2f} s = {result['revoke_per_s']}/s, errors {rerr}")
    print(f"  checks: leases active {active}, revoked {revoked}/{ok}, users left {left}: "
          f"{'ok' if checks else 'FAILED'}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if checks else 1


if __name__ == "__main__":
    sys.exit(main())
