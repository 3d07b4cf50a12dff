"""`tessera apikey create|list|show|rotate|policy|pickup|revoke|verify`: API keys through
`/v1/apikeys`."""

from __future__ import annotations

import typer

from tessera.api.schemas_apikeys import (
    ApiKeyCreatedOut,
    ApiKeyCreateIn,
    ApiKeyOut,
    ApiKeyPageOut,
    ApiKeyPolicyIn,
    ApiKeyRotatedOut,
    ApiKeyRotateIn,
    ApiKeySuccessorIn,
    ApiKeyVerifiedOut,
)
from tessera.apikeys.format import is_key_id
from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit, emit_page, fail

app = typer.Typer(help="API keys of identities: create, rotate, revoke.", no_args_is_help=True)

KEY_COLUMNS = ("id", "name", "identity", "scopes", "status", "expires_at", "last_used_at")
ONCE = "Store the key now: it is shown only once (Tessera keeps only a keyed hash)."
ROTATE_EVERY_HELP = "Rotate on a schedule, e.g. 30d; pick up each new key with 'pickup'."
OVERLAP_HELP = "How long the old key works after a scheduled rotation (default 24h)."


def _path(key_id: str, action: str = "") -> str:
    if not is_key_id(key_id):
        raise fail(f"{key_id!r} is not an API key id (11 letters and digits)")
    return f"/v1/apikeys/{key_id}" + (f"/{action}" if action else "")


def _scopes(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


@app.command()
def create(
    identity: str = typer.Option(..., "--identity", help="The identity the key belongs to."),
    scopes: str = typer.Option("", "--scopes", help="Comma-separated, e.g. orders:read,a:b"),
    ttl: str | None = typer.Option(None, "--ttl", help="Lifetime, e.g. 90d (default 90d)."),
    name: str | None = typer.Option(None, "--name", help="Display name."),
    rotate_every: str | None = typer.Option(None, "--rotate-every", help=ROTATE_EVERY_HELP),
    overlap: str | None = typer.Option(None, "--overlap", help=OVERLAP_HELP),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Create a key; it is printed once."""
    body = ApiKeyCreateIn(
        identity=identity,
        scopes=_scopes(scopes),
        ttl=ttl,
        name=name,
        rotate_every=rotate_every,
        overlap=overlap,
    )
    with client(addr) as c:
        created = c.request(
            "POST", "/v1/apikeys", ApiKeyCreatedOut, json=body.model_dump(exclude_none=True)
        )
    _emit_new(created.key, created.info, output, created)


@app.command("list")
def list_(
    identity: str | None = typer.Option(None, "--identity", help="Only this identity's keys."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    cursor: str | None = typer.Option(None, "--cursor", help="From a previous page."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """List keys (never the keys themselves)."""
    params = {"identity": identity, "limit": limit, "cursor": cursor}
    with client(addr) as c:
        page = c.request("GET", "/v1/apikeys", ApiKeyPageOut, params=params)
    emit_page(page, output, KEY_COLUMNS)


@app.command()
def show(key_id: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Show one key's properties."""
    path = _path(key_id)
    with client(addr) as c:
        emit(c.request("GET", path, ApiKeyOut), output)


@app.command()
def rotate(
    key_id: str,
    overlap: str | None = typer.Option(
        None, "--overlap", help="How long the old key keeps working, e.g. 24h (default 24h)."
    ),
    ttl: str | None = typer.Option(None, "--ttl", help="New key's lifetime (default: the old)."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Make a successor key (printed once); the old one works until the overlap ends."""
    path = _path(key_id, "rotate")
    body = ApiKeyRotateIn(overlap=overlap, ttl=ttl)
    with client(addr) as c:
        rotated = c.request("POST", path, ApiKeyRotatedOut, json=body.model_dump(exclude_none=True))
    _emit_new(rotated.key, rotated.info, output, rotated)
    if output is Output.table:
        console.print(
            f"Old key {rotated.previous.id} works until {rotated.previous.expires_at.isoformat()}.",
            highlight=False,
        )


@app.command()
def policy(
    key_id: str,
    rotate_every: str | None = typer.Option(
        None, "--rotate-every", help=ROTATE_EVERY_HELP + " Omit to stop scheduled rotation."
    ),
    overlap: str | None = typer.Option(None, "--overlap", help=OVERLAP_HELP),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Replace a key's rotation policy."""
    path = _path(key_id)
    body = ApiKeyPolicyIn(rotate_every=rotate_every, overlap=overlap)
    with client(addr) as c:
        emit(c.request("PATCH", path, ApiKeyOut, json=body.model_dump(exclude_none=True)), output)


@app.command()
def pickup(
    key_id: str | None = typer.Argument(None, help="The new key's id (needs update on it)."),
    old_key: bool = typer.Option(
        False, "--old-key", help="Prove possession of the old key instead (prompted, hidden)."
    ),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Collect the key made by a scheduled rotation; it is printed once."""
    if (key_id is None) == (not old_key):
        raise fail("give either the new key's id or --old-key")
    with client(addr) as c:
        if key_id is not None:
            created = c.request("POST", _path(key_id, "pickup"), ApiKeyCreatedOut)
        else:
            body = ApiKeySuccessorIn(key=typer.prompt("Old API key", hide_input=True))
            created = c.request(  # the old key is the proof: no Tessera token needed
                "POST",
                "/v1/apikeys/successor",
                ApiKeyCreatedOut,
                json=body.model_dump(),
                auth=False,
            )
    _emit_new(created.key, created.info, output, created)


@app.command()
def revoke(key_id: str, addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Revoke a key at once (other servers follow within a second)."""
    path = _path(key_id, "revoke")
    with client(addr) as c:
        emit(c.request("POST", path, ApiKeyOut), output)


@app.command()
def verify(
    key: str | None = typer.Argument(None, help="The key; prompted (hidden) if omitted."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Check a key as a service would: its identity and scopes, or an error."""
    key = key or typer.prompt("API key", hide_input=True)
    with client(addr) as c:
        emit(c.request("POST", "/v1/apikeys/verify", ApiKeyVerifiedOut, json={"key": key}), output)


def _emit_new(
    key: str, info: ApiKeyOut, output: Output, whole: ApiKeyCreatedOut | ApiKeyRotatedOut
) -> None:
    if output is Output.json:
        emit(whole, output)
        return
    emit({"key": key, **info.model_dump(mode="json")}, output)
    console.print(ONCE, highlight=False)
