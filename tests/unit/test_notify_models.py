"""Notification values: only whitelisted fields leave Tessera, oversized fields are cut,
and bad input (URL schemes, globs, addresses, timeouts) is refused on construction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tessera.core.errors import InvalidRequest
from tessera.inventory.models import Credential, CredentialKind, CredentialSource, CredentialStatus
from tessera.notify import (
    ChannelRequest,
    ChannelType,
    DigestItem,
    EmailConfig,
    Event,
    EventType,
    Outgoing,
    OwnerContact,
    RetryPolicy,
    Route,
    Severity,
    Subject,
    WebhookConfig,
)
from tessera.notify.models import MAX_ITEMS, MAX_TEXT
from tessera.notify.render import generic_payload, slack_payload, subject_line, text_body

NOW = datetime(2030, 1, 1, tzinfo=UTC)
SECRETS = ("-----BEGIN PRIVATE KEY-----", "hunter2-db-password", "AKIAIOSFODNN7EXAMPLE")


def credential(**attributes: Any) -> Credential:
    return Credential(
        id="01J9ZZZZZZZZZZZZZZZZZZZZZZ", kind=CredentialKind.STATIC_SECRET, fingerprint="fp",
        name="db/prod", identity_id=None, owner="team-db", source=CredentialSource.MANAGED,
        status=CredentialStatus.ACTIVE, issued_at=NOW, not_after=NOW + timedelta(days=3),
        last_used_at=None, last_rotated_at=None, attributes=attributes, created_at=NOW,
        updated_at=NOW,
    )  # fmt: skip


def test_an_event_from_a_credential_carries_only_whitelisted_fields() -> None:
    cred = credential(
        private_key=SECRETS[0], password=SECRETS[1], note=f"aws {SECRETS[2]}",
        subject="CN=db", value={"nested": SECRETS[1]},
    )  # fmt: skip
    subject = Subject.of_credential(cred, identity="db-service")
    event = Event(EventType.CREDENTIAL_EXPIRING, Severity.HIGH, subject, "db/prod expires", NOW)
    data = event.to_json()
    assert set(data) == {"type", "severity", "subject", "text", "occurred_at", "items", "more"}
    assert data["subject"] == {
        "credential_id": cred.id, "name": "db/prod", "kind": "static_secret",
        "owner": "team-db", "identity": "db-service",
    }  # fmt: skip
    message = Outgoing("01J9", "team-db", event)
    rendered = [
        json.dumps(generic_payload(message)), json.dumps(slack_payload(message)),
        text_body(event), subject_line(event), json.dumps(data),
    ]  # fmt: skip
    for text in rendered:
        for secret in SECRETS:
            assert secret not in text
    assert Event.from_json(data) == event


def test_oversized_fields_are_cut_and_control_characters_removed() -> None:
    subject = Subject(name="n" * 5000, owner="team\x1b[31m-red\n")
    items = tuple(DigestItem("x509_certificate", f"c{i}", NOW, f"id{i}") for i in range(250))
    event = Event(EventType.DIGEST_EXPIRING, "medium", subject, "t" * 50_000, NOW, items)  # type: ignore[arg-type]
    assert len(event.text) == MAX_TEXT and event.text.endswith("…")
    assert len(event.subject.name or "") == 255
    assert event.subject.owner == "team [31m-red "
    assert len(event.items) == MAX_ITEMS and event.more == 50
    assert event.severity is Severity.MEDIUM
    assert "… and 50 more" in text_body(event)
    blocks = slack_payload(Outgoing("d", None, event))["blocks"]
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if "text" in b)
    assert len(subject_line(event)) <= 200


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x", "javascript:alert(1)", "file:///etc/passwd",
        "hooks.example.com/x", "http://", "https://user:pw@hooks.example.com/",
        "http://host:99999/", "http://host/\nInjected: yes", "x" * 3000,
    ],
)  # fmt: skip
def test_bad_webhook_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequest):
        WebhookConfig(url)


@pytest.mark.parametrize(
    "pattern",
    ["", "credential.[a-z]*", "Credential.*", "credential/*", "nothing.matches.this", "x" * 65],
)
def test_invalid_route_globs_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidRequest):
        Route(name="r", event_types=(pattern,), channels=("ops",))


def test_route_matching_by_glob_and_severity() -> None:
    route = Route("r", ("credential.*", "renewal.fail?d"), ("ops",), Severity.MEDIUM)
    event = Event(EventType.RENEWAL_FAILED, Severity.CRITICAL, Subject(), "x", NOW)
    assert route.matches(event)
    assert not route.matches(Event(EventType.RENEWAL_FAILED, Severity.LOW, Subject(), "x", NOW))
    assert not route.matches(Event(EventType.SECRET_LEAKED, Severity.HIGH, Subject(), "x", NOW))
    assert Route("all", ("*",), ("ops",)).matches(event)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Route("Bad Name", ("*",), ("ops",)),
        lambda: Route("r", ("*",), ()),
        lambda: Route("r", ("*",), ("ops",), recipients=("not-an-address",)),
        lambda: Route("r", ("*",), ("ops",), dedup_window=timedelta(days=31)),
        lambda: Route("r", ("*",), ("ops",), min_severity="urgent"),
        lambda: EmailConfig("smtp.example.com", "not-an-email"),
        lambda: EmailConfig("smtp.example.com\r\nRCPT", "t@example.com"),
        lambda: EmailConfig("smtp.example.com", "t@example.com", port=0),
        lambda: EmailConfig("smtp.example.com", "t@example.com", default_to="a@b\nBcc: x@y.z"),
        lambda: WebhookConfig("https://h.example.com", timeout=600),
        lambda: WebhookConfig("https://h.example.com", signing_secret="short"),
        lambda: OwnerContact("team-web"),
        lambda: OwnerContact("team-web", slack_channel="general"),
        lambda: ChannelRequest("mail", ChannelType.EMAIL, WebhookConfig("https://h.example.com")),
    ],
)
def test_bad_settings_are_refused(build: Any) -> None:
    with pytest.raises(InvalidRequest):
        build()


def test_backoff_doubles_up_to_the_cap() -> None:
    retry = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(minutes=5))
    assert [retry.delay(n).total_seconds() for n in range(1, 7)] == [30, 60, 120, 240, 300, 300]
