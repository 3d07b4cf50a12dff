"""`tessera identity create|list|show|set-owner|decommission` and `tessera inventory list`."""

from __future__ import annotations

import typer

from tessera.api.schemas import IdentityIn, IdentityPatch
from tessera.cli.common import AddrOpt, client, key_values
from tessera.cli.output import Output, OutputOpt, emit, emit_page

app = typer.Typer(help="Non-human identities and their owners.", no_args_is_help=True)
inventory = typer.Typer(help="The inventory of every credential.", no_args_is_help=True)

IDENTITY_COLUMNS = ("name", "kind", "owner", "environment", "status", "labels")
CREDENTIAL_COLUMNS = ("id", "kind", "name", "owner", "source", "status", "not_after")


@app.command()
def create(
    name: str,
    owner: str = typer.Option(..., "--owner", help="Accountable team or person (required)."),
    kind: str = typer.Option("workload", "--kind"),
    environment: str = typer.Option("default", "--env", "--environment"),
    label: list[str] = typer.Option([], "--label", help="key=value (repeat)."),
    spiffe_id: str | None = typer.Option(None, "--spiffe-id"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Register a workload, service account, device, pipeline or bot."""
    body = IdentityIn(
        name=name,
        owner=owner,
        kind=kind,
        environment=environment,
        labels=key_values(label, "--label"),
        spiffe_id=spiffe_id,
    )
    with client(addr) as c:
        emit(c.identity_create(body), output)


@app.command("list")
def list_(
    kind: str | None = typer.Option(None, "--kind"),
    owner: str | None = typer.Option(None, "--owner"),
    environment: str | None = typer.Option(None, "--env", "--environment"),
    status: str | None = typer.Option(None, "--status"),
    label: str | None = typer.Option(None, "--label", help="key=value"),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    cursor: str | None = typer.Option(None, "--cursor", help="From a previous page."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """List identities (keyset-paged; the next cursor is printed when there is more)."""
    with client(addr) as c:
        page = c.identity_list(
            kind=kind,
            owner=owner,
            environment=environment,
            status=status,
            label=label,
            limit=limit,
            cursor=cursor,
        )
    emit_page(page, output, IDENTITY_COLUMNS)


@app.command()
def show(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show one identity."""
    with client(addr) as c:
        emit(c.identity_show(name), output)


@app.command("set-owner")
def set_owner(
    name: str, owner: str, addr: str | None = AddrOpt, output: Output = OutputOpt
) -> None:
    """Change the accountable owner (its credentials follow)."""
    with client(addr) as c:
        emit(c.identity_update(name, IdentityPatch(owner=owner)), output)


@app.command()
def decommission(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Decommission the identity and revoke every credential it holds."""
    with client(addr) as c:
        emit(c.identity_decommission(name), output)


@inventory.command("list")
def inventory_list(
    kind: str | None = typer.Option(None, "--kind"),
    source: str | None = typer.Option(None, "--source", help="managed or discovered"),
    owner: str | None = typer.Option(None, "--owner"),
    identity: str | None = typer.Option(None, "--identity"),
    status: str | None = typer.Option(None, "--status"),
    expiring_within: str | None = typer.Option(None, "--expiring-within", help="e.g. 30d"),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    cursor: str | None = typer.Option(None, "--cursor"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """List credentials of every kind, with their owner and expiry."""
    with client(addr) as c:
        page = c.credentials(
            kind=kind,
            source=source,
            owner=owner,
            identity=identity,
            status=status,
            expiring_within=expiring_within,
            limit=limit,
            cursor=cursor,
        )
    emit_page(page, output, CREDENTIAL_COLUMNS)
