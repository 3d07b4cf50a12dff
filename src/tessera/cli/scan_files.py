"""`tessera scan files`: find certificates, private keys and SSH keys in files and directories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from tessera.cli.common import AddrOpt
from tessera.cli.output import Output, OutputOpt, console, emit, fail
from tessera.cli.scan_progress import progress_bar
from tessera.cli.scan_upload import UploadOpt, upload
from tessera.core.errors import TesseraError
from tessera.discovery.files import (
    DEFAULT_MAX_FILE_SIZE,
    FileScanRequest,
    FileScanResult,
    scan_files,
)
from tessera.discovery.models import DiscoveredCredential

MAX_PASSWORD_FILE = 1024 * 1024

PathsArg = typer.Argument(..., help="Files and directories to scan.", show_default=False)
PasswordFileOpt = typer.Option(
    None,
    "--password-file",
    help="Passwords to try on PKCS#12 files and encrypted keys, one a line.",
)
MaxSizeOpt = typer.Option(
    DEFAULT_MAX_FILE_SIZE, "--max-file-size", min=1, help="Skip (and report) larger files."
)


def command(
    paths: list[Path] = PathsArg,
    password_file: Path | None = PasswordFileOpt,
    output: Output = OutputOpt,
    max_file_size: int = MaxSizeOpt,
    send: bool = UploadOpt,
    addr: str | None = AddrOpt,
) -> None:
    """Find X.509 certificates, private keys (PEM, DER, PKCS#12, OpenSSH) and SSH public keys
    (authorized_keys, known_hosts, *.pub). Private key material is never printed."""
    passwords = read_passwords(password_file) if password_file else ()
    if send:
        paths = [p.absolute() for p in paths]  # the inventory names places absolutely
    try:
        request = FileScanRequest(tuple(str(p) for p in paths), passwords, max_file_size)
    except TesseraError as exc:
        raise fail(exc.detail) from None
    with progress_bar("scanning files", "files") as bar:
        result = scan_files(request, bar)
    if send:
        upload("files", [str(p) for p in paths], result.credentials, result.errors, addr)
    if output is Output.json:
        emit(result_document(result), output)
        return
    _print_tables(result)


def read_passwords(path: Path) -> tuple[bytes, ...]:
    """Non-empty lines of a small file, as bytes (no encoding is assumed)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PASSWORD_FILE + 1)
    except OSError as exc:
        raise fail(f"cannot read password file {path}: {exc.strerror}") from None
    if len(data) > MAX_PASSWORD_FILE:
        raise fail(f"password file {path} is larger than {MAX_PASSWORD_FILE // 1024} KiB")
    lines = (line.rstrip(b"\r") for line in data.split(b"\n"))
    return tuple(dict.fromkeys(line for line in lines if line))


def result_document(result: FileScanResult) -> dict[str, Any]:
    """The JSON form: credentials with their locations, errors, and how many files were read."""
    return {
        "credentials": [credential_document(c) for c in result.credentials],
        "errors": [{"where": e.where, "message": e.message} for e in result.errors],
        "files_scanned": result.files_scanned,
    }


def credential_document(cred: DiscoveredCredential) -> dict[str, Any]:
    return {
        "kind": cred.kind.value,
        "fingerprint": cred.fingerprint,
        "name": cred.name,
        "not_after": cred.not_after.isoformat() if cred.not_after else None,
        "locations": [{"kind": loc.kind.value, "location": loc.location} for loc in cred.locations],
        "attributes": cred.attributes,
    }


def _print_tables(result: FileScanResult) -> None:
    table = Table(title=f"{len(result.credentials)} credentials in {result.files_scanned} files")
    for column in ("kind", "name", "key", "fingerprint", "not after", "flags", "locations"):
        table.add_column(column)
    for cred in result.credentials:
        attrs = cred.attributes
        key = " ".join(str(attrs[k]) for k in ("key_type", "curve", "key_size") if k in attrs)
        # Text cells: names and paths come from the files scanned, never read as rich markup.
        table.add_row(
            cred.kind.value,
            Text(cred.name),
            key or "-",
            cred.fingerprint[:16],
            cred.not_after.date().isoformat() if cred.not_after else "-",
            ", ".join(_flags(attrs)) or "-",
            Text("\n".join(loc.location for loc in cred.locations)),
        )
    console.print(table)
    if result.errors:
        errors = Table(title=f"{len(result.errors)} errors")
        errors.add_column("where")
        errors.add_column("message")
        for error in result.errors:
            errors.add_row(Text(error.where), Text(error.message))
        console.print(errors)


def _flags(attrs: dict[str, Any]) -> list[str]:
    flags = []
    if attrs.get("unencrypted"):
        flags.append("unencrypted")
    if attrs.get("duplicate_locations"):
        flags.append("copies")
    if attrs.get("certificates"):
        flags.append("has cert")
    if attrs.get("private_key_found"):
        flags.append("key found")
    if attrs.get("self_signed"):
        flags.append("self-signed")
    if attrs.get("is_ca"):
        flags.append("CA")
    return flags
