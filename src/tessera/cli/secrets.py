"""`tessera secrets …`: versioned KV, database credentials and leases."""

from __future__ import annotations

import typer

from tessera.cli import secrets_kv

app = typer.Typer(help="Secrets: KV, database credentials, leases.", no_args_is_help=True)
app.add_typer(secrets_kv.app, name="kv")
