"""Notification request and response bodies; field descriptions become the OpenAPI docs.

Problem types: `invalid-request` (400: bad URL scheme, glob, address, unknown channel in a
route), `not-found` (404), `conflict` (409: deleting a channel a route still uses),
`permission-denied` (403). Channel secrets (webhook URL, signing secret, SMTP password) are
write-only: no answer ever contains them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tessera.api.schemas import DURATION_DOC, TIME_DOC, Duration, Strict

SEVERITIES = "info, low, medium, high, critical"
EVENT_TYPES = (
    "credential.expiring, credential.expired, renewal.failed, rotation.failed, "
    "lease.irrevocable, finding.opened, secret.leaked, digest.expiring, notify.test"
)


class WebhookIn(Strict):
    """A webhook endpoint (generic JSON or Slack-compatible)."""

    url: str = Field(
        max_length=2048,
        description="http:// or https:// URL, no user info. Stored sealed (Slack URLs embed a "
        "token); only scheme and host are shown back.",
    )
    signing_secret: str | None = Field(
        None,
        min_length=16,
        max_length=256,
        description="Adds X-Tessera-Timestamp and X-Tessera-Signature: sha256=HMAC-SHA256 of "
        "'<timestamp>.<body>' under this secret. Write-only.",
    )
    timeout: float = Field(10.0, description="Seconds to connect and to wait for the answer.")


class EmailIn(Strict):
    """An SMTP relay."""

    host: str = Field(max_length=255, description="SMTP server host name or address.")
    port: int = Field(25, description="SMTP port (25, 587 with STARTTLS, …).")
    starttls: bool = Field(False, description="Upgrade with STARTTLS (certificate verified).")
    sender: str = Field(max_length=320, description="From address.")
    username: str | None = Field(None, max_length=255, description="SMTP login, if any.")
    password: str | None = Field(None, max_length=1024, description="SMTP password. Write-only.")
    default_to: str | None = Field(
        None, max_length=320, description="Recipient when an owner has no known address."
    )
    timeout: float = Field(10.0, description="Seconds per SMTP operation.")


class ChannelIn(Strict):
    """Create or replace a channel (policy: `create`/`update` on `notify/channels/<name>`).
    Give `webhook` for types webhook and slack, `email` for type email."""

    type: str = Field(description="webhook (generic JSON), slack (Slack-compatible) or email.")
    enabled: bool = Field(True, description="A disabled channel receives nothing.")
    webhook: WebhookIn | None = Field(None, description="Settings of a webhook or slack channel.")
    email: EmailIn | None = Field(None, description="Settings of an email channel.")


class ChannelOut(BaseModel):
    """A channel as shown: never its URL path, signing secret or password."""

    name: str = Field(description="Channel name.")
    type: str = Field(description="webhook, slack or email.")
    enabled: bool = Field(description="Whether it receives messages.")
    settings: dict[str, Any] = Field(
        description="What may be shown: endpoint (scheme and host), signed, timeout; or host, "
        "port, starttls, sender, username, default_to, has_password, timeout."
    )
    created_at: datetime = Field(description=TIME_DOC)
    updated_at: datetime = Field(description=TIME_DOC)


class ChannelListOut(BaseModel):
    """Every channel, by name."""

    items: list[ChannelOut] = Field(description="The channels.")


class RouteIn(Strict):
    """Create or replace a route (policy: `create`/`update` on `notify/routes/<name>`)."""

    event_types: list[str] = Field(
        description=f"1-32 globs over event types ('*', '?'), e.g. 'credential.*'. Types: "
        f"{EVENT_TYPES}."
    )
    channels: list[str] = Field(description="1-16 existing channel names.")
    min_severity: str = Field("info", description=f"Lowest severity sent: {SEVERITIES}.")
    recipients: list[str] = Field(
        default_factory=list,
        description="Fixed recipients (emails for email channels, #channel or @user for slack) "
        "instead of the subject's owner. Owners are reached through /v1/notify/owners, or "
        "directly when the owner is an email address.",
    )
    dedup_window: Duration = Field(
        "24h",
        description=f"The same event type and subject reach a channel and recipient at most "
        f"once per window, 0-30d (0: no dedup). {DURATION_DOC}",
    )
    enabled: bool = Field(True, description="A disabled route matches nothing.")


class RouteOut(BaseModel):
    """A route."""

    name: str = Field(description="Route name.")
    event_types: list[str] = Field(description="Event type globs.")
    channels: list[str] = Field(description="Channel names.")
    min_severity: str = Field(description="Lowest severity sent.")
    recipients: list[str] = Field(description="Fixed recipients; empty: the owner.")
    dedup_window_seconds: int = Field(description="Dedup window in seconds.")
    enabled: bool = Field(description="Whether it matches events.")
    created_at: datetime | None = Field(description=TIME_DOC)
    updated_at: datetime | None = Field(description=TIME_DOC)


class RouteListOut(BaseModel):
    """Every route, by name."""

    items: list[RouteOut] = Field(description="The routes.")


class OwnerIn(Strict):
    """Where an owner is reached (policy: `update` on `notify/owners`)."""

    email: str | None = Field(None, max_length=320, description="Email address.")
    slack_channel: str | None = Field(
        None, max_length=80, description="Slack channel (#team-web) or user (@someone)."
    )


class OwnerOut(BaseModel):
    """An owner directory entry."""

    owner: str = Field(description="Owner as the inventory names it (team or person).")
    email: str | None = Field(description="Email address.")
    slack_channel: str | None = Field(description="Slack channel or user.")


class OwnerListOut(BaseModel):
    """The owner directory."""

    items: list[OwnerOut] = Field(description="Entries, by owner.")


class EventOut(BaseModel):
    """What a message says: only these whitelisted fields, never secret material."""

    type: str = Field(description=f"Event type: {EVENT_TYPES}.")
    severity: str = Field(description=f"One of {SEVERITIES}.")
    subject: dict[str, str | None] = Field(
        description="credential_id, name, kind, owner, identity (each at most 255 characters)."
    )
    text: str = Field(description="Short text, at most 1000 characters.")
    occurred_at: datetime = Field(description=TIME_DOC)
    items: list[dict[str, str]] = Field(
        description="Digest lines: kind, name, not_after, credential_id (at most 200)."
    )
    more: int = Field(description="Digest lines left out beyond the 200 listed.")


class DeliveryOut(BaseModel):
    """One message to one channel and recipient, and how its attempts went."""

    id: str = Field(description="Delivery id (sent as X-Tessera-Delivery; receivers may dedupe).")
    channel: str = Field(description="Channel name.")
    route: str | None = Field(description="Route that caused it (none for tests).")
    recipient: str | None = Field(description="Email address, Slack channel or owner.")
    event: EventOut = Field(description="The event delivered.")
    state: str = Field(description="pending, sending, delivered or failed (no more retries).")
    attempts: int = Field(description="Attempts made.")
    max_attempts: int = Field(description="Attempts allowed before `failed`.")
    next_attempt_at: datetime | None = Field(description="Next retry. " + TIME_DOC)
    last_error: str | None = Field(description="Why the last attempt failed.")
    created_at: datetime = Field(description=TIME_DOC)
    delivered_at: datetime | None = Field(description=TIME_DOC)


class DeliveryPageOut(BaseModel):
    """One page of deliveries, newest first."""

    items: list[DeliveryOut] = Field(description="The deliveries on this page.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class ChannelTestIn(Strict):
    """A test message (policy: `update` on `notify/test/<channel>`)."""

    recipient: str | None = Field(
        None, max_length=320, description="Email address (default: the channel's default_to)."
    )


class DigestOut(BaseModel):
    """What a digest request did."""

    day: str = Field(description="The UTC day, YYYY-MM-DD.")
    ran: bool = Field(description="False when a node already sent today's digest.")
    owners: int = Field(description="Owners with something expiring.")
    deliveries: int = Field(description="Deliveries enqueued.")
    skipped_reason: str | None = Field(description="Why it did not run.")
