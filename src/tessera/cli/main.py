"""The `tessera` command: server, operator, login, token, policy, identity, inventory, audit."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from tessera.cli import (
    agent,
    apikeys,
    auth_cert,
    auth_methods,
    identities,
    notify,
    oauth,
    operator,
    pki,
    policies,
    posture,
    scan,
    secrets,
    ssh,
    tokens,
)
from tessera.cli.client import TOKEN_FILE, ClientError, TesseraClient, default_addr
from tessera.cli.output import console, fail
from tessera.config import DEFAULT_LISTEN, Settings
from tessera.core.errors import TesseraError

if TYPE_CHECKING:
    from tessera.app import Container, StartupReport

app = typer.Typer(
    help="Tessera: machine identity management.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(operator.app, name="operator")
app.add_typer(tokens.app, name="token")
app.add_typer(policies.app, name="policy")
app.add_typer(identities.app, name="identity")
app.add_typer(identities.inventory, name="inventory")
app.add_typer(pki.app, name="pki")
app.add_typer(ssh.app, name="ssh")
app.add_typer(scan.app, name="scan")
app.add_typer(secrets.app, name="secrets")
app.add_typer(apikeys.app, name="apikey")
app.add_typer(auth_methods.app, name="auth")
auth_methods.app.add_typer(auth_cert.app, name="cert")
app.command("agent")(agent.command)
app.add_typer(notify.app, name="notify")
app.add_typer(oauth.app, name="oauth")
app.add_typer(posture.app, name="posture")
audit_app = typer.Typer(help="Audit log tools.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

DEV_BANNER = """[bold red]
==========================================================================
  DEV MODE: auto-initialised and auto-unsealed from a key file on disk.
  The unseal key and root token sit next to the data. NOT FOR PRODUCTION.
==========================================================================[/]"""


@app.command()
def server(
    dev: bool = typer.Option(
        False, "--dev", help="Auto-init and auto-unseal (not for production)."
    ),
    data_dir: Path = typer.Option(Path("tessera-data"), "--data-dir", envvar="TESSERA_DATA_DIR"),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        envvar="TESSERA_DATABASE_URL",
        help="postgresql://… (default: SQLite in data dir)",
    ),
    listen: str = typer.Option(DEFAULT_LISTEN, "--listen", envvar="TESSERA_LISTEN"),
    public_url: str | None = typer.Option(
        None,
        "--public-url",
        envvar="TESSERA_PUBLIC_URL",
        help="URL clients reach this server at; written into certificates (CRL, OCSP, CA "
        "issuer URLs). Default: http://<listen address>.",
    ),
    audit_file: list[Path] = typer.Option(
        [],
        "--audit-file",
        envvar="TESSERA_AUDIT_FILE",
        help="Audit log file (repeat for several sinks).",
    ),
    audit_stdout: bool = typer.Option(False, "--audit-stdout", help="Also audit to stdout."),
    unseal_key_file: Path | None = typer.Option(
        None, "--unseal-key-file", envvar="TESSERA_UNSEAL_KEY_FILE"
    ),
    max_body_bytes: int = typer.Option(1024 * 1024, "--max-body-bytes", min=1024),
    tls_login_listen: str | None = typer.Option(
        None,
        "--tls-login-listen",
        envvar="TESSERA_TLS_LOGIN_LISTEN",
        help="host:port of the mutual-TLS certificate login listener (off when unset).",
    ),
    tls_cert: Path | None = typer.Option(
        None,
        "--tls-cert",
        envvar="TESSERA_TLS_CERT",
        help="PEM certificate (chain may follow) of the TLS login listener.",
    ),
    tls_key: Path | None = typer.Option(
        None, "--tls-key", envvar="TESSERA_TLS_KEY", help="Its private key (PEM)."
    ),
    tls_login_crl: list[Path] = typer.Option(
        [],
        "--tls-login-crl",
        help="CRL file of an external CA trusted by cert roles (repeat); loaded before the "
        "TLS login listener serves.",
    ),
) -> None:
    """Run the Tessera server."""
    import uvicorn

    from tessera.api import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    env_keys = os.environ.get("TESSERA_UNSEAL_KEYS", "")
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        listen=listen,
        dev=dev,
        audit_files=tuple(audit_file),
        audit_stdout=audit_stdout,
        unseal_key_file=unseal_key_file,
        unseal_keys=tuple(k.strip() for k in env_keys.replace(",", "\n").splitlines() if k.strip()),
        max_body_bytes=max_body_bytes,
        public_url=public_url.rstrip("/") if public_url else None,
        tls_login_listen=tls_login_listen,
        tls_cert_file=tls_cert,
        tls_key_file=tls_key,
        tls_login_crl_files=tuple(tls_login_crl),
    )
    try:
        host, port = settings.host_port
    except ValueError:
        raise fail(f"--listen must be host:port, got {listen!r}") from None
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise fail("--public-url must start with http:// or https://")
    if public_url is None and host in ("0.0.0.0", "::"):  # noqa: S104 (checking, not binding)
        console.print(
            "[yellow]Warning:[/] listening on all interfaces without --public-url: "
            f"certificates will name http://{host}:{port} for CRL and OCSP. Set --public-url.",
            highlight=False,
        )
    container, report = open_container(settings, data_dir)
    if dev:
        console.print(DEV_BANNER)
    typer.echo(f"Tessera listening on {settings.url}")
    if report.root_token:
        typer.echo(f"Root token: {report.root_token}")
        typer.echo(f"  export TESSERA_ADDR={settings.url} TESSERA_TOKEN={report.root_token}")
    if container.barrier.status().sealed:
        console.print("Tessera is sealed (or not initialised): tessera operator init / unseal")
    config = uvicorn.Config(
        create_app(container),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        # X-Forwarded-For from loopback would spoof source addresses (CIDR bindings, rate
        # limits); trusting a proxy must be an explicit choice
        proxy_headers=False,
    )
    try:
        container.start_background()
    except TesseraError as exc:  # e.g. the TLS login listener cannot load its CRL or key
        container.close()
        raise fail(exc.detail) from None
    try:
        uvicorn.Server(config).run()
    finally:
        container.close()


def open_container(settings: Settings, data_dir: Path) -> tuple[Container, StartupReport]:
    """Build, migrate and (auto-)unseal; every failure is one clear line."""
    from sqlalchemy.exc import SQLAlchemyError

    from tessera.app import build, startup

    try:
        container = build(settings)
        return container, startup(container)
    except TesseraError as exc:
        raise fail(exc.detail) from None
    except OSError as exc:
        raise fail(f"cannot use {exc.filename or data_dir}: {exc.strerror}") from None
    except SQLAlchemyError as exc:
        # the driver's message can quote the URL; name only the failure
        cause = getattr(exc, "orig", None) or exc
        raise fail(f"cannot open the database: {type(cause).__name__}") from None


@app.command()
def worker(
    dev: bool = typer.Option(False, "--dev", help="Auto-unseal from the dev key file."),
    data_dir: Path = typer.Option(Path("tessera-data"), "--data-dir", envvar="TESSERA_DATA_DIR"),
    database_url: str | None = typer.Option(
        None, "--database-url", envvar="TESSERA_DATABASE_URL", help="postgresql://…"
    ),
    audit_file: list[Path] = typer.Option([], "--audit-file", envvar="TESSERA_AUDIT_FILE"),
    unseal_key_file: Path | None = typer.Option(
        None, "--unseal-key-file", envvar="TESSERA_UNSEAL_KEY_FILE"
    ),
    duration: float = typer.Option(
        0, "--duration", min=0, help="Stop after this many seconds (0: until SIGTERM)."
    ),
) -> None:
    """Run the background work without the API: renewals, lease expiry, CRL rebuilds, …
    Several workers and servers may share one PostgreSQL: every job is claimed there."""
    import signal
    import threading

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    env_keys = os.environ.get("TESSERA_UNSEAL_KEYS", "")
    settings = Settings(
        data_dir=data_dir, database_url=database_url, dev=dev, audit_files=tuple(audit_file),
        unseal_key_file=unseal_key_file,
        unseal_keys=tuple(k.strip() for k in env_keys.replace(",", "\n").splitlines() if k.strip()),
    )  # fmt: skip
    container, _report = open_container(settings, data_dir)
    if container.barrier.status().sealed:
        container.close()
        raise fail("Tessera is sealed: give --unseal-key-file or TESSERA_UNSEAL_KEYS")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    container.start_background()
    typer.echo("Tessera worker running", err=True)
    try:
        stop.wait(duration or None)
    finally:
        container.close()


@app.command()
def login(
    token: str | None = typer.Argument(None, help="Token; prompted (hidden) if omitted."),
    addr: str | None = typer.Option(None, "--addr", envvar="TESSERA_ADDR"),
) -> None:
    """Check a token against the server and store it in ~/.tessera-token (mode 0600)."""
    token = token or typer.prompt("Token", hide_input=True)
    try:
        c = TesseraClient(addr or default_addr(), token)
    except ClientError as exc:
        raise fail(str(exc)) from None
    try:
        info = c.token_lookup_self()
    except ClientError as exc:
        raise fail(str(exc)) from None
    finally:
        c.close()
    fd = os.open(TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode otherwise
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    console.print(
        f"Logged in as {info.display_name} (policies: {', '.join(info.policies)}).", highlight=False
    )


@audit_app.command("verify")
def audit_verify(file: Path) -> None:
    """Check an audit log's hash chain; report the first edited, removed or reordered line."""
    from tessera.audit import verify_file

    if not file.is_file():
        raise fail(f"{file} is not a readable file")
    result = verify_file(file)
    if result.ok:
        console.print(f"OK: {result.lines} lines, chain intact.", highlight=False)
        return
    raise fail(result.reason)


def main() -> None:
    try:
        app()
    except ValidationError as exc:
        # a CLI value the request schema refuses (e.g. an over-long name)
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        prefix = f"{field}: " if field else ""  # a whole-model check names no field
        raise SystemExit(f"Error: {prefix}{first.get('msg')}") from None
