"""`tessera notify channel|route|owner|deliveries|test|digest`: notifications through
`/v1/notify`. Secrets given here (URLs, signing secrets, passwords) are never printed."""

from __future__ import annotations

from urllib.parse import quote

import typer

from tessera.api.schemas_notify import (
    ChannelIn,
    ChannelListOut,
    ChannelOut,
    ChannelTestIn,
    DeliveryOut,
    DeliveryPageOut,
    DigestOut,
    EmailIn,
    OwnerIn,
    OwnerListOut,
    OwnerOut,
    RouteIn,
    RouteListOut,
    RouteOut,
    WebhookIn,
)
from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, emit, emit_page, fail

app = typer.Typer(help="Notifications: channels, routes, owners, deliveries.", no_args_is_help=True)
channel_app = typer.Typer(help="Webhook, Slack and email channels.", no_args_is_help=True)
route_app = typer.Typer(help="Which events go to which channels.", no_args_is_help=True)
owner_app = typer.Typer(help="How owners are reached (email, Slack).", no_args_is_help=True)
app.add_typer(channel_app, name="channel")
app.add_typer(route_app, name="route")
app.add_typer(owner_app, name="owner")

CHANNEL_COLUMNS = ("name", "type", "enabled", "settings")
ROUTE_COLUMNS = ("name", "event_types", "min_severity", "channels", "recipients")
DELIVERY_COLUMNS = ("id", "channel", "recipient", "state", "attempts", "last_error")


def _seg(value: str) -> str:
    return quote(value, safe="")


def _list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


# -- channels --------------------------------------------------------------------------------
@channel_app.command("set")
def channel_set(
    name: str,
    type_: str = typer.Option(..., "--type", help="webhook, slack or email."),
    url: str | None = typer.Option(
        None,
        "--url",
        envvar="TESSERA_NOTIFY_URL",
        help="Webhook URL (stored sealed; Slack URLs are secrets: prefer the env var).",
    ),
    signing_secret: str | None = typer.Option(
        None,
        "--signing-secret",
        envvar="TESSERA_NOTIFY_SIGNING_SECRET",
        help="HMAC secret (prefer the env var: arguments show in ps).",
    ),
    smtp_host: str | None = typer.Option(None, "--smtp-host"),
    smtp_port: int = typer.Option(25, "--smtp-port"),
    starttls: bool = typer.Option(False, "--starttls"),
    sender: str | None = typer.Option(None, "--from", help="From address."),
    username: str | None = typer.Option(None, "--username"),
    password: str | None = typer.Option(
        None,
        "--password",
        envvar="TESSERA_NOTIFY_SMTP_PASSWORD",
        help="SMTP password (prefer the env var).",
    ),
    default_to: str | None = typer.Option(None, "--default-to"),
    timeout: float = typer.Option(10.0, "--timeout"),
    disabled: bool = typer.Option(False, "--disabled"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a channel."""
    if type_ == "email":
        if smtp_host is None or sender is None:
            raise fail("an email channel needs --smtp-host and --from")
        body = ChannelIn(
            type=type_, enabled=not disabled,
            email=EmailIn(host=smtp_host, port=smtp_port, starttls=starttls, sender=sender,
                          username=username, password=password, default_to=default_to,
                          timeout=timeout),
        )  # fmt: skip
    else:
        if url is None:
            raise fail(f"a {type_} channel needs --url")
        hook = WebhookIn(url=url, signing_secret=signing_secret, timeout=timeout)
        body = ChannelIn(type=type_, enabled=not disabled, webhook=hook)
    with client(addr) as c:
        out = c.request("PUT", f"/v1/notify/channels/{_seg(name)}", ChannelOut,
                        json=body.model_dump(exclude_none=True))  # fmt: skip
    emit(out, output)


@channel_app.command("list")
def channel_list(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List channels (never their secrets)."""
    with client(addr) as c:
        emit(c.request("GET", "/v1/notify/channels", ChannelListOut).items, output, CHANNEL_COLUMNS)


@channel_app.command("delete")
def channel_delete(name: str, addr: str | None = AddrOpt) -> None:
    """Delete a channel no route uses."""
    with client(addr) as c:
        c.delete(f"/v1/notify/channels/{_seg(name)}")


# -- routes ----------------------------------------------------------------------------------
@route_app.command("set")
def route_set(
    name: str,
    events: str = typer.Option(..., "--events", help="Comma-separated globs: credential.*"),
    channels: str = typer.Option(..., "--channels", help="Comma-separated channel names."),
    min_severity: str = typer.Option("info", "--min-severity"),
    recipients: str = typer.Option("", "--recipients", help="Fixed recipients (default: owner)."),
    dedup_window: str = typer.Option("24h", "--dedup-window"),
    disabled: bool = typer.Option(False, "--disabled"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create or replace a route."""
    body = RouteIn(
        event_types=_list(events), channels=_list(channels), min_severity=min_severity,
        recipients=_list(recipients), dedup_window=dedup_window, enabled=not disabled,
    )  # fmt: skip
    with client(addr) as c:
        out = c.request("PUT", f"/v1/notify/routes/{_seg(name)}", RouteOut,
                        json=body.model_dump())  # fmt: skip
    emit(out, output)


@route_app.command("list")
def route_list(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List routes."""
    with client(addr) as c:
        emit(c.request("GET", "/v1/notify/routes", RouteListOut).items, output, ROUTE_COLUMNS)


@route_app.command("delete")
def route_delete(name: str, addr: str | None = AddrOpt) -> None:
    """Delete a route."""
    with client(addr) as c:
        c.delete(f"/v1/notify/routes/{_seg(name)}")


# -- owners ----------------------------------------------------------------------------------
@owner_app.command("set")
def owner_set(
    owner: str,
    email: str | None = typer.Option(None, "--email"),
    slack_channel: str | None = typer.Option(None, "--slack-channel"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Set how an owner is reached."""
    body = OwnerIn(email=email, slack_channel=slack_channel)
    with client(addr) as c:
        out = c.request("PUT", f"/v1/notify/owners/{_seg(owner)}", OwnerOut,
                        json=body.model_dump(exclude_none=True))  # fmt: skip
    emit(out, output)


@owner_app.command("list")
def owner_list(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """List the owner directory."""
    with client(addr) as c:
        emit(c.request("GET", "/v1/notify/owners", OwnerListOut).items, output)


# -- deliveries, test, digest ----------------------------------------------------------------
@app.command("deliveries")
def deliveries(
    state: str | None = typer.Option(None, "--state", help="pending, delivered, failed…"),
    channel: str | None = typer.Option(None, "--channel"),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    cursor: str | None = typer.Option(None, "--cursor"),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """List deliveries, newest first."""
    params = {"state": state, "channel": channel, "limit": limit, "cursor": cursor}
    with client(addr) as c:
        page = c.request("GET", "/v1/notify/deliveries", DeliveryPageOut, params=params)
    emit_page(page, output, DELIVERY_COLUMNS)


@app.command("test")
def test(
    channel: str,
    recipient: str | None = typer.Option(None, "--to", help="Email address for email channels."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Send a test message through a channel now; exits 1 if it was not delivered."""
    body = ChannelTestIn(recipient=recipient)
    with client(addr) as c:
        out = c.request("POST", f"/v1/notify/test/{_seg(channel)}", DeliveryOut,
                        json=body.model_dump(exclude_none=True))  # fmt: skip
    emit(out, output)
    if out.state != "delivered":
        raise fail(f"not delivered: {out.last_error or out.state}")


@app.command("digest")
def digest(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Send today's expiry digest now (once a day across all servers)."""
    with client(addr) as c:
        emit(c.request("POST", "/v1/notify/digest", DigestOut), output)
