"""`tessera secrets kv …` (placeholder)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Versioned KV secrets.", no_args_is_help=True)
