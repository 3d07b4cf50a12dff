"""`tessera secrets lease …`: list, show, renew and revoke leases of dynamic credentials."""

from __future__ import annotations

import typer

from tessera.api.schemas_secrets import CountOut, LeaseListOut, LeaseOut
from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit, emit_page, fail

app = typer.Typer(help="Leases of dynamic credentials.", no_args_is_help=True)
COLUMNS = ["lease_id", "state", "username", "expires_at", "ttl", "renewable"]


@app.command("list")
def list_(
    prefix: str = typer.Argument("", help="Lease id prefix, e.g. database/creds/app/."),
    all_states: bool = typer.Option(False, "--all", help="Include revoked leases."),
    limit: int = typer.Option(100, "--limit"),
    cursor: str | None = typer.Option(None, "--cursor", help="Continue after this lease id."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Live leases under a prefix (id order)."""
    params = {"prefix": prefix, "all_states": all_states, "limit": limit, "cursor": cursor}
    with client(addr) as c:
        page = c.request("GET", "/v1/leases", LeaseListOut, params=params)
    emit_page(page, output, COLUMNS)


@app.command()
def show(lease_id: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    with client(addr) as c:
        emit(c.request("POST", "/v1/leases/lookup", LeaseOut, json={"lease_id": lease_id}), output)


@app.command()
def renew(
    lease_id: str,
    increment: str | None = typer.Option(None, "--increment", help="e.g. 1h (default: TTL)."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Extend a lease (never past its max TTL)."""
    body = {"lease_id": lease_id, "increment": increment}
    with client(addr) as c:
        emit(c.request("POST", "/v1/leases/renew", LeaseOut, json=body), output)


@app.command()
def revoke(
    lease_id: str | None = typer.Argument(None),
    prefix: str | None = typer.Option(None, "--prefix", help="Revoke every lease under it."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Revoke one lease now, or every lease under --prefix (needs sudo)."""
    if (lease_id is None) == (prefix is None):
        raise fail("give exactly one of LEASE_ID or --prefix")
    with client(addr) as c:
        if prefix is not None:
            n = c.request("POST", "/v1/leases/revoke-prefix", CountOut, json={"prefix": prefix})
            emit(n, output) if output is Output.json else console.print(f"{n.count} revoked.")
            return
        emit(c.request("POST", "/v1/leases/revoke", LeaseOut, json={"lease_id": lease_id}), output)
