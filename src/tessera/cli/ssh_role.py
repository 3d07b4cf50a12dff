"""`tessera ssh role write|read|list`."""

from __future__ import annotations

import typer

from tessera.api.schemas_ssh import SshRoleIO
from tessera.cli.common import AddrOpt, client
from tessera.cli.documents import load_named
from tessera.cli.output import Output, OutputOpt, console, emit, emit_names

app = typer.Typer(
    help="SSH roles: which principals, options and lifetimes `ssh sign` may get.",
    no_args_is_help=True,
)


def _load(source: str, name: str) -> SshRoleIO:
    return load_named(source, name, SshRoleIO, "role", "'ca' and 'allowed_principals'")


@app.command()
def write(
    name: str,
    file: str = typer.Argument(..., help="JSON role document, or - for stdin."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a role from a JSON document ({"ca": CA, "allowed_principals": […]})."""
    body = _load(file, name)
    with client(addr) as c:
        written = c.ssh_role_write(name, body)
    if output is Output.json:
        emit(written, output)
    else:
        console.print(f"SSH role {name!r} written.", highlight=False)


@app.command()
def read(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show a role (durations in seconds); `-o json` can be edited and written back."""
    with client(addr) as c:
        emit(c.ssh_role_read(name), output)


@app.command("list")
def list_(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List role names."""
    with client(addr) as c:
        names = c.ssh_role_list().names
    emit_names(names, output)
