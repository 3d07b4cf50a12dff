"""Notification domain objects: events (only whitelisted, non-secret fields), channels,
routes, owner contacts and deliveries. Each validates on construction."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from tessera.core.errors import InvalidRequest
from tessera.core.text import check_text
from tessera.inventory.models import Credential

MAX_TEXT = 1000  # characters of an event's text; longer is cut with an ellipsis
MAX_FIELD = 255
MAX_ITEMS = 200  # digest lines per message; the rest is counted, not listed
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}(\.[a-z][a-z0-9_]{0,30}){1,3}$")
GLOB_RE = re.compile(r"^[a-z0-9_.*?]{1,64}$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SLACK_CHANNEL_RE = re.compile(r"^[#@][a-z0-9._-]{1,79}$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class Severity(StrEnum):
    """How urgent an event is, in increasing order."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise InvalidRequest(f"severity must be one of: {names}") from None


class EventType(StrEnum):
    """What happened. Routes match these with globs (`credential.*`)."""

    CREDENTIAL_EXPIRING = "credential.expiring"
    CREDENTIAL_EXPIRED = "credential.expired"
    RENEWAL_FAILED = "renewal.failed"
    ROTATION_FAILED = "rotation.failed"
    LEASE_IRREVOCABLE = "lease.irrevocable"
    FINDING_OPENED = "finding.opened"
    SECRET_LEAKED = "secret.leaked"
    DIGEST_EXPIRING = "digest.expiring"
    NOTIFY_TEST = "notify.test"


class ChannelType(StrEnum):
    """Where messages go: a generic JSON webhook, a Slack-compatible webhook, or SMTP email."""

    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"


class DeliveryState(StrEnum):
    """pending → sending (claimed) → delivered; back to pending with back-off; or failed."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


def clip(value: str, limit: int = MAX_FIELD) -> str:
    """Printable, single-line and at most `limit` characters (an ellipsis marks a cut)."""
    clean = _CONTROL.sub(" ", value)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidRequest(f"{what} must be 1-64 of a-z, 0-9, '_', '.', '-'")
    return name


# -- events ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subject:
    """What an event is about. Only these fields ever leave Tessera in a message."""

    credential_id: str | None = None
    name: str | None = None
    kind: str | None = None
    owner: str | None = None
    identity: str | None = None

    def __post_init__(self) -> None:
        for key in ("credential_id", "name", "kind", "owner", "identity"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, clip(str(value)))

    @classmethod
    def of_credential(cls, credential: Credential, identity: str | None = None) -> Subject:
        """The whitelisted fields of an inventory row; its attributes never come along."""
        c = credential
        return cls(c.id, c.name, c.kind.value, c.owner, identity)

    def key(self) -> str:
        return "|".join(v or "" for v in (self.credential_id, self.name, self.kind, self.owner))

    def to_json(self) -> dict[str, str | None]:
        return {
            "credential_id": self.credential_id, "name": self.name, "kind": self.kind,
            "owner": self.owner, "identity": self.identity,
        }  # fmt: skip


@dataclass(frozen=True)
class DigestItem:
    """One line of a digest: a credential expiring soon."""

    kind: str
    name: str
    not_after: datetime
    credential_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", clip(self.kind, 64))
        object.__setattr__(self, "name", clip(self.name))

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind, "name": self.name, "not_after": self.not_after.isoformat(),
            "credential_id": self.credential_id,
        }  # fmt: skip


@dataclass(frozen=True)
class Event:
    """Something worth telling a person. Text is cut to MAX_TEXT; digest items to MAX_ITEMS
    (`more` counts what was left out)."""

    type: EventType
    severity: Severity
    subject: Subject
    text: str
    occurred_at: datetime
    items: tuple[DigestItem, ...] = ()
    more: int = 0

    def __post_init__(self) -> None:
        if self.type not in {t.value for t in EventType}:
            raise InvalidRequest(f"unknown event type {str(self.type)[:64]!r}")
        object.__setattr__(self, "type", EventType(self.type))
        object.__setattr__(self, "severity", Severity.parse(self.severity))
        object.__setattr__(self, "text", clip(self.text, MAX_TEXT))
        if len(self.items) > MAX_ITEMS:
            extra = len(self.items) - MAX_ITEMS
            object.__setattr__(self, "items", self.items[:MAX_ITEMS])
            object.__setattr__(self, "more", self.more + extra)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "severity": self.severity.value,
            "subject": self.subject.to_json(),
            "text": self.text,
            "occurred_at": self.occurred_at.isoformat(),
            "items": [i.to_json() for i in self.items],
            "more": self.more,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        subject = data["subject"]
        items = tuple(
            DigestItem(i["kind"], i["name"], datetime.fromisoformat(i["not_after"]),
                       i["credential_id"])
            for i in data.get("items", ())
        )  # fmt: skip
        return cls(
            EventType(data["type"]), Severity(data["severity"]), Subject(**subject),
            data["text"], datetime.fromisoformat(data["occurred_at"]), items,
            int(data.get("more", 0)),
        )  # fmt: skip


# -- channels --------------------------------------------------------------------------------
def check_url(url: str) -> str:
    """An absolute http(s) URL with a host and no user info (credentials go in the secret)."""
    if not isinstance(url, str) or not 0 < len(url) <= 2048 or _CONTROL.search(url):
        raise InvalidRequest("url must be 1-2048 printable characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidRequest("url must start with http:// or https://")
    if not parts.hostname or "@" in parts.netloc:
        raise InvalidRequest("url must name a host and carry no user name or password")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise InvalidRequest("url has an invalid port") from None
    return url


def check_email(address: str, what: str = "email") -> str:
    if not isinstance(address, str) or len(address) > 320 or not EMAIL_RE.fullmatch(address):
        raise InvalidRequest(f"{what} must be an email address like team@example.com")
    return address


@dataclass(frozen=True)
class WebhookConfig:
    """A webhook (generic or Slack). The URL is sealed (Slack URLs embed a token); only its
    host is shown. `signing_secret` adds an HMAC-SHA256 signature header."""

    url: str
    signing_secret: str | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        check_url(self.url)
        if self.signing_secret is not None and not 16 <= len(self.signing_secret) <= 256:
            raise InvalidRequest("signing_secret must be 16-256 characters")
        _check_timeout(self.timeout)


@dataclass(frozen=True)
class EmailConfig:
    """An SMTP relay. `default_to` receives what has no better recipient."""

    host: str
    sender: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    default_to: str | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}|\[[0-9a-fA-F:.]{2,45}\]", self.host):
            raise InvalidRequest("host must be a host name or address")
        if not 1 <= self.port <= 65535:
            raise InvalidRequest("port must be between 1 and 65535")
        check_email(self.sender, "sender")
        if self.default_to is not None:
            check_email(self.default_to, "default_to")
        if self.username is not None:
            check_text(self.username, "username")
        if self.password is not None and not 0 < len(self.password) <= 1024:
            raise InvalidRequest("password must be 1-1024 characters")
        _check_timeout(self.timeout)


def _check_timeout(value: float) -> None:
    if not 0.1 <= value <= 60:
        raise InvalidRequest("timeout must be between 0.1 and 60 seconds")


ChannelConfig = WebhookConfig | EmailConfig


@dataclass(frozen=True)
class Channel:
    """A configured destination, as shown: never its URL path, secret or password."""

    name: str
    type: ChannelType
    enabled: bool
    display: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ChannelRequest:
    """Create or replace a channel; `config` must fit `type`."""

    name: str
    type: ChannelType
    config: ChannelConfig
    enabled: bool = True

    def __post_init__(self) -> None:
        check_name(self.name, "channel name")
        want = EmailConfig if self.type is ChannelType.EMAIL else WebhookConfig
        if not isinstance(self.config, want):
            raise InvalidRequest(f"a {self.type.value} channel needs {want.__name__} settings")


# -- routes ----------------------------------------------------------------------------------
def check_glob(pattern: str) -> str:
    """An event-type glob: a-z, 0-9, '_', '.', '*', '?' and it must match some known type."""
    if not isinstance(pattern, str) or not GLOB_RE.fullmatch(pattern):
        raise InvalidRequest(
            f"event type pattern {pattern!r} must be 1-64 of a-z, 0-9, '_', '.', '*', '?'"
        )
    if not any(fnmatch.fnmatchcase(t.value, pattern) for t in EventType):
        raise InvalidRequest(f"event type pattern {pattern!r} matches no event type")
    return pattern


def check_recipient(value: str) -> str:
    if SLACK_CHANNEL_RE.fullmatch(value):
        return value
    return check_email(value, "recipient")


@dataclass(frozen=True)
class Route:
    """Events whose type matches a glob and whose severity is at least `min_severity` go to
    every channel listed; to `recipients` if given, else to the subject's owner. The same
    (type, subject) reaches a channel and recipient at most once per `dedup_window`."""

    name: str
    event_types: tuple[str, ...]
    channels: tuple[str, ...]
    min_severity: Severity = Severity.INFO
    recipients: tuple[str, ...] = ()
    dedup_window: timedelta = timedelta(hours=24)
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "route name")
        if not 1 <= len(self.event_types) <= 32:
            raise InvalidRequest("event_types must hold 1-32 patterns")
        for pattern in self.event_types:
            check_glob(pattern)
        if not 1 <= len(self.channels) <= 16:
            raise InvalidRequest("channels must name 1-16 channels")
        for channel in self.channels:
            check_name(channel, "channel name")
        if len(self.recipients) > 32:
            raise InvalidRequest("at most 32 recipients")
        for r in self.recipients:
            check_recipient(r)
        object.__setattr__(self, "min_severity", Severity.parse(self.min_severity))
        if not timedelta(0) <= self.dedup_window <= timedelta(days=30):
            raise InvalidRequest("dedup_window must be between 0 and 30 days")

    def matches(self, event: Event) -> bool:
        return (
            self.enabled
            and event.severity.rank >= self.min_severity.rank
            and any(fnmatch.fnmatchcase(event.type.value, p) for p in self.event_types)
        )


@dataclass(frozen=True)
class OwnerContact:
    """How to reach an owner: an email address, a Slack channel, or both."""

    owner: str
    email: str | None = None
    slack_channel: str | None = None

    def __post_init__(self) -> None:
        check_text(self.owner, "owner")
        if self.email is not None:
            check_email(self.email)
        if self.slack_channel is not None and not SLACK_CHANNEL_RE.fullmatch(self.slack_channel):
            raise InvalidRequest("slack_channel must look like #team-web or @someone")
        if self.email is None and self.slack_channel is None:
            raise InvalidRequest("give an email address, a Slack channel, or both")


# -- deliveries ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    """One message to one channel and recipient, and how its attempts went."""

    id: str
    channel: str
    route: str | None
    recipient: str | None
    event: Event
    state: DeliveryState
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class DeliveryQuery:
    """Filters and keyset paging (by id, newest first) for listing deliveries."""

    state: DeliveryState | None = None
    channel: str | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True)
class DigestResult:
    """What a digest run did: the day, whether this call ran it, how many messages."""

    day: str
    ran: bool
    owners: int = 0
    deliveries: int = 0
    skipped_reason: str | None = None
