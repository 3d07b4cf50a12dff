"""`tessera policy write|read|list|delete`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit, emit_names, fail

app = typer.Typer(help="Path-based access policies.", no_args_is_help=True)
MAX_POLICY_FILE = 1024 * 1024


def _load(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read(MAX_POLICY_FILE + 1) if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise fail(f"cannot read {source}: {exc.strerror}") from None
    if len(text) > MAX_POLICY_FILE:
        raise fail("the policy document is larger than 1 MiB")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{source} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict):
        raise fail("a policy document is a JSON object with 'rules'")
    return doc


@app.command()
def write(
    name: str,
    file: str = typer.Argument(..., help="JSON policy document, or - for stdin."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a policy from a JSON document ({"rules": [{"path", "capabilities"}]})."""
    doc = _load(file)
    with client(addr) as c:
        written = c.policy_write(name, doc)
    if output is Output.json:
        emit(written, output)
    else:
        console.print(f"Policy {name!r} written.", highlight=False)


@app.command()
def read(name: str, addr: str | None = AddrOpt) -> None:
    """Print a policy as JSON."""
    with client(addr) as c:
        emit(c.policy_read(name), Output.json)


@app.command("list")
def list_(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List policy names."""
    with client(addr) as c:
        names = c.policy_list().names
    emit_names(names, output)


@app.command()
def delete(name: str, addr: str | None = AddrOpt) -> None:
    """Delete a policy (tokens holding it lose what it granted at once)."""
    with client(addr) as c:
        c.policy_delete(name)
    console.print(f"Policy {name!r} deleted.")
