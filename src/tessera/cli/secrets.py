"""`tessera secrets …`: versioned KV, database credentials and leases."""

from __future__ import annotations

import typer

from tessera.cli import secrets_db, secrets_kv, secrets_lease

app = typer.Typer(help="Secrets: KV, database credentials, leases.", no_args_is_help=True)
app.add_typer(secrets_kv.app, name="kv")
app.add_typer(secrets_db.app, name="db")
app.add_typer(secrets_lease.app, name="lease")
