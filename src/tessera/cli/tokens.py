"""`tessera token create|lookup|renew|revoke`."""

from __future__ import annotations

import typer

from tessera.api.schemas import TokenCreateIn
from tessera.cli.common import AddrOpt, client, key_values
from tessera.cli.output import Output, OutputOpt, emit, fail

app = typer.Typer(help="Create and manage tokens.", no_args_is_help=True)


@app.command()
def create(
    policy: list[str] = typer.Option([], "--policy", "-p", help="Policy (repeat)."),
    ttl: str | None = typer.Option(None, help="e.g. 1h, 30d"),
    explicit_max_ttl: str | None = typer.Option(None, "--max-ttl", help="Hard cap, e.g. 30d"),
    display_name: str = typer.Option("token", "--display-name"),
    identity: str | None = typer.Option(None, help="Bind to this identity."),
    meta: list[str] = typer.Option([], "--meta", help="key=value (repeat)."),
    renewable: bool = typer.Option(True, "--renewable/--not-renewable"),
    no_default_policy: bool = typer.Option(False, "--no-default-policy"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create a child of the current token; the token is printed once."""
    body = TokenCreateIn(
        policies=policy,
        ttl=ttl,
        explicit_max_ttl=explicit_max_ttl,
        display_name=display_name,
        identity=identity,
        meta=key_values(meta, "--meta"),
        renewable=renewable,
        no_default_policy=no_default_policy,
    )
    with client(addr) as c:
        created = c.token_create(body)
    if output is Output.json:
        emit(created, output)
        return
    emit({"token": created.token, **created.info.model_dump(mode="json")}, output)


@app.command()
def lookup(
    token: str | None = typer.Argument(None, help="Token to look up (default: your own)."),
    accessor: str | None = typer.Option(None, "--accessor", help="Look up by accessor."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Show a token's properties (never the token itself)."""
    with client(addr) as c:
        if token is None and accessor is None:
            emit(c.token_lookup_self(), output)
        else:
            emit(c.token_lookup(token, accessor), output)


@app.command()
def renew(
    token: str | None = typer.Argument(None, help="Token to renew (default: your own)."),
    accessor: str | None = typer.Option(None, "--accessor"),
    increment: str | None = typer.Option(None, "--increment", help="e.g. 1h"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Extend a token's TTL, up to its maximum."""
    with client(addr) as c:
        emit(c.token_renew(token, accessor, increment), output)


@app.command()
def revoke(
    token: str | None = typer.Argument(None, help="Token to revoke."),
    accessor: str | None = typer.Option(None, "--accessor"),
    self_: bool = typer.Option(False, "--self", help="Revoke the token in use."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Revoke a token and every token created from it."""
    if token is None and accessor is None and not self_:
        raise fail("give a token, --accessor, or --self")
    with client(addr) as c:
        emit(c.token_revoke(token, accessor), output)
