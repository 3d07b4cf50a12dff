"""`tessera oauth client create|list|show|rotate-secret|delete` and `tessera oauth keys
rotate|list`: OAuth clients and signing keys through the server's `/v1/oauth` API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from pydantic import RootModel

from tessera.api import schemas_oauth as s
from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit, emit_page, fail

app = typer.Typer(
    help="OAuth 2 authorization server: clients and signing keys.", no_args_is_help=True
)
clients = typer.Typer(help="OAuth clients of identities.", no_args_is_help=True)
keys = typer.Typer(help="Access-token signing keys.", no_args_is_help=True)
app.add_typer(clients, name="client")
app.add_typer(keys, name="keys")
CLIENT_COLUMNS = ("client_id", "identity", "token_endpoint_auth_method", "status", "last_used_at")
KEY_COLUMNS = ("kid", "alg", "active", "created_at", "retired_at", "publish_until")


class _KeyList(RootModel[list[s.SigningKeyOut]]):
    """The answer of `GET /v1/oauth/keys`."""


def _path(client_id: str, suffix: str = "") -> str:
    return f"/v1/oauth/clients/{quote(client_id, safe='')}{suffix}"


def _shown_once(created: s.ClientCreatedOut, output: Output) -> None:
    if output is Output.json:
        emit(created, output)
        return
    emit(created.info, output)
    if created.client_secret:
        console.print(
            f"\nclient_secret: {created.client_secret}\n[yellow]Shown once: store it now.[/]",
            highlight=False,
        )


def _jwks_file(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read a JSON JWK Set from {path}: {type(exc).__name__}") from None
    if not isinstance(doc, dict):
        raise fail(f"{path} must hold a JWK Set (a JSON object with 'keys')")
    return doc


@clients.command("create")
def create(
    identity: str = typer.Option(..., "--identity", help="Identity the client belongs to."),
    audience: list[str] = typer.Option(..., "--audience", help="Allowed audience (repeat)."),
    scope: list[str] = typer.Option([], "--scope", help="Allowed scope (repeat)."),
    auth_method: str = typer.Option(
        "client_secret_basic",
        "--auth-method",
        help="client_secret_basic, client_secret_post or private_key_jwt.",
    ),
    name: str | None = typer.Option(None, "--name", help="Display name."),
    token_ttl: str | None = typer.Option(None, "--token-ttl", help="e.g. 15m, 1h"),
    jwks: Path | None = typer.Option(None, "--jwks", help="JWK Set file (private_key_jwt)."),
    public_key: Path | None = typer.Option(None, "--public-key", help="PEM public key file."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create a client; a secret client's secret is printed once."""
    pem = None
    if public_key is not None:
        try:
            pem = public_key.read_text()
        except OSError as exc:
            raise fail(f"cannot read {public_key}: {exc.strerror}") from None
    body = s.ClientCreateIn(
        identity=identity,
        audiences=audience,
        scopes=scope,
        token_endpoint_auth_method=auth_method,
        name=name,
        token_ttl=token_ttl,
        jwks=_jwks_file(jwks),
        public_key_pem=pem,
    )
    with client(addr) as c:
        created = c.request(
            "POST", "/v1/oauth/clients", s.ClientCreatedOut, json=body.model_dump(mode="json")
        )
    _shown_once(created, output)


@clients.command("list")
def list_clients(
    identity: str | None = typer.Option(None, "--identity", help="Only this identity's."),
    limit: int = typer.Option(100, "--limit"),
    cursor: str | None = typer.Option(None, "--cursor"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """List clients (those you may read)."""
    params = {"identity": identity, "limit": limit, "cursor": cursor}
    with client(addr) as c:
        page = c.request("GET", "/v1/oauth/clients", s.ClientPageOut, params=params)
    emit_page(page, output, CLIENT_COLUMNS)


@clients.command("show")
def show(client_id: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show a client (never its secret)."""
    with client(addr) as c:
        emit(c.request("GET", _path(client_id), s.ClientOut), output)


@clients.command("rotate-secret")
def rotate_secret(
    client_id: str,
    overlap: str | None = typer.Option(
        None, "--overlap", help="How long the old secret keeps working (default 0)."
    ),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Give a secret client a new secret, printed once."""
    body = s.ClientRotateIn(overlap=overlap).model_dump(mode="json")
    with client(addr) as c:
        rotated = c.request(
            "POST", _path(client_id, "/rotate-secret"), s.ClientCreatedOut, json=body
        )
    _shown_once(rotated, output)


@clients.command("delete")
def delete(client_id: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Revoke a client: it cannot authenticate any more and its tokens introspect inactive."""
    with client(addr) as c:
        emit(c.request("DELETE", _path(client_id), s.ClientOut), output)


@keys.command("rotate")
def rotate_keys(
    alg: str = typer.Option("ES256", "--alg", help="ES256 or EdDSA."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Sign new tokens with a new key; the old key stays published until its tokens expire."""
    body = s.KeyRotateIn(alg=alg).model_dump(mode="json")
    with client(addr) as c:
        emit(c.request("POST", "/v1/oauth/keys/rotate", s.SigningKeyOut, json=body), output)


@keys.command("list")
def list_keys(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Every signing key, newest first."""
    with client(addr) as c:
        found = c.request("GET", "/v1/oauth/keys", _KeyList)
    emit(found.root, output, KEY_COLUMNS)
