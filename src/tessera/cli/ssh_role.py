"""`tessera ssh role write|read|list`."""

from __future__ import annotations

import json

import typer
from pydantic import ValidationError

from tessera.api.schemas_ssh import SshRoleIO
from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit, emit_names, fail
from tessera.cli.pki_files import read_text

app = typer.Typer(
    help="SSH roles: which principals, options and lifetimes `ssh sign` may get.",
    no_args_is_help=True,
)
MAX_ROLE_FILE = 1024 * 1024


def _load(source: str, name: str) -> SshRoleIO:
    text = read_text(source, "role", MAX_ROLE_FILE)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{source} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict):
        raise fail("a role document is a JSON object with at least 'ca' and 'allowed_principals'")
    # accept what `role read -o json` prints, so read → edit → write works
    if doc.get("name", name) != name:
        raise fail(f"{source} names role {doc['name']!r}, not {name!r}")
    doc.pop("name", None)
    try:
        return SshRoleIO.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "role"
        raise fail(f"{source}: {field}: {first.get('msg')}") from None


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
