"""`tessera pki issue|sign|renew|revoke|crl|list|show`, with `pki ca …` and `pki profile …`."""

from __future__ import annotations

import base64
import sys
from enum import StrEnum
from pathlib import Path

import typer

from tessera.api.schemas_pki import KEY_TYPES_DOC, REASONS_DOC, IssueIn, RenewIn, RevokeIn, SignIn
from tessera.cli import pki_ca, pki_profile
from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit, emit_page, fail
from tessera.cli.pki_files import (
    Format,
    FormatOpt,
    Targets,
    check_writable,
    deliver,
    read_text,
    write_public,
)

app = typer.Typer(help="X.509: CAs, profiles, issuance, renewal, revocation.", no_args_is_help=True)
app.add_typer(pki_ca.app, name="ca")
app.add_typer(pki_profile.app, name="profile")

CERT_COLUMNS = ("id", "ca", "serial", "common_name", "status", "not_after")
CN = typer.Option(None, "--cn", help="Subject common name.")
SAN = typer.Option([], "--san", help="DNS name (repeat).")
IP = typer.Option([], "--ip", help="IP address SAN (repeat).")
URI = typer.Option([], "--uri", help="URI SAN, e.g. spiffe://… (repeat).")
EMAIL = typer.Option([], "--email", help="Email SAN (repeat).")
TTL = typer.Option(None, "--ttl", help="Validity, e.g. 30d (default: the profile's).")
IDENTITY = typer.Option(None, "--identity", help="Identity the certificate belongs to.")
CERT_OUT = typer.Option(None, "--cert-out", help="Write the certificate here.")
KEY_OUT = typer.Option(None, "--key-out", help="Write the private key here (mode 0600).")
CHAIN_OUT = typer.Option(None, "--chain-out", help="Write the issuing chain here.")


class CrlFormat(StrEnum):
    """CRL encoding: DER (what relying parties fetch) or PEM."""

    der = "der"
    pem = "pem"


@app.command()
def issue(
    profile: str,
    common_name: str | None = CN,
    san: list[str] = SAN,
    ip: list[str] = IP,
    uri: list[str] = URI,
    email: list[str] = EMAIL,
    ttl: str | None = TTL,
    key_type: str | None = typer.Option(
        None, "--key-type", help="Default: the profile's. " + KEY_TYPES_DOC
    ),
    identity: str | None = IDENTITY,
    cert_out: Path | None = CERT_OUT,
    key_out: Path | None = KEY_OUT,
    chain_out: Path | None = CHAIN_OUT,
    fmt: Format = FormatOpt,
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Issue a certificate with a key the server generates and never stores.

    Without --key-out the key is printed once (as PEM, or in the JSON); with it, the key is
    only written to that file (mode 0600).
    """
    targets = Targets(cert_out, key_out, chain_out)
    targets.check(fmt, key_expected=True)
    body = IssueIn(
        common_name=common_name,
        alt_names=san,
        ip_sans=ip,
        uri_sans=uri,
        email_sans=email,
        ttl=ttl,
        identity=identity,
        key_type=key_type,
    )
    with client(addr) as c:
        issued = c.cert_issue(profile, body)
    deliver(issued, targets, fmt, output)


@app.command()
def sign(
    profile: str,
    csr_file: str = typer.Argument(..., help="PKCS#10 CSR (PEM), or - for stdin."),
    common_name: str | None = CN,
    san: list[str] = SAN,
    ip: list[str] = IP,
    uri: list[str] = URI,
    email: list[str] = EMAIL,
    ttl: str | None = TTL,
    identity: str | None = IDENTITY,
    cert_out: Path | None = CERT_OUT,
    chain_out: Path | None = CHAIN_OUT,
    fmt: Format = FormatOpt,
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Sign a CSR under a profile. Names default to the CSR's; other extensions are dropped."""
    targets = Targets(cert_out, None, chain_out)
    targets.check(fmt, key_expected=False)
    body = SignIn(
        csr=read_text(csr_file, "CSR"),
        common_name=common_name,
        alt_names=san,
        ip_sans=ip,
        uri_sans=uri,
        email_sans=email,
        ttl=ttl,
        identity=identity,
    )
    with client(addr) as c:
        issued = c.cert_sign(profile, body)
    deliver(issued, targets, fmt, output)


@app.command()
def renew(
    cert_id: str,
    csr: str | None = typer.Option(
        None, "--csr", help="CSR with the new key (default: a server-generated key)."
    ),
    ttl: str | None = TTL,
    cert_out: Path | None = CERT_OUT,
    key_out: Path | None = KEY_OUT,
    chain_out: Path | None = CHAIN_OUT,
    fmt: Format = FormatOpt,
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Renew a certificate: same profile, names and identity, a new key and serial."""
    if csr is not None and key_out is not None:
        raise fail("--key-out is for a server-generated key: the key of --csr stays yours")
    targets = Targets(cert_out, key_out, chain_out)
    targets.check(fmt, key_expected=csr is None)
    body = RenewIn(ttl=ttl, csr=read_text(csr, "CSR") if csr is not None else None)
    with client(addr) as c:
        issued = c.cert_renew(cert_id, body)
    deliver(issued, targets, fmt, output)


@app.command()
def revoke(
    ca: str | None = typer.Option(None, "--ca", help="CA name (with --serial)."),
    serial: str | None = typer.Option(None, "--serial", help="Serial number in hex."),
    cert_id: str | None = typer.Option(None, "--id", help="Certificate id."),
    identity: str | None = typer.Option(None, "--identity", help="Every certificate it holds."),
    reason: str = typer.Option("unspecified", "--reason", help=REASONS_DOC),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Revoke one certificate (--ca with --serial, or --id) or all of an identity's."""
    by_serial = ca is not None or serial is not None
    if by_serial and (ca is None or serial is None):
        raise fail("--ca and --serial go together")
    if sum([by_serial, cert_id is not None, identity is not None]) != 1:
        raise fail("give one of: --ca with --serial, --id, or --identity")
    body = RevokeIn(ca=ca, serial=serial, cert_id=cert_id, identity=identity, reason=reason)
    with client(addr) as c:
        result = c.cert_revoke(body)
    if output is Output.json:
        emit(result, output)
        return
    if result.certificates:
        emit(result.certificates, output, CERT_COLUMNS)
    console.print(f"Revoked {result.revoked} certificate(s).", highlight=False)


@app.command()
def crl(
    ca: str,
    fmt: CrlFormat = typer.Option(CrlFormat.der, "--format", help="der or pem"),
    out: Path | None = typer.Option(None, "--out", help="Write the CRL here."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Fetch a CA's current CRL from its public URL (the same one relying parties use)."""
    check_writable(out)
    binary = fmt is CrlFormat.der and out is None and output is Output.table
    if binary and sys.stdout.isatty():
        raise fail("a DER CRL is binary: give --out FILE, redirect stdout, or use --format pem")
    with client(addr) as c:
        data = c.crl(c.ca_show(ca).crl_url, pem=fmt is CrlFormat.pem)
    if out is not None:
        write_public(out, data)
        if output is Output.json:
            emit({"ca": ca, "format": fmt.value, "file": str(out), "bytes": len(data)}, output)
        else:
            console.print(f"CRL of {ca!r} written to {out} ({fmt.value}).", highlight=False)
    elif output is Output.json:
        text = data.decode() if fmt is CrlFormat.pem else base64.b64encode(data).decode()
        emit({"ca": ca, "format": fmt.value, "crl": text}, output)
    elif fmt is CrlFormat.pem:
        typer.echo(data.decode(), nl=False)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


@app.command("list")
def list_(
    ca: str | None = typer.Option(None, "--ca"),
    status: str | None = typer.Option(
        None, "--status", help="pending, issued, revoked or abandoned"
    ),
    identity: str | None = typer.Option(None, "--identity"),
    expiring: str | None = typer.Option(None, "--expiring", help="Expiring within, e.g. 30d"),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    cursor: str | None = typer.Option(None, "--cursor", help="From a previous page."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """List issued certificates (keyset-paged; the next cursor is printed when there is more)."""
    with client(addr) as c:
        page = c.cert_list(
            ca=ca,
            status=status,
            identity=identity,
            expiring_within=expiring,
            limit=limit,
            cursor=cursor,
        )
    emit_page(page, output, CERT_COLUMNS)


@app.command()
def show(
    cert_id: str,
    pem: bool = typer.Option(False, "--pem", help="Print only the certificate (PEM)."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Show one certificate."""
    with client(addr) as c:
        cert = c.cert_show(cert_id)
    if pem:
        if cert.certificate_pem is None:
            raise fail(f"certificate {cert_id} is {cert.status}: it has no PEM")
        typer.echo(cert.certificate_pem, nl=False)
    elif output is Output.json:
        emit(cert, output)
    else:
        emit(cert.model_dump(mode="json", exclude={"certificate_pem"}), output)
