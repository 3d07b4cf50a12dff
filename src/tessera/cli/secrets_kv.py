"""`tessera secrets kv put|get|delete|undelete|destroy|list|metadata …`: versioned KV secrets
through the server's `/v1/kv` API."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from tessera.api import schemas_kv as kv
from tessera.cli.client import ClientError, TesseraClient, default_addr, default_token
from tessera.cli.common import AddrOpt, key_values
from tessera.cli.output import Output, OutputOpt, console, emit, emit_names, fail
from tessera.cli.pki_files import read_text
from tessera.core.errors import InvalidPath, InvalidRequest
from tessera.secrets.kv_models import (
    MAX_MAX_VERSIONS,
    MAX_VALUE_BYTES,
    GeneratorSpec,
    validate_path,
)

app = typer.Typer(help="Versioned KV secrets.", no_args_is_help=True)
metadata = typer.Typer(help="A path's settings and the state of its versions.")
app.add_typer(metadata, name="metadata", no_args_is_help=True)

VersionsOpt = typer.Option(None, "--versions", help="Comma-separated version numbers: 1,2.")
VERSION_COLUMNS = ("version", "created_at", "deleted_at", "destroyed")


class KvClient(TesseraClient):
    """The `/v1/kv` operations; paths are checked here first so a bad one never leaves."""

    def write(self, path: str, data: dict[str, Any], cas: int | None) -> kv.KvVersionOut:
        body = {"data": data, "options": {"cas": cas}}
        return self._call("POST", _url("data", path), kv.KvVersionOut, json=body)

    def read(self, path: str, version: int | None) -> kv.KvReadOut:
        params = {"version": version}
        return self._call("GET", _url("data", path), kv.KvReadOut, params=params)

    def delete_latest(self, path: str) -> None:
        self._send("DELETE", _url("data", path))

    def versions(self, action: str, path: str, versions: list[int]) -> None:
        self._send("POST", _url(action, path), json={"versions": versions})

    def metadata_read(self, path: str) -> kv.KvMetadataOut:
        return self._call("GET", _url("metadata", path), kv.KvMetadataOut)

    def metadata_write(self, path: str, body: kv.KvMetadataIn) -> kv.KvMetadataOut:
        doc = body.model_dump(exclude_none=True)
        return self._call("POST", _url("metadata", path), kv.KvMetadataOut, json=doc)

    def rotate_secret(self, path: str) -> kv.KvVersionOut:
        return self._call("POST", _url("rotate", path), kv.KvVersionOut)

    def metadata_delete(self, path: str) -> None:
        self._send("DELETE", _url("metadata", path))

    def list_keys(self, prefix: str, limit: int, cursor: str | None) -> kv.KvListOut:
        url = _url("list", prefix) if prefix.strip("/") else "/v1/kv/list"
        params = {"limit": limit, "cursor": cursor}
        return self._call("GET", url, kv.KvListOut, params=params)


def _url(action: str, path: str) -> str:
    try:
        validate_path(path.removesuffix("/") if action == "list" else path)
    except InvalidPath as exc:
        raise ClientError(exc.detail) from None
    return f"/v1/kv/{action}/{quote(path, safe='/')}"


@contextmanager
def kv_client(addr: str | None) -> Iterator[KvClient]:
    """Like `common.client`: every ClientError becomes one `Error:` line and exit code 1."""
    try:
        c = KvClient(addr or default_addr(), default_token())
    except ClientError as exc:
        raise fail(str(exc)) from None
    try:
        yield c
    except ClientError as exc:
        raise fail(str(exc)) from None
    finally:
        c.close()


def _json_object(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{source} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(value, dict):
        raise fail(f"{source} must hold a JSON object of keys to values")
    return value


def _data(pairs: list[str], file: Path | None) -> dict[str, Any]:
    """The secret from --file, a lone '-' (JSON on stdin) and key=value pairs (later wins);
    a value `@FILE` is that file's text and `-` is stdin's."""
    limit = MAX_VALUE_BYTES
    data: dict[str, Any] = {}
    stdin_used = False
    if file is not None:
        data.update(_json_object(read_text(str(file), "file", limit), str(file)))
    for pair in pairs:
        if pair == "-" or pair.endswith("=-"):
            if stdin_used:
                raise fail("stdin ('-') can be read only once")
            stdin_used = True
        if pair == "-":
            data.update(_json_object(read_text("-", "stdin", limit), "stdin"))
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"expected key=value, got {key[:64]!r}")
        if value == "-":
            value = read_text("-", "stdin", limit).removesuffix("\n")
        elif value.startswith("@"):
            value = read_text(value[1:], f"value of {key!r}", limit)
        data[key] = value
    if not data and file is None:
        raise fail("give the secret as key=value pairs, --file F.json or - (JSON on stdin)")
    return data


def _versions(text: str | None, required: bool) -> list[int]:
    if text is None:
        if required:
            raise fail("--versions is required (e.g. --versions 1,2)")
        return []
    try:
        versions = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise fail("--versions takes comma-separated version numbers, e.g. 1,2") from None
    if not versions or min(versions) < 1:
        raise fail("--versions takes positive version numbers, e.g. 1,2")
    return versions


@app.command()
def put(
    path: str,
    pairs: list[str] = typer.Argument(
        None, help="key=value (value @FILE: a file's text; -: stdin), or - for a JSON object."
    ),
    cas: int | None = typer.Option(None, "--cas", min=0, help="Write only if at version N."),
    file: Path | None = typer.Option(None, "--file", "-f", help="JSON object file."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Write a new version of the secret at PATH."""
    data = _data(pairs or [], file)
    with kv_client(addr) as c:
        written = c.write(path, data, cas)
    if output is Output.json:
        emit(written, output)
    else:
        console.print(f"Secret {path!r} written: version {written.version}.", highlight=False)


@app.command()
def get(
    path: str,
    version: int | None = typer.Option(None, "--version", min=1, help="Default: the latest."),
    field: str | None = typer.Option(None, "--field", help="Print only this key's value."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Read the latest version of PATH, or --version N."""
    with kv_client(addr) as c:
        got = c.read(path, version)
    if field is not None:
        if field not in got.data:
            raise fail(f"version {got.metadata.version} of {path!r} has no key {field!r}")
        value = got.data[field]
        text = value if isinstance(value, str) and output is Output.table else json.dumps(value)
        sys.stdout.write(text + "\n")
        return
    if output is Output.json:
        emit(got, output)
        return
    emit(got.metadata, output, title=f"{path} (version {got.metadata.version})")
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in got.data.items():
        # Text, not markup: a value such as "p[b]w" must print exactly as stored
        table.add_row(Text(key), Text(value if isinstance(value, str) else json.dumps(value)))
    console.print(table)


@app.command()
def delete(
    path: str, versions: str | None = VersionsOpt, addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:  # fmt: skip
    """Soft-delete the latest version, or --versions; `undelete` brings them back."""
    wanted = _versions(versions, required=False)
    with kv_client(addr) as c:
        if wanted:
            c.versions("delete", path, wanted)
        else:
            c.delete_latest(path)
    _done(output, path, "deleted", wanted)


@app.command()
def undelete(
    path: str, versions: str | None = VersionsOpt, addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:  # fmt: skip
    """Bring soft-deleted versions back (destroyed ones cannot come back)."""
    wanted = _versions(versions, required=True)
    with kv_client(addr) as c:
        c.versions("undelete", path, wanted)
    _done(output, path, "undeleted", wanted)


@app.command()
def destroy(
    path: str, versions: str | None = VersionsOpt, addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:  # fmt: skip
    """Erase the values of --versions for good."""
    wanted = _versions(versions, required=True)
    with kv_client(addr) as c:
        c.versions("destroy", path, wanted)
    _done(output, path, "destroyed", wanted)


def _done(output: Output, path: str, action: str, versions: list[int]) -> None:
    if output is Output.json:
        emit({"path": path, action: versions or "latest"}, output)
        return
    plural = "s" if len(versions) > 1 else ""
    listed = ", ".join(map(str, versions))
    which = f"version{plural} {listed}" if versions else "the latest version"
    console.print(f"{which[0].upper()}{which[1:]} of {path!r} {action}.", highlight=False)


@app.command("list")
def list_(
    prefix: str = typer.Argument("", help="Folder to list (default: the top)."),
    limit: int = typer.Option(1000, "--limit", min=1, max=1000),
    cursor: str | None = typer.Option(None, "--cursor", help="From a previous page."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """List the keys and folders (ending in '/') right under PREFIX."""
    with kv_client(addr) as c:
        page = c.list_keys(prefix, limit, cursor)
    if output is Output.json:
        emit(page, output)
        return
    emit_names(page.keys, output)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}", highlight=False)


# -- metadata ------------------------------------------------------------------------------------
def _show_metadata(meta: kv.KvMetadataOut, output: Output) -> None:
    if output is Output.json:
        emit(meta, output)
        return
    emit(meta.model_dump(mode="json", exclude={"versions"}), output, title=meta.path)
    emit(meta.versions, output, VERSION_COLUMNS)


@metadata.command("get")
def metadata_get(path: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show PATH's settings, inventory facts and every kept version's state."""
    with kv_client(addr) as c:
        _show_metadata(c.metadata_read(path), output)


@metadata.command("put")
def metadata_put(
    path: str,
    max_versions: int | None = typer.Option(
        None, "--max-versions", min=0, max=MAX_MAX_VERSIONS, help="Versions kept (0 = 10)."
    ),
    cas_required: bool | None = typer.Option(
        None, "--cas-required/--no-cas-required", help="Whether every write needs --cas."
    ),
    owner: str | None = typer.Option(None, "--owner", help="Accountable team or person."),
    rotation_period: str | None = typer.Option(
        None, "--rotation-period", help="e.g. 90d; 0 clears."
    ),
    custom: list[str] = typer.Option(
        None, "--custom", help="key=value (repeat); replaces the custom metadata."
    ),
    generate: str | None = typer.Option(
        None,
        "--generate",
        help="FIELD:LENGTH:ALPHABET (alnum, alnum-symbols, hex, base64url): with "
        "--rotation-period, FIELD is regenerated automatically each period.",
    ),
    no_generate: bool = typer.Option(False, "--no-generate", help="Remove the generator."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Change PATH's settings (creating it without a version if needed)."""
    try:
        spec = GeneratorSpec.parse(generate) if generate is not None else None
    except InvalidRequest as exc:
        raise fail(f"--generate: {exc.detail}") from None
    body = kv.KvMetadataIn(
        generate=kv.KvGenerator(field=spec.field, length=spec.length, alphabet=spec.alphabet)
        if spec
        else None,
        clear_generate=no_generate,
        max_versions=max_versions,
        cas_required=cas_required,
        owner=owner,
        rotation_period=rotation_period,
        custom_metadata=key_values(custom, "--custom") if custom else None,
    )
    with kv_client(addr) as c:
        _show_metadata(c.metadata_write(path, body), output)


@app.command()
def rotate(path: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Rotate PATH now: a new version with the generated field made afresh (the value is
    not shown; the previous version stays readable with --version)."""
    with kv_client(addr) as c:
        written = c.rotate_secret(path)
    if output is Output.json:
        emit(written, output)
    else:
        console.print(f"Secret {path!r} rotated: version {written.version}.", highlight=False)


@metadata.command("delete")
def metadata_delete(path: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Delete every version of PATH and its metadata, for good."""
    with kv_client(addr) as c:
        c.metadata_delete(path)
    if output is Output.json:
        emit({"path": path, "deleted": "all"}, output)
    else:
        console.print(f"Every version and the metadata of {path!r} deleted.", highlight=False)
