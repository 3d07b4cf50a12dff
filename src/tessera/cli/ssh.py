"""`tessera ssh sign|revoke|krl`, with `ssh ca …` and `ssh role …`."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import typer

from tessera.api.schemas_ssh import SshRevokeIn, SshSignedOut, SshSignIn
from tessera.cli import ssh_ca, ssh_role
from tessera.cli.common import AddrOpt, client, key_values
from tessera.cli.output import Output, OutputOpt, console, emit, fail
from tessera.cli.pki_files import check_writable, read_text, write_public, write_secret

app = typer.Typer(
    help="SSH certificates: CAs, roles, signing, revocation, KRLs.", no_args_is_help=True
)
app.add_typer(ssh_ca.app, name="ca")
app.add_typer(ssh_role.app, name="role")

SIGNED_FIELDS = (
    "id",
    "ca",
    "serial",
    "key_id",
    "cert_type",
    "principals",
    "valid_after",
    "valid_before",
)
MAX_KEY_FILE = 16 * 1024


def read_public_key(source: str) -> str:
    """An OpenSSH public key line from a file (or stdin for '-'); a private key is refused
    here, before it could ever be sent."""
    text = read_text(source, "public key", MAX_KEY_FILE).strip()
    if "PRIVATE KEY" in text:
        raise fail(f"{source} is a private key: give its public key (the .pub file)")
    return text


def cert_path_for(public_key: str) -> Path:
    """Where ssh looks for a key's certificate: `id_ed25519.pub` → `id_ed25519-cert.pub`."""
    return Path(public_key.removesuffix(".pub") + "-cert.pub")


@app.command()
def sign(
    role: str,
    principal: list[str] = typer.Option(..., "--principal", help="User or host name (repeat)."),
    public_key: str | None = typer.Option(
        None, "--public-key", help="OpenSSH public key file to certify (- for stdin)."
    ),
    key_type: str | None = typer.Option(
        None,
        "--key-type",
        help="Without --public-key: the key the server generates (default ed25519; "
        "ec-p256, ec-p384, rsa-3072, rsa-4096).",
    ),
    ttl: str | None = typer.Option(None, "--ttl", help="Validity, e.g. 1h (default: the role's)."),
    option: list[str] = typer.Option(
        [], "--option", help="Critical option key=value, e.g. force-command=/bin/true (repeat)."
    ),
    extension: list[str] = typer.Option(
        [], "--extension", help="e.g. permit-pty (repeat; default: the role's)."
    ),
    identity: str | None = typer.Option(
        None, "--identity", help="Identity the certificate belongs to."
    ),
    cert_out: Path | None = typer.Option(None, "--cert-out", help="Write the certificate here."),
    key_out: Path | None = typer.Option(
        None, "--key-out", help="Write the generated private key here (mode 0600)."
    ),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Sign a public key under a role, or have the server generate a key pair.

    With --public-key FILE.pub and no --cert-out, the certificate is written beside it as
    FILE-cert.pub, where ssh finds it. Without --public-key the private key is written to
    --key-out (mode 0600), or printed once.
    """
    if public_key is not None and key_type is not None:
        raise fail("--key-type is for a server-generated key: --public-key brings its own")
    if public_key is not None and key_out is not None:
        raise fail("--key-out is for a server-generated key: the key of --public-key stays yours")
    beside = cert_out is None and public_key not in (None, "-")
    cert_target = cert_path_for(str(public_key)) if beside else cert_out
    check_writable(cert_target, key_out)
    if cert_target and key_out and cert_target.resolve() == key_out.resolve():
        raise fail("--cert-out and --key-out must be different files")
    body = SshSignIn(
        principals=principal,
        public_key=read_public_key(public_key) if public_key is not None else None,
        key_type=key_type or "ed25519",
        ttl=ttl,
        critical_options=key_values(option, "--option"),
        extensions=extension or None,
        identity=identity,
    )
    with client(addr) as c:
        signed = c.ssh_sign(role, body)
    _deliver(signed, cert_target, key_out, output)
    if beside and output is Output.table:
        console.print(
            f"Certificate written to {cert_target}, beside the public key.", highlight=False
        )


def _deliver(signed: SshSignedOut, cert: Path | None, key: Path | None, output: Output) -> None:
    """Write what has a target (the key first: it exists nowhere else), then print the rest;
    the private key is printed at most once, and not at all once it is in a file."""
    revoke = f"tessera ssh revoke --ca {signed.ca} --serial {signed.serial}"
    written: dict[str, str] = {}
    if signed.private_key is not None and key is not None:
        try:
            write_secret(key, signed.private_key.encode())
        except OSError as exc:
            raise fail(
                f"certificate {signed.serial} was signed but its key could not be written to "
                f"{key} ({exc.strerror}); revoke it: {revoke}"
            ) from None
        written["private_key"] = str(key)
    if cert is not None:
        try:
            cert.write_text(signed.certificate + "\n")
        except OSError as exc:
            raise fail(
                f"certificate {signed.serial} was signed but {cert} could not be written "
                f"({exc.strerror}); revoke it: {revoke}"
            ) from None
        written["certificate"] = str(cert)
    if output is Output.json:
        hidden = {"private_key": None} if "private_key" in written else {}
        emit(signed.model_copy(update=hidden), output)
        return
    summary = {k: v for k, v in signed.model_dump(mode="json").items() if k in SIGNED_FIELDS}
    emit({**summary, **written}, output)
    if cert is None:
        typer.echo(signed.certificate)
    if signed.private_key is not None and key is None:
        typer.echo(signed.private_key, nl=not signed.private_key.endswith("\n"))


@app.command()
def revoke(
    ca: str = typer.Option(..., "--ca", help="SSH CA that signed."),
    serial: int | None = typer.Option(
        None,
        "--serial",
        min=1,
        max=2**64 - 1,
        help="Certificate serial (decimal, as ssh-keygen -L).",
    ),
    key_id: str | None = typer.Option(None, "--key-id", help="Every certificate with this key id."),
    public_key: str | None = typer.Option(
        None, "--public-key", help="Every certificate of this public key (file, - for stdin)."
    ),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Revoke SSH certificates of a CA; the KRL (`tessera ssh krl`) then lists them."""
    if sum(x is not None for x in (serial, key_id, public_key)) != 1:
        raise fail("give one of --serial, --key-id or --public-key")
    body = SshRevokeIn(
        ca=ca,
        serial=serial,
        key_id=key_id,
        public_key=read_public_key(public_key) if public_key is not None else None,
    )
    with client(addr) as c:
        result = c.ssh_revoke(body)
    if output is Output.json:
        emit(result, output)
    else:
        console.print(f"Revoked {result.revoked} certificate(s) of {ca!r}.", highlight=False)


@app.command()
def krl(
    ca: str | None = typer.Option(None, "--ca", help="One CA (default: every SSH CA)."),
    out: Path | None = typer.Option(None, "--out", help="Write the KRL here."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Fetch the key revocation list (OpenSSH KRL, binary) from its public URL (no token).

    Point sshd's RevokedKeys (or ssh's RevokedHostKeys) at the file; check a certificate with
    `ssh-keygen -Q -f FILE CERT-cert.pub`.
    """
    check_writable(out)
    if out is None and output is Output.table and sys.stdout.isatty():
        raise fail("a KRL is binary: give --out FILE or redirect stdout")
    with client(addr) as c:
        data = c.ssh_krl(ca)
    of = f"of {ca!r}" if ca is not None else "of every SSH CA"
    if out is not None:
        write_public(out, data)
        if output is Output.json:
            emit({"ca": ca, "file": str(out), "bytes": len(data)}, output)
        else:
            console.print(f"KRL {of} written to {out} ({len(data)} bytes).", highlight=False)
    elif output is Output.json:
        emit({"ca": ca, "krl": base64.b64encode(data).decode()}, output)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
