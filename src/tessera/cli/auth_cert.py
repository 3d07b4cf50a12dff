"""`tessera auth cert …`: roles of the TLS certificate login, and the login itself over
mutual TLS to the server's TLS login listener (its address is not the API's)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import typer
from pydantic import ValidationError

from tessera.api.schemas import NamesOut
from tessera.api.schemas_auth import LoginOut
from tessera.api.schemas_auth_cert import CertLoginIn, CertRoleIn, CertRoleOut
from tessera.cli.client import TOKEN_FILE
from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit, emit_names, fail

app = typer.Typer(help="TLS certificate login over mutual TLS.", no_args_is_help=True)
role_app = typer.Typer(help="Cert login roles.", no_args_is_help=True)
app.add_typer(role_app, name="role")

LOGIN_PATH = "/v1/auth/cert/login"


def _p(name: str) -> str:
    return quote(name, safe="")


@role_app.command("write")
def role_write(
    name: str,
    ca: list[str] = typer.Option([], "--ca", help="Tessera CA name trusted (repeat)."),
    trusted_ca_file: list[Path] = typer.Option(
        [], "--trusted-ca-file", help="Extra CA certificate PEM file (repeat)."
    ),
    dns_san: list[str] = typer.Option([], "--dns-san", help="DNS SAN pattern (repeat)."),
    uri_san: list[str] = typer.Option(
        [], "--uri-san", help="URI SAN pattern, e.g. a SPIFFE ID (repeat)."
    ),
    identity: str | None = typer.Option(None, "--identity", help="Bind tokens to it."),
    policy: list[str] = typer.Option([], "--policy", "-p", help="Policy (repeat)."),
    token_ttl: str = typer.Option("1h", "--token-ttl"),
    token_max_ttl: str = typer.Option("24h", "--token-max-ttl"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a cert role."""
    pems = []
    for path in trusted_ca_file:
        try:
            pems.append(path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        body = CertRoleIn(
            allowed_cas=ca, trusted_ca_pems=pems, allowed_dns_sans=dns_san,
            allowed_uri_sans=uri_san, identity=identity, policies=policy,
            token_ttl=token_ttl, token_max_ttl=token_max_ttl,
        )  # fmt: skip
    except ValidationError as exc:
        raise fail(f"invalid role: {exc.errors()[0]['msg']}") from None
    with client(addr) as c:
        out = c.request("PUT", f"/v1/auth/cert/roles/{_p(name)}", CertRoleOut,
                        json=body.model_dump(mode="json", exclude_none=True))  # fmt: skip
    emit(out, output)


@role_app.command("read")
def role_read(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show a cert role."""
    with client(addr) as c:
        emit(c.request("GET", f"/v1/auth/cert/roles/{_p(name)}", CertRoleOut), output)


@role_app.command("list")
def role_list(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List cert role names."""
    with client(addr) as c:
        emit_names(c.request("GET", "/v1/auth/cert/roles", NamesOut).names, output)


@role_app.command("delete")
def role_delete(name: str, addr: str | None = AddrOpt) -> None:
    """Delete a cert role."""
    with client(addr) as c:
        c.delete(f"/v1/auth/cert/roles/{_p(name)}")
    console.print(f"Deleted cert role {name}.", highlight=False)


def _tls_context(cert: Path, key: Path, ca: Path | None) -> ssl.SSLContext:
    try:
        ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise fail(f"cannot load the certificate, key or CA file: {exc}") from None
    return ctx


@app.command("login")
def login(
    cert: Path = typer.Option(..., "--cert", help="Client certificate PEM (chain may follow)."),
    key: Path = typer.Option(..., "--key", help="Its private key PEM."),
    ca: Path | None = typer.Option(None, "--ca", help="CA file to verify the listener with."),
    role: str | None = typer.Option(None, "--role", help="Role; none: the first that fits."),
    login_addr: str = typer.Option(
        "https://127.0.0.1:8701",
        "--login-addr",
        envvar="TESSERA_CERT_LOGIN_ADDR",
        help="URL of the server's TLS login listener.",
    ),
    save: bool = typer.Option(False, "--save", help="Store the token in ~/.tessera-token."),
    output: Output = OutputOpt,
) -> None:
    """Log in with a client certificate over mutual TLS and print (or save) the token."""
    if not login_addr.startswith("https://"):
        raise fail("--login-addr must start with https://")
    body = CertLoginIn(role=role).model_dump(exclude_none=True)
    ctx = _tls_context(cert, key, ca)
    try:
        with httpx.Client(verify=ctx, timeout=30) as http:
            resp = http.post(login_addr.rstrip("/") + LOGIN_PATH, json=body)
    except httpx.HTTPError as exc:
        raise fail(
            f"the TLS login at {login_addr} failed ({type(exc).__name__}): the listener refused "
            "the handshake (a CA it does not know, or not a client certificate) or is "
            "unreachable"
        ) from None
    _show(resp, save, output)


def _show(resp: httpx.Response, save: bool, output: Output) -> None:
    try:
        doc: Any = resp.json()
    except ValueError:
        raise fail(
            f"unexpected answer from the TLS login listener (HTTP {resp.status_code})"
        ) from None
    if resp.status_code >= 400:
        title = doc.get("title", "Login refused") if isinstance(doc, dict) else "Login refused"
        detail = doc.get("detail", "") if isinstance(doc, dict) else ""
        raise fail(f"{title}: {detail}")
    try:
        out = LoginOut.model_validate(doc)
    except ValidationError:
        raise fail("unexpected answer from the TLS login listener") from None
    if save:
        fd = os.open(TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(out.token + "\n")
        console.print(f"Logged in as {out.info.display_name}; token saved.", highlight=False)
        return
    if output is Output.json:
        emit(out, output)
        return
    emit({"token": out.token, **out.info.model_dump(mode="json")}, output)
