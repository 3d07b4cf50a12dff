"""`tessera operator init|unseal|seal|status|rotate`."""

from __future__ import annotations

import typer

from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit

app = typer.Typer(help="Initialise, unseal, seal and rotate the barrier.", no_args_is_help=True)


@app.command()
def init(
    shares: int = typer.Option(5, "--shares", min=1, max=255, help="Unseal shares to create."),
    threshold: int = typer.Option(3, "--threshold", min=1, max=255, help="Shares to unseal."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create the root key, split it into shares and print them with the root token, once."""
    with client(addr) as c:
        result = c.init(shares, threshold)
    if output is Output.json:
        emit(result, output)
        return
    for i, key in enumerate(result.keys, 1):
        console.print(f"Unseal share {i}: {key}", highlight=False)
    console.print(f"\nInitial root token: {result.root_token}", highlight=False)
    console.print(
        f"\n[bold yellow]These are shown once.[/] Store the shares apart; any "
        f"{result.secret_threshold} of them unseal Tessera. Revoke the root token after setup."
    )


@app.command()
def unseal(
    key: str | None = typer.Argument(None, help="One share; prompted (hidden) if omitted."),
    reset: bool = typer.Option(False, "--reset", help="Discard shares submitted so far."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Submit one unseal share (run once per share until unsealed)."""
    if key is None and not reset:
        key = typer.prompt("Unseal share", hide_input=True)
    with client(addr) as c:
        emit(c.unseal(key, reset), output)


@app.command()
def seal(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Seal: the server drops its keys from memory until unsealed again."""
    with client(addr) as c:
        emit(c.seal(), output)


@app.command()
def status(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show seal status (exit code 2 when sealed)."""
    with client(addr) as c:
        result = c.seal_status()
    emit(result, output)
    if result.sealed:
        raise typer.Exit(2)


@app.command()
def rotate(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Add a new keyring version for new writes; existing data keeps reading."""
    with client(addr) as c:
        emit(c.rotate(), output)
