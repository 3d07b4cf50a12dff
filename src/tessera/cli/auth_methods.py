"""`tessera auth approle …` and `tessera auth jwt …`: machine login roles, secret ids, logins.
Secrets (secret ids, JWTs) are never taken as arguments: argv shows in `ps` and shell history."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from pydantic import BaseModel

from tessera.api.schemas import NamesOut
from tessera.api.schemas_auth import (
    AppRoleIn,
    AppRoleLoginIn,
    AppRoleOut,
    JwtIssuerIn,
    JwtIssuerOut,
    JwtLoginIn,
    JwtRoleIn,
    JwtRoleOut,
    LoginOut,
    RoleIdOut,
    SecretIdCreatedOut,
    SecretIdIn,
    SecretIdInfoOut,
    SecretIdListOut,
)
from tessera.cli.client import TOKEN_FILE
from tessera.cli.common import AddrOpt, client, key_values
from tessera.cli.output import Output, OutputOpt, console, emit, emit_names, fail

app = typer.Typer(help="Machine auth methods: AppRole and JWT/OIDC.", no_args_is_help=True)
approle = typer.Typer(help="AppRole: role id + secret id logins.", no_args_is_help=True)
approle_role = typer.Typer(help="AppRole roles.", no_args_is_help=True)
secret_id = typer.Typer(help="Secret ids of a role.", no_args_is_help=True)
jwt = typer.Typer(help="JWT/OIDC: logins with a platform's signed token.", no_args_is_help=True)
jwt_issuer = typer.Typer(help="Trusted JWT issuers.", no_args_is_help=True)
jwt_role = typer.Typer(help="JWT login roles.", no_args_is_help=True)
app.add_typer(approle, name="approle")
approle.add_typer(approle_role, name="role")
approle.add_typer(secret_id, name="secret-id")
app.add_typer(jwt, name="jwt")
jwt.add_typer(jwt_issuer, name="issuer")
jwt.add_typer(jwt_role, name="role")

SaveOpt = typer.Option(False, "--save", help="Store the token in ~/.tessera-token (0600).")


def _p(name: str) -> str:
    return quote(name, safe="")


def _body(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def _secret_input(env: str, stdin: bool, what: str) -> str:
    value = sys.stdin.readline().strip() if stdin else os.environ.get(env, "")
    if not value and not stdin and sys.stdin.isatty():
        value = typer.prompt(what, hide_input=True)
    if not value:
        raise fail(f"no {what}: set {env}, pipe it with --stdin, or type it when asked")
    return value


def _login(addr: str | None, path: str, body: BaseModel, save: bool, output: Output) -> None:
    with client(addr) as c:
        # logins carry their own proof: no token is sent
        out = c.request("POST", path, LoginOut, json=_body(body), auth=False)
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


# -- AppRole ------------------------------------------------------------------------------------
@approle_role.command("write")
def approle_write(
    name: str,
    identity: str | None = typer.Option(None, "--identity", help="Bind tokens to it."),
    policy: list[str] = typer.Option([], "--policy", "-p", help="Policy (repeat)."),
    token_ttl: str = typer.Option("1h", "--token-ttl"),
    token_max_ttl: str = typer.Option("24h", "--token-max-ttl"),
    secret_id_ttl: str = typer.Option("0", "--secret-id-ttl", help="0: no expiry."),
    secret_id_num_uses: int = typer.Option(0, "--secret-id-num-uses", help="0: unlimited."),
    secret_id_cidr: list[str] = typer.Option([], "--secret-id-cidr", help="CIDR (repeat)."),
    token_cidr: list[str] = typer.Option([], "--token-cidr", help="CIDR (repeat)."),
    bind_secret_id: bool = typer.Option(True, "--bind-secret-id/--no-bind-secret-id"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace an AppRole role (its role id is kept)."""
    body = AppRoleIn(
        identity=identity,
        policies=policy,
        token_ttl=token_ttl,
        token_max_ttl=token_max_ttl,
        secret_id_ttl=secret_id_ttl,
        secret_id_num_uses=secret_id_num_uses,
        secret_id_bound_cidrs=secret_id_cidr,
        token_bound_cidrs=token_cidr,
        bind_secret_id=bind_secret_id,
    )
    with client(addr) as c:
        emit(c.request("PUT", f"/v1/auth/approle/roles/{_p(name)}", AppRoleOut, json=_body(body)),
             output)  # fmt: skip


@approle_role.command("read")
def approle_read(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show a role."""
    with client(addr) as c:
        emit(c.request("GET", f"/v1/auth/approle/roles/{_p(name)}", AppRoleOut), output)


@approle_role.command("list")
def approle_list(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List role names."""
    with client(addr) as c:
        emit_names(c.request("GET", "/v1/auth/approle/roles", NamesOut).names, output)


@approle_role.command("delete")
def approle_delete(name: str, addr: str | None = AddrOpt) -> None:
    """Delete a role and all its secret ids."""
    with client(addr) as c:
        c.delete(f"/v1/auth/approle/roles/{_p(name)}")
    console.print(f"Deleted AppRole role {name}.", highlight=False)


@approle.command("role-id")
def approle_role_id(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Print a role's role id."""
    with client(addr) as c:
        emit(c.request("GET", f"/v1/auth/approle/roles/{_p(name)}/role-id", RoleIdOut), output)


@secret_id.command("create")
def secret_id_create(
    role: str,
    cidr: list[str] = typer.Option([], "--cidr", help="Source CIDR (repeat)."),
    meta: list[str] = typer.Option([], "--meta", help="key=value (repeat)."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create a secret id for the role; it is printed once."""
    body = SecretIdIn(cidrs=cidr, meta=key_values(meta, "--meta"))
    with client(addr) as c:
        out = c.request("POST", f"/v1/auth/approle/roles/{_p(role)}/secret-id",
                        SecretIdCreatedOut, json=_body(body))  # fmt: skip
    if output is Output.json:
        emit(out, output)
        return
    emit({"secret_id": out.secret_id, **out.info.model_dump(mode="json")}, output)


@secret_id.command("list")
def secret_id_list(role: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List the live secret ids of a role (accessors, never the secrets)."""
    with client(addr) as c:
        out = c.request("GET", f"/v1/auth/approle/roles/{_p(role)}/secret-id", SecretIdListOut)
    emit(out.secret_ids, output, columns=("accessor", "uses_left", "expires_at", "cidrs"))


@secret_id.command("lookup")
def secret_id_lookup(
    role: str, accessor: str, addr: str | None = AddrOpt, output: Output = OutputOpt
) -> None:
    """Show a secret id by its accessor (under its own role only)."""
    path = f"/v1/auth/approle/roles/{_p(role)}/secret-id-accessors/{_p(accessor)}"
    with client(addr) as c:
        emit(c.request("GET", path, SecretIdInfoOut), output)


@secret_id.command("destroy")
def secret_id_destroy(role: str, accessor: str, addr: str | None = AddrOpt) -> None:
    """Destroy a secret id by its accessor."""
    with client(addr) as c:
        c.delete(f"/v1/auth/approle/roles/{_p(role)}/secret-id-accessors/{_p(accessor)}")
    console.print("Secret id destroyed.", highlight=False)


@approle.command("login")
def approle_login(
    role_id: str = typer.Option(..., "--role-id", envvar="TESSERA_ROLE_ID"),
    stdin: bool = typer.Option(False, "--stdin", help="Read the secret id from stdin."),
    no_secret: bool = typer.Option(False, "--no-secret-id", help="Role without secret ids."),
    save: bool = SaveOpt,
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Log in with a role id and a secret id (from TESSERA_SECRET_ID, stdin or a prompt)."""
    secret = None if no_secret else _secret_input("TESSERA_SECRET_ID", stdin, "secret id")
    body = AppRoleLoginIn(role_id=role_id, secret_id=secret)
    _login(addr, "/v1/auth/approle/login", body, save, output)


# -- JWT / OIDC ---------------------------------------------------------------------------------
@jwt_issuer.command("write")
def issuer_write(
    name: str,
    issuer: str = typer.Option(..., "--issuer", help="Exact `iss` of the tokens."),
    jwks_url: str | None = typer.Option(None, "--jwks-url"),
    keys_file: Path | None = typer.Option(None, "--keys-file", help="JWKS JSON of static keys."),
    algorithm: list[str] = typer.Option(["RS256", "ES256"], "--algorithm", help="(repeat)"),
    leeway: str = typer.Option("30", "--leeway"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a trusted issuer (a JWKS URL or a file of static public keys)."""
    static: list[dict[str, Any]] = []
    if keys_file is not None:
        try:
            doc = json.loads(keys_file.read_text())
        except (OSError, ValueError) as exc:
            raise fail(f"cannot read {keys_file}: {exc}") from None
        static = doc.get("keys", []) if isinstance(doc, dict) else []
    body = JwtIssuerIn(issuer=issuer, jwks_url=jwks_url, static_keys=static,
                       algorithms=algorithm, leeway=leeway)  # fmt: skip
    with client(addr) as c:
        emit(c.request("PUT", f"/v1/auth/jwt/issuers/{_p(name)}", JwtIssuerOut, json=_body(body)),
             output)  # fmt: skip


@jwt_issuer.command("read")
def issuer_read(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show an issuer."""
    with client(addr) as c:
        emit(c.request("GET", f"/v1/auth/jwt/issuers/{_p(name)}", JwtIssuerOut), output)


@jwt_role.command("write")
def jwt_role_write(
    name: str,
    issuer: str = typer.Option(..., "--issuer", help="Name of a configured issuer."),
    aud: list[str] = typer.Option(..., "--aud", help="Accepted audience (repeat)."),
    claim: list[str] = typer.Option([], "--claim", help="name=value (repeat; same name: any)."),
    user_claim: str = typer.Option("sub", "--user-claim"),
    typ: str | None = typer.Option(None, "--typ", help="Required `typ` header."),
    identity: str | None = typer.Option(None, "--identity"),
    policy: list[str] = typer.Option([], "--policy", "-p"),
    token_ttl: str = typer.Option("1h", "--token-ttl"),
    token_max_ttl: str = typer.Option("24h", "--token-max-ttl"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a JWT login role."""
    claims: dict[str, Any] = {}
    for pair in claim:
        key, sep, value = pair.partition("=")
        if not sep:
            raise fail(f"--claim takes name=value, got {key!r}")
        claims.setdefault(key, []).append(value)
    bound = {k: v[0] if len(v) == 1 else v for k, v in claims.items()}
    body = JwtRoleIn(issuer=issuer, bound_audiences=aud, bound_claims=bound,
                     user_claim=user_claim, expected_typ=typ, identity=identity,
                     policies=policy, token_ttl=token_ttl, token_max_ttl=token_max_ttl)  # fmt: skip
    with client(addr) as c:
        emit(c.request("PUT", f"/v1/auth/jwt/roles/{_p(name)}", JwtRoleOut, json=_body(body)),
             output)  # fmt: skip


@jwt_role.command("read")
def jwt_role_read(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show a JWT role."""
    with client(addr) as c:
        emit(c.request("GET", f"/v1/auth/jwt/roles/{_p(name)}", JwtRoleOut), output)


@jwt.command("login")
def jwt_login(
    role: str = typer.Option(..., "--role"),
    jwt_file: Path | None = typer.Option(None, "--jwt-file", help="e.g. a projected SA token."),
    stdin: bool = typer.Option(False, "--stdin", help="Read the JWT from stdin."),
    save: bool = SaveOpt,
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Log in with a JWT (from --jwt-file, TESSERA_JWT, stdin or a prompt)."""
    if jwt_file is not None:
        try:
            token = jwt_file.read_text().strip()
        except OSError as exc:
            raise fail(f"cannot read {jwt_file}: {exc.strerror}") from None
    else:
        token = _secret_input("TESSERA_JWT", stdin, "JWT")
    _login(addr, "/v1/auth/jwt/login", JwtLoginIn(role=role, jwt=token), save, output)


__all__ = ["app"]
