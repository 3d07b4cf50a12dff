"""How an event reads in each channel: a subject line, plain text, generic JSON and Slack
blocks. Everything comes from the event's whitelisted fields."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from tessera.notify.models import Event
from tessera.notify.ports import Outgoing

SLACK_TEXT_MAX = 2900  # Slack refuses section text over 3000 characters
_ICONS = {"low": ":large_blue_circle:", "medium": ":large_yellow_circle:",
          "high": ":large_orange_circle:", "critical": ":red_circle:"}  # fmt: skip


def subject_line(event: Event) -> str:
    who = event.subject.name or event.subject.owner or "Tessera"
    return f"[Tessera] {event.severity.value.upper()}: {event.type.value} — {who}"[:200]


def detail_lines(event: Event) -> list[str]:
    """The subject's fields, then digest items grouped by kind, soonest first."""
    s = event.subject
    lines = [
        f"{label}: {value}"
        for label, value in (
            ("Credential", s.name), ("Kind", s.kind), ("Owner", s.owner),
            ("Identity", s.identity), ("Credential id", s.credential_id),
        )
        if value
    ]  # fmt: skip
    ordered = sorted(event.items, key=lambda i: (i.kind, i.not_after, i.name))
    for kind, group in groupby(ordered, key=lambda i: i.kind):
        items = list(group)
        lines.append("")
        lines.append(f"{kind} ({len(items)}):")
        lines += [f"  - {i.name} expires {i.not_after:%Y-%m-%d %H:%M} UTC" for i in items]
    if event.more:
        lines.append(f"… and {event.more} more")
    return lines


def text_body(event: Event) -> str:
    return "\n".join([event.text, "", *detail_lines(event), "", "— Tessera"]) + "\n"


def generic_payload(message: Outgoing) -> dict[str, Any]:
    """The generic webhook body: the event as JSON plus the delivery id and recipient."""
    return {
        "delivery_id": message.delivery_id,
        "recipient": message.recipient,
        **message.event.to_json(),
    }


def slack_payload(message: Outgoing) -> dict[str, Any]:
    """A Slack-compatible body (`text` fallback and `blocks`); `channel` when one is known."""
    event = message.event
    icon = _ICONS.get(event.severity.value, "")
    headline = f"{icon} *{event.severity.value.upper()}* {event.text}".strip()
    details = "\n".join(detail_lines(event)).strip()
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline[:SLACK_TEXT_MAX]}}
    ]
    if details:
        body = details if len(details) <= SLACK_TEXT_MAX else details[: SLACK_TEXT_MAX - 1] + "…"
        blocks.append({"type": "section", "text": {"type": "plain_text", "text": body}})
    context = f"{event.type.value} · {event.occurred_at:%Y-%m-%d %H:%M} UTC"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    payload: dict[str, Any] = {"text": f"{event.severity.value.upper()}: {event.text}"[:3000]}
    payload["blocks"] = blocks
    if message.recipient and message.recipient.startswith(("#", "@")):
        payload["channel"] = message.recipient
    return payload
