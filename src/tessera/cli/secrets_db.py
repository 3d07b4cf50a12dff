"""`tessera secrets db …`: database connections, roles, credentials and password rotation."""

from __future__ import annotations

import os
import sys
from urllib.parse import quote

import typer

from tessera.api.schemas import NamesOut
from tessera.api.schemas_secrets import (
    DbConnectionIn,
    DbConnectionOut,
    DbCredsIn,
    DbCredsOut,
    DbRoleIn,
    DbRoleOut,
    DbStaticRoleIn,
    StaticCredsOut,
)
from tessera.cli.common import AddrOpt, client
from tessera.cli.documents import load_named
from tessera.cli.output import Output, OutputOpt, console, emit, emit_names, fail

app = typer.Typer(help="Database credentials: connections, roles, creds.", no_args_is_help=True)
config = typer.Typer(help="Connections Tessera manages users through.", no_args_is_help=True)
role = typer.Typer(help="Dynamic roles: a new user per credentials request.", no_args_is_help=True)
static = typer.Typer(help="Static roles: existing users whose password Tessera rotates.",
                     no_args_is_help=True)  # fmt: skip
app.add_typer(config, name="config")
app.add_typer(role, name="role")
app.add_typer(static, name="static-role")


def _p(name: str) -> str:
    return quote(name, safe="")


@config.command("write")
def config_write(
    name: str,
    plugin: str = typer.Option(..., "--plugin", help="postgresql or mysql (also MariaDB)."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int | None = typer.Option(None, "--port"),
    database: str = typer.Option("", "--database"),
    username: str = typer.Option(..., "--username"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin (else TESSERA_DB_PASSWORD)."
    ),
    allowed_role: list[str] = typer.Option(["*"], "--allowed-role"),
    no_verify: bool = typer.Option(False, "--no-verify", help="Save without logging in."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a connection (the login Tessera creates and drops users with)."""
    # never an argument: argv shows in `ps` and shell history
    env = os.environ.get("TESSERA_DB_PASSWORD", "")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else env
    body = DbConnectionIn(
        plugin=plugin, host=host, port=port, database=database, username=username,
        password=password, allowed_roles=allowed_role, verify=not no_verify,
    )  # fmt: skip
    with client(addr) as c:
        out = c.request("PUT", f"/v1/database/config/{_p(name)}", DbConnectionOut,
                        json=body.model_dump(exclude_none=True))  # fmt: skip
    emit(out, output) if output is Output.json else console.print(f"Connection {name!r} written.")


@config.command("read")
def config_read(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show a connection (never its password)."""
    with client(addr) as c:
        emit(c.request("GET", f"/v1/database/config/{_p(name)}", DbConnectionOut), output)


@config.command("list")
def config_list(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    with client(addr) as c:
        emit_names(c.request("GET", "/v1/database/config", NamesOut).names, output)


@config.command("delete")
def config_delete(name: str, addr: str | None = AddrOpt) -> None:
    """Delete a connection that no role or live lease uses."""
    with client(addr) as c:
        c.delete(f"/v1/database/config/{_p(name)}")
    console.print(f"Connection {name!r} deleted.")


@app.command("rotate-root")
def rotate_root(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Give the connection's login a new password that only Tessera knows."""
    with client(addr) as c:
        emit(c.request("POST", f"/v1/database/rotate-root/{_p(name)}", DbConnectionOut), output)


@role.command("write")
def role_write(
    name: str,
    file: str = typer.Argument(..., help="JSON role document, or - for stdin."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a dynamic role ({"connection": …, "grants": [{"privileges", "on"}]})."""
    body = load_named(file, name, DbRoleIn, "role", "'connection' and 'grants'")
    with client(addr) as c:
        out = c.request("PUT", f"/v1/database/roles/{_p(name)}", DbRoleOut,
                        json=body.model_dump())  # fmt: skip
    emit(out, output) if output is Output.json else console.print(f"Role {name!r} written.")


@role.command("read")
def role_read(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    with client(addr) as c:
        emit(c.request("GET", f"/v1/database/roles/{_p(name)}", DbRoleOut), output)


@role.command("list")
def role_list(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    with client(addr) as c:
        emit_names(c.request("GET", "/v1/database/roles", NamesOut).names, output)


@role.command("delete")
def role_delete(name: str, addr: str | None = AddrOpt) -> None:
    """Delete a role; leases already issued run until they end."""
    with client(addr) as c:
        c.delete(f"/v1/database/roles/{_p(name)}")
    console.print(f"Role {name!r} deleted.")


@app.command("creds")
def creds(
    role_name: str = typer.Argument(..., metavar="ROLE"),
    ttl: str | None = typer.Option(None, "--ttl", help="e.g. 15m; default: the role's."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """A fresh database user and password under a lease (shown once)."""
    with client(addr) as c:
        out = c.request("POST", f"/v1/database/creds/{_p(role_name)}", DbCredsOut,
                        json=DbCredsIn(ttl=ttl).model_dump(exclude_none=True))  # fmt: skip
    if output is Output.json:
        emit(out, output)
        return
    emit({"username": out.username, "password": out.password, "lease_id": out.lease.lease_id,
          "expires_at": out.lease.expires_at.isoformat(), "renewable": out.lease.renewable},
         output)  # fmt: skip


@static.command("write")
def static_write(
    name: str,
    connection: str = typer.Option(..., "--connection"),
    username: str = typer.Option(..., "--username", help="The existing database user."),
    rotation_period: str = typer.Option("24h", "--rotation-period"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Take over an existing user: its password is rotated now and every period."""
    body = DbStaticRoleIn(connection=connection, username=username,
                          rotation_period=rotation_period)  # fmt: skip
    with client(addr) as c:
        out = c.request("PUT", f"/v1/database/static-roles/{_p(name)}", DbRoleOut,
                        json=body.model_dump())  # fmt: skip
    emit(out, output)


@static.command("read")
def static_read(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    with client(addr) as c:
        emit(c.request("GET", f"/v1/database/static-roles/{_p(name)}", DbRoleOut), output)


@static.command("list")
def static_list(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    with client(addr) as c:
        emit_names(c.request("GET", "/v1/database/static-roles", NamesOut).names, output)


@static.command("delete")
def static_delete(name: str, addr: str | None = AddrOpt) -> None:
    with client(addr) as c:
        c.delete(f"/v1/database/static-roles/{_p(name)}")
    console.print(f"Static role {name!r} deleted.")


@app.command("static-creds")
def static_creds(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """The static role's user and current password."""
    with client(addr) as c:
        emit(c.request("GET", f"/v1/database/static-creds/{_p(name)}", StaticCredsOut), output)


@app.command("rotate-role")
def rotate_role(name: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Rotate a static role's password now."""
    if not name:
        raise fail("a static role name is required")
    with client(addr) as c:
        emit(c.request("POST", f"/v1/database/rotate-role/{_p(name)}", DbRoleOut), output)
