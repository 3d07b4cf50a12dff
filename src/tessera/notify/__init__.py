"""Notifications: webhook (generic JSON and Slack-compatible) and SMTP email channels,
routing rules, retried deliveries and the daily expiry digest. No secret ever in a message."""

from tessera.notify.delivery import RetryPolicy
from tessera.notify.models import (
    Channel,
    ChannelRequest,
    ChannelType,
    Delivery,
    DeliveryQuery,
    DeliveryState,
    DigestItem,
    DigestResult,
    EmailConfig,
    Event,
    EventType,
    OwnerContact,
    Route,
    Severity,
    Subject,
    WebhookConfig,
)
from tessera.notify.ports import DeliveryFailed, FakeNotifier, Notifier, Outgoing
from tessera.notify.service import NotifyService, NotifySettings

__all__ = [
    "Channel",
    "ChannelRequest",
    "ChannelType",
    "Delivery",
    "DeliveryFailed",
    "DeliveryQuery",
    "DeliveryState",
    "DigestItem",
    "DigestResult",
    "EmailConfig",
    "Event",
    "EventType",
    "FakeNotifier",
    "Notifier",
    "NotifyService",
    "NotifySettings",
    "Outgoing",
    "OwnerContact",
    "RetryPolicy",
    "Route",
    "Severity",
    "Subject",
    "WebhookConfig",
]
