"""`tessera ssh ca create|list|pubkey|rotate`."""

from __future__ import annotations

from pathlib import Path

import typer

from tessera.api.schemas_ssh import SshCaIn
from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit, fail
from tessera.cli.pki_files import check_writable, write_public

app = typer.Typer(
    help="SSH CAs: one signs user certificates, another host ones.", no_args_is_help=True
)

CA_COLUMNS = ("name", "cert_type", "key_type", "status", "created_at")
KEY_TYPES = "ed25519, ec-p256, ec-p384, rsa-3072 or rsa-4096"
KNOWN_HOSTS_PREFIX = "@cert-authority * "


@app.command()
def create(
    name: str,
    cert_type: str = typer.Option(..., "--type", help="user or host"),
    key_type: str = typer.Option("ed25519", "--key-type", help=KEY_TYPES),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create an SSH CA that signs user or host certificates.

    Trust it with `tessera ssh ca pubkey NAME`: TrustedUserCAKeys on servers for a user CA,
    `--known-hosts` lines on clients for a host CA.
    """
    body = SshCaIn(name=name, cert_type=cert_type, key_type=key_type)
    with client(addr) as c:
        emit(c.ssh_ca_create(body), output)


@app.command("list")
def list_(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List SSH CAs."""
    with client(addr) as c:
        cas = c.ssh_ca_list()
    if output is Output.json:
        emit(cas, output)
    else:
        emit(cas.items, output, CA_COLUMNS)


@app.command()
def pubkey(
    name: str,
    known_hosts: bool = typer.Option(
        False, "--known-hosts", help="Prefix each line with '@cert-authority * ' (host CAs)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write the lines to this file."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Print every public key OpenSSH should trust for a CA, current first (needs no token).

    During a rotation the previous keys follow the current one, so certificates signed by
    either keep working. For a user CA the lines go into sshd's TrustedUserCAKeys file; for a
    host CA, with --known-hosts, into clients' known_hosts.
    """
    check_writable(out)
    with client(addr) as c:
        keys = c.ssh_public_keys(name)
    if not keys:
        raise fail(f"the server answered with no public key for SSH CA {name!r}")
    lines = [KNOWN_HOSTS_PREFIX + k if known_hosts else k for k in keys]
    text = "".join(line + "\n" for line in lines)
    if out is not None:
        write_public(out, text.encode())
    if output is Output.json:
        doc: dict[str, object] = {"ca": name, "lines": lines}
        emit({**doc, "file": str(out)} if out is not None else doc, output)
    elif out is not None:
        console.print(
            f"{len(lines)} public key line(s) of {name!r} written to {out}.", highlight=False
        )
    else:
        typer.echo(text, nl=False)


@app.command()
def rotate(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Give a CA a new key; certificates it signed before stay valid during the overlap.

    The old public key is still published (see previous_public_keys): redistribute
    `tessera ssh ca pubkey NAME` so servers and clients trust both.
    """
    with client(addr) as c:
        ca = c.ssh_ca_rotate(name)
    emit(ca, output)
    if output is Output.table:
        hint = f"tessera ssh ca pubkey {name}" + (
            " --known-hosts" if ca.cert_type == "host" else ""
        )
        console.print(f"New key active; redistribute the trusted keys: {hint}", highlight=False)
