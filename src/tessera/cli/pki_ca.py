"""`tessera pki ca create|import|list|show|rollover|revoke`."""

from __future__ import annotations

from pathlib import Path

import typer

from tessera.api.schemas_pki import (
    KEY_TYPES_DOC,
    REASONS_DOC,
    CACreateIn,
    CAImportIn,
    CAOut,
    CARevokeIn,
    CARolloverIn,
    SubjectIO,
)
from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit, fail
from tessera.cli.pki_files import check_writable, read_text, write_public

app = typer.Typer(help="Certificate authorities: roots and intermediates.", no_args_is_help=True)

CA_COLUMNS = ("name", "kind", "status", "key_type", "subject", "not_after")
CA_FIELDS = (
    "id",
    "name",
    "kind",
    "status",
    "key_type",
    "subject",
    "parent_id",
    "not_before",
    "not_after",
    "ocsp_signer",
    "successor_id",
    "crl_url",
    "ocsp_url",
    "ca_url",
)


def show_ca(ca: CAOut, output: Output) -> None:
    """The full model as JSON; for people, the fields without the PEM blocks."""
    if output is Output.json:
        emit(ca, output)
        return
    emit({k: v for k, v in ca.model_dump(mode="json").items() if k in CA_FIELDS}, output)


@app.command()
def create(
    name: str,
    kind: str = typer.Option(..., "--kind", help="root or intermediate"),
    common_name: str = typer.Option(..., "--cn", help="Subject common name of the CA."),
    key_type: str = typer.Option("ec-p256", "--key-type", help=KEY_TYPES_DOC),
    ttl: str = typer.Option("3650d", "--ttl", help="Validity, e.g. 3650d"),
    parent: str | None = typer.Option(
        None, "--parent", help="Tessera CA that signs an intermediate (none: external root)."
    ),
    organization: str = typer.Option("", "--org", help="O"),
    organizational_unit: str = typer.Option("", "--ou", help="OU"),
    country: str = typer.Option("", "--country", help="C (two letters)"),
    locality: str = typer.Option("", "--locality", help="L"),
    state: str = typer.Option("", "--state", help="ST"),
    max_path_length: int | None = typer.Option(None, "--max-path-length", min=0, max=8),
    ocsp_signer: str = typer.Option("delegated", "--ocsp-signer", help="delegated or ca"),
    csr_out: Path | None = typer.Option(
        None, "--csr-out", help="External intermediate: write its CSR here."
    ),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create a root CA, or an intermediate signed by --parent or by an external root.

    Without --parent an intermediate stays pending: its CSR is printed (or written to
    --csr-out); have it signed, then run `tessera pki ca import`.
    """
    if csr_out is not None and (kind == "root" or parent is not None):
        raise fail("--csr-out is for an intermediate without --parent (signed externally)")
    check_writable(csr_out)
    body = CACreateIn(
        name=name,
        kind=kind,
        common_name=common_name,
        key_type=key_type,
        ttl=ttl,
        parent=parent,
        subject=SubjectIO(
            organization=organization,
            organizational_unit=organizational_unit,
            country=country,
            locality=locality,
            state=state,
        ),
        max_path_length=max_path_length,
        ocsp_signer=ocsp_signer,
    )
    with client(addr) as c:
        ca = c.ca_create(body)
    if ca.csr_pem and csr_out is not None:
        write_public(csr_out, ca.csr_pem.encode())
    show_ca(ca, output)
    if output is Output.json or not ca.csr_pem:
        return
    if csr_out is None:
        typer.echo(ca.csr_pem, nl=False)
    hint = f"tessera pki ca import {name} --cert FILE --chain FILE"
    where = f"written to {csr_out}" if csr_out else "above"
    console.print(f"Have the CSR ({where}) signed, then: {hint}", highlight=False)


@app.command("import")
def import_(
    name: str,
    cert: str = typer.Option(..., "--cert", help="The signed CA certificate (PEM file)."),
    chain: str = typer.Option(..., "--chain", help="Its issuer first, then above (PEM file)."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Activate a pending intermediate with its externally signed certificate."""
    if cert == "-" and chain == "-":
        raise fail("only one of --cert and --chain can read stdin")
    body = CAImportIn(certificate=read_text(cert, "certificate"), chain=read_text(chain, "chain"))
    with client(addr) as c:
        show_ca(c.ca_import(name, body), output)


@app.command("list")
def list_(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List CAs."""
    with client(addr) as c:
        cas = c.ca_list()
    if output is Output.json:
        emit(cas, output)
    else:
        emit(cas.items, output, CA_COLUMNS)


@app.command()
def show(
    name: str,
    pem: bool = typer.Option(False, "--pem", help="Print only the CA certificate (PEM)."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Show one CA."""
    with client(addr) as c:
        ca = c.ca_show(name)
    if not pem:
        show_ca(ca, output)
    elif ca.certificate_pem is None:
        raise fail(f"CA {name!r} is {ca.status}: it has no certificate yet")
    else:
        typer.echo(ca.certificate_pem, nl=False)


@app.command()
def rollover(
    name: str,
    to: str | None = typer.Option(None, "--to", help="Existing active CA that takes over."),
    new_name: str | None = typer.Option(
        None, "--new-name", help="Create a successor like the old CA under this name."
    ),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Move issuance to a successor CA; the old one keeps answering CRL and OCSP."""
    if (to is None) == (new_name is None):
        raise fail("give exactly one of --to or --new-name")
    with client(addr) as c:
        show_ca(c.ca_rollover(name, CARolloverIn(to=to, new_name=new_name)), output)


@app.command()
def revoke(
    name: str,
    reason: str = typer.Option("cessation_of_operation", "--reason", help=REASONS_DOC),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Revoke a CA and every certificate it issued."""
    with client(addr) as c:
        show_ca(c.ca_revoke(name, CARevokeIn(reason=reason)), output)
