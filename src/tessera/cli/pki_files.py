"""Files for `tessera pki`: reading CSRs and certificates, writing certificates, chains and
private keys (keys only ever with mode 0600), in PEM or DER."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from tessera.api.schemas_pki import IssuedOut
from tessera.cli.output import Output, emit, fail

MAX_PEM_FILE = 64 * 1024
ISSUED_FIELDS = ("id", "ca", "serial", "common_name", "status", "profile", "not_after")


class Format(StrEnum):
    """Encoding of files written: PEM text, or DER (a chain as a certs-only PKCS#7 bundle)."""

    pem = "pem"
    der = "der"


FormatOpt = typer.Option(
    Format.pem,
    "--format",
    help="pem or der (der: certificate as DER, key as PKCS#8 DER, chain as PKCS#7 DER).",
)


@dataclass(frozen=True)
class Targets:
    """Where to write an issued certificate, its private key and its chain (None: print)."""

    cert: Path | None = None
    key: Path | None = None
    chain: Path | None = None

    def check(self, fmt: Format, key_expected: bool) -> None:
        """Refuse, before anything is issued, targets that cannot be written or DER output
        that would go to the terminal."""
        check_writable(self.cert, self.key, self.chain)
        given = [p.resolve() for p in (self.cert, self.key, self.chain) if p is not None]
        if len(set(given)) != len(given):
            raise fail("--cert-out, --key-out and --chain-out must be different files")
        if fmt is Format.der and self.cert is None:
            raise fail("--format der writes files: give --cert-out")
        if fmt is Format.der and key_expected and self.key is None:
            raise fail("--format der writes files: give --key-out")


def check_writable(*paths: Path | None) -> None:
    for path in paths:
        if path is None:
            continue
        if path.is_dir():
            raise fail(f"{path} is a directory")
        if not path.parent.is_dir():
            raise fail(f"cannot write {path}: {path.parent} is not a directory")


def read_text(source: str, what: str, limit: int = MAX_PEM_FILE) -> str:
    """A small text file, or stdin for '-'."""
    try:
        text = sys.stdin.read(limit + 1) if source == "-" else Path(source).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise fail(f"cannot read {what} {source}: {reason}") from None
    if len(text) > limit:
        raise fail(f"{what} {source} is larger than {limit // 1024} KiB")
    return text


def write_public(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror}") from None


def write_secret(path: Path, data: bytes) -> None:
    """Create or replace a file only its owner can read (mode 0600 from its first byte)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode otherwise
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
    finally:
        os.close(fd)


def cert_bytes(pem: str, fmt: Format) -> bytes:
    if fmt is Format.pem:
        return pem.encode()
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise fail("the server answered with a certificate that does not parse") from None
    return cert.public_bytes(serialization.Encoding.DER)


def chain_bytes(pem: str, fmt: Format) -> bytes:
    if fmt is Format.pem or not pem.strip():
        return pem.encode()
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise fail("the server answered with a chain that does not parse") from None
    return pkcs7.serialize_certificates(certs, serialization.Encoding.DER)


def key_bytes(pem: str, fmt: Format) -> bytes:
    if fmt is Format.pem:
        return pem.encode()
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise fail("the server answered with a private key that does not parse") from None
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def deliver(issued: IssuedOut, targets: Targets, fmt: Format, output: Output) -> None:
    """Write what has a target (the key first: it exists nowhere else), then print the rest.
    The private key is printed at most once: in the JSON, or as PEM, never both, and not
    at all once it is in a file."""
    cert_id = issued.certificate.id
    written: dict[str, str] = {}
    if issued.private_key is not None and targets.key is not None:
        try:
            write_secret(targets.key, key_bytes(issued.private_key, fmt))
        except OSError as exc:
            raise fail(
                f"certificate {cert_id} was issued but its key could not be written to "
                f"{targets.key} ({exc.strerror}); revoke it: tessera pki revoke --id {cert_id}"
            ) from None
        written["private_key"] = str(targets.key)
    if targets.cert is not None:
        data = cert_bytes(issued.certificate_pem, fmt)
        _write_issued(targets.cert, data, f"fetch it: tessera pki show {cert_id} --pem", cert_id)
        written["certificate"] = str(targets.cert)
    if targets.chain is not None:
        data = chain_bytes(issued.chain_pem, fmt)
        _write_issued(
            targets.chain, data, f"see: tessera pki ca show {issued.certificate.ca}", cert_id
        )
        written["chain"] = str(targets.chain)
    if output is Output.json:
        shown = (
            issued.model_copy(update={"private_key": None}) if "private_key" in written else issued
        )
        emit(shown, output)
        return
    summary = {
        k: v for k, v in issued.certificate.model_dump(mode="json").items() if k in ISSUED_FIELDS
    }
    emit({**summary, **written}, output)
    if targets.cert is None:
        typer.echo(issued.certificate_pem, nl=False)
    if targets.chain is None and fmt is Format.pem:
        typer.echo(issued.chain_pem, nl=False)
    if issued.private_key is not None and targets.key is None:
        typer.echo(issued.private_key, nl=False)


def _write_issued(path: Path, data: bytes, hint: str, cert_id: str) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise fail(
            f"certificate {cert_id} was issued but {path} could not be written "
            f"({exc.strerror}); {hint}"
        ) from None
