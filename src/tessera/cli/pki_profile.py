"""`tessera pki profile write|read|list|delete`."""

from __future__ import annotations

import typer

from tessera.api.schemas_pki import ProfileIO
from tessera.cli.common import AddrOpt, client
from tessera.cli.documents import load_named
from tessera.cli.output import Output, OutputOpt, console, emit, emit_names

app = typer.Typer(
    help="Issuance profiles: what `pki issue` and `pki sign` may get.", no_args_is_help=True
)


def _load(source: str, name: str) -> ProfileIO:
    return load_named(source, name, ProfileIO, "profile", "'issuer'")


@app.command()
def write(
    name: str,
    file: str = typer.Argument(..., help="JSON profile document, or - for stdin."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a profile from a JSON document ({"issuer": CA, "allowed_domains": …})."""
    body = _load(file, name)
    with client(addr) as c:
        written = c.profile_write(name, body)
    if output is Output.json:
        emit(written, output)
    else:
        console.print(f"Profile {name!r} written.", highlight=False)


@app.command()
def read(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show a profile (durations in seconds); `-o json` can be edited and written back."""
    with client(addr) as c:
        emit(c.profile_read(name), output)


@app.command("list")
def list_(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List profile names."""
    with client(addr) as c:
        names = c.profile_list().names
    emit_names(names, output)


@app.command()
def delete(name: str, addr: str | None = AddrOpt) -> None:
    """Delete a profile (certificates issued under it stay valid)."""
    with client(addr) as c:
        c.profile_delete(name)
    console.print(f"Profile {name!r} deleted.", highlight=False)
