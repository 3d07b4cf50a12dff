"""Rows ↔ domain objects for notifications, and the sealing of channel secrets (the webhook
URL and signing secret, the SMTP password) under an AAD naming the channel row."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from tessera.barrier.aead import AAD
from tessera.core.clock import as_utc
from tessera.notify.models import (
    Channel,
    ChannelConfig,
    ChannelType,
    Delivery,
    DeliveryState,
    EmailConfig,
    Event,
    OwnerContact,
    Route,
    Severity,
    WebhookConfig,
)
from tessera.notify.ports import SecretBox
from tessera.storage.models_notify import (
    NotifyChannelRow,
    NotifyDeliveryRow,
    NotifyOwnerRow,
    NotifyRouteRow,
)


def secret_aad(name: str) -> AAD:
    return AAD("notify_channels", name, "secret")


def split_config(config: ChannelConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what may be shown, what is sealed)."""
    if isinstance(config, WebhookConfig):
        url = urlsplit(config.url)
        public = {
            "endpoint": f"{url.scheme}://{url.netloc}",
            "signed": config.signing_secret is not None,
            "timeout": config.timeout,
        }
        return public, {"url": config.url, "signing_secret": config.signing_secret}
    public = {
        "host": config.host, "port": config.port, "starttls": config.starttls,
        "sender": config.sender, "username": config.username, "default_to": config.default_to,
        "timeout": config.timeout, "has_password": config.password is not None,
    }  # fmt: skip
    return public, {"password": config.password}


def seal_config(box: SecretBox, name: str, config: ChannelConfig) -> tuple[dict[str, Any], bytes]:
    public, secret = split_config(config)
    return public, box.encrypt(secret_aad(name), json.dumps(secret).encode())


def open_config(box: SecretBox, row: NotifyChannelRow) -> ChannelConfig:
    secret = json.loads(box.decrypt(secret_aad(row.name), row.secret))
    cfg = row.config
    if row.type == ChannelType.EMAIL.value:
        return EmailConfig(
            host=cfg["host"], sender=cfg["sender"], port=cfg["port"], starttls=cfg["starttls"],
            username=cfg["username"], password=secret["password"], default_to=cfg["default_to"],
            timeout=cfg["timeout"],
        )  # fmt: skip
    return WebhookConfig(secret["url"], secret["signing_secret"], cfg["timeout"])


def to_channel(row: NotifyChannelRow) -> Channel:
    return Channel(
        row.name, ChannelType(row.type), row.enabled, dict(row.config),
        as_utc(row.created_at), as_utc(row.updated_at),
    )  # fmt: skip


def to_route(row: NotifyRouteRow) -> Route:
    return Route(
        name=row.name,
        event_types=tuple(row.event_types),
        channels=tuple(row.channels),
        min_severity=Severity(row.min_severity),
        recipients=tuple(row.recipients),
        dedup_window=timedelta(seconds=row.dedup_seconds),
        enabled=row.enabled,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def to_owner(row: NotifyOwnerRow) -> OwnerContact:
    return OwnerContact(row.owner, row.email, row.slack_channel)


def to_delivery(row: NotifyDeliveryRow) -> Delivery:
    nxt = None if row.next_attempt_at is None else as_utc(row.next_attempt_at)
    done = None if row.delivered_at is None else as_utc(row.delivered_at)
    return Delivery(
        row.id, row.channel, row.route, row.recipient, Event.from_json(row.event),
        DeliveryState(row.state), row.attempts, row.max_attempts, nxt, row.last_error,
        as_utc(row.created_at), done,
    )  # fmt: skip
