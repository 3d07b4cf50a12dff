"""`tessera identity create|list|show|set-owner|decommission` and
`tessera inventory list|show|export|set-owner`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import typer

from tessera.api.schemas import (
    CredentialOut,
    CredentialOwnerIn,
    DecommissionPlanOut,
    IdentityIn,
    IdentityPatch,
)
from tessera.cli.client import TesseraClient
from tessera.cli.common import AddrOpt, client, key_values
from tessera.cli.output import Output, OutputOpt, emit, emit_page, err_console, fail

app = typer.Typer(help="Non-human identities and their owners.", no_args_is_help=True)
inventory = typer.Typer(help="The inventory of every credential.", no_args_is_help=True)

IDENTITY_COLUMNS = ("name", "kind", "owner", "environment", "status", "labels")
CREDENTIAL_COLUMNS = ("id", "kind", "name", "owner", "source", "status", "not_after")
LOCATION_COLUMNS = ("kind", "location", "first_seen_at", "last_seen_at")


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
def decommission(
    name: str,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be revoked."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Decommission the identity and revoke every credential it holds (certificates onto
    CRL/OCSP, tokens, API keys, leases, SSH certificates) in one audited operation."""
    with client(addr) as c:
        if dry_run:
            path = f"/v1/identities/{quote(name, safe='')}/decommission-plan"
            plan = c.request("POST", path, DecommissionPlanOut)
            if output is Output.json:
                emit(plan, output)
            else:
                emit(plan.items, output, ["kind", "name", "status", "not_after", "id"],
                     title=f"{len(plan.items)} credentials would be revoked (dry run)")  # fmt: skip
            return
        emit(c.identity_decommission(name), output)


@inventory.command("list")
def inventory_list(
    kind: str | None = typer.Option(None, "--kind"),
    source: str | None = typer.Option(None, "--source", help="managed or discovered"),
    owner: str | None = typer.Option(None, "--owner"),
    identity: str | None = typer.Option(None, "--identity"),
    status: str | None = typer.Option(None, "--status", help="active, revoked, …, expired"),
    expiring_within: str | None = typer.Option(None, "--expiring-within", help="e.g. 30d"),
    environment: str | None = typer.Option(None, "--env", "--environment"),
    label: str | None = typer.Option(None, "--label", help="Identity label key=value."),
    key_type: str | None = typer.Option(None, "--key-type", help="rsa, ec, ed25519, …"),
    key_bits: int | None = typer.Option(None, "--key-bits"),
    signature_algorithm: str | None = typer.Option(None, "--signature-algorithm"),
    q: str | None = typer.Option(None, "--q", "--search", help="Name, subject, SAN, fingerprint."),
    exact: bool = typer.Option(False, "--exact", help="Match --q exactly, not as a prefix."),
    sort: str = typer.Option("id", "--sort", help="id or expiry"),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    cursor: str | None = typer.Option(None, "--cursor"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """List credentials of every kind, with their owner and expiry (keyset-paged)."""
    params = _filters(
        kind, source, owner, identity, status, expiring_within, environment, label,
        key_type, key_bits, signature_algorithm, q, exact, sort,
    )  # fmt: skip
    with client(addr) as c:
        page = c.credentials(**params, limit=limit, cursor=cursor)
    emit_page(page, output, CREDENTIAL_COLUMNS)


@inventory.command("show")
def inventory_show(
    credential_id: str, addr: str | None = AddrOpt, output: Output = OutputOpt
) -> None:
    """Show one credential and every place it was issued at or seen in."""
    with client(addr) as c:
        cred = c.request("GET", f"/v1/inventory/credentials/{_seg(credential_id)}", CredentialOut)
    if output is Output.json:
        emit(cred, output)
        return
    emit(cred.model_dump(mode="json", exclude={"locations"}), output)
    emit(cred.locations, output, LOCATION_COLUMNS, title="locations")


@inventory.command("set-owner")
def inventory_set_owner(
    credential_id: str, owner: str, addr: str | None = AddrOpt, output: Output = OutputOpt
) -> None:
    """Make a team or person accountable for one credential."""
    body = CredentialOwnerIn(owner=owner).model_dump()
    with client(addr) as c:
        path = f"/v1/inventory/credentials/{_seg(credential_id)}"
        emit(c.request("PATCH", path, CredentialOut, json=body), output)


@inventory.command("export")
def inventory_export(
    out: Path = typer.Option(..., "--out", "-o", help="File to write ('-' for stdout)."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or json"),
    kind: str | None = typer.Option(None, "--kind"),
    source: str | None = typer.Option(None, "--source"),
    owner: str | None = typer.Option(None, "--owner"),
    identity: str | None = typer.Option(None, "--identity"),
    status: str | None = typer.Option(None, "--status"),
    expiring_within: str | None = typer.Option(None, "--expiring-within"),
    environment: str | None = typer.Option(None, "--env", "--environment"),
    label: str | None = typer.Option(None, "--label"),
    key_type: str | None = typer.Option(None, "--key-type"),
    key_bits: int | None = typer.Option(None, "--key-bits"),
    signature_algorithm: str | None = typer.Option(None, "--signature-algorithm"),
    q: str | None = typer.Option(None, "--q", "--search"),
    exact: bool = typer.Option(False, "--exact"),
    sort: str = typer.Option("id", "--sort"),
    addr: str | None = AddrOpt,
) -> None:
    """Write every matching credential to a CSV or JSON file, streamed from the server; the
    file appears only once the export is complete."""
    params = _filters(
        kind, source, owner, identity, status, expiring_within, environment, label,
        key_type, key_bits, signature_algorithm, q, exact, sort,
    )  # fmt: skip
    params["format"] = fmt
    with client(addr) as c:
        if not c.token:
            raise fail("no token: set TESSERA_TOKEN or run 'tessera login'")
        count = _download(c, params, out)
    if str(out) != "-":
        err_console.print(f"exported {count} credentials to {out}", highlight=False)


def _filters(
    kind: str | None,
    source: str | None,
    owner: str | None,
    identity: str | None,
    status: str | None,
    expiring_within: str | None,
    environment: str | None,
    label: str | None,
    key_type: str | None,
    key_bits: int | None,
    signature_algorithm: str | None,
    q: str | None,
    exact: bool,
    sort: str,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "kind": kind, "source": source, "owner": owner, "identity": identity,
        "status": status, "expiring_within": expiring_within, "environment": environment,
        "label": label, "key_type": key_type, "key_bits": key_bits,
        "signature_algorithm": signature_algorithm, "q": q, "sort": sort,
    }  # fmt: skip
    if exact:
        params["match"] = "exact"
    return {k: v for k, v in params.items() if v is not None}


def _download(c: TesseraClient, params: dict[str, Any], out: Path) -> int:
    """Stream the export into `out` (through a temporary file, renamed when complete);
    returns the number of credentials written."""
    headers = {"X-Tessera-Token": c.token or ""}
    url = f"{c.addr}/v1/inventory/export"
    to_stdout = str(out) == "-"
    tmp = out.with_name(f".{out.name}.partial") if not to_stdout else None
    lines = 0
    try:
        with httpx.stream("GET", url, params=params, headers=headers, timeout=300) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise fail(_problem_text(resp))
            sink = sys.stdout.buffer if tmp is None else tmp.open("wb")
            try:
                for chunk in resp.iter_bytes():
                    sink.write(chunk)
                    lines += chunk.count(b"\n")
            finally:
                if tmp is not None:
                    sink.close()
        if tmp is not None:
            tmp.replace(out)
    except httpx.HTTPError as exc:
        raise fail(f"export from {c.addr} failed: {type(exc).__name__}") from None
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    # CSV: header line plus one per credential; JSON: '[', one per credential, ']'
    return max(lines - (1 if params.get("format", "csv") == "csv" else 2), 0)


def _problem_text(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        return str(body.get("detail") or body.get("title") or f"HTTP {resp.status_code}")
    except ValueError:
        return f"HTTP {resp.status_code} from server"


def _seg(value: str) -> str:
    return quote(value, safe="")
