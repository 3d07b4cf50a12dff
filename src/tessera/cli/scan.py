"""`tessera scan …`: discovery that runs where the files and networks are; needs no server."""

from __future__ import annotations

import typer

from tessera.cli import scan_files, scan_secrets, scan_tls

app = typer.Typer(
    help="Find leaked secrets, key and certificate files, and TLS endpoints.", no_args_is_help=True
)
app.command("secrets")(scan_secrets.command)
app.command("files")(scan_files.command)
app.command("tls")(scan_tls.command)
