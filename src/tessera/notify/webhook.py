"""Webhook channels over httpx: a generic JSON body or a Slack-compatible one.

With a signing secret, each request carries `X-Tessera-Timestamp` (Unix seconds) and
`X-Tessera-Signature: sha256=<hex>`, the HMAC-SHA256 under the secret of
`<timestamp>.<body bytes>`; receivers recompute it and refuse stale timestamps."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from tessera import __version__
from tessera.core.clock import Clock
from tessera.notify.models import ChannelConfig, WebhookConfig
from tessera.notify.ports import DeliveryFailed, Outgoing
from tessera.notify.render import generic_payload, slack_payload

SIGNATURE_HEADER = "X-Tessera-Signature"
TIMESTAMP_HEADER = "X-Tessera-Timestamp"
DELIVERY_HEADER = "X-Tessera-Delivery"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier:
    """POSTs one JSON document per message; any 2xx is delivered, anything else fails.
    Redirects are not followed and the answer's body is never read."""

    def __init__(
        self,
        clock: Clock,
        slack: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._clock = clock
        self._render: Callable[[Outgoing], dict[str, Any]] = (
            slack_payload if slack else generic_payload
        )
        self._transport = transport

    def send(self, config: ChannelConfig, message: Outgoing) -> None:
        if not isinstance(config, WebhookConfig):
            raise DeliveryFailed("not a webhook channel")
        body = json.dumps(self._render(message), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"tessera-notify/{__version__}",
            DELIVERY_HEADER: message.delivery_id,
        }
        if config.signing_secret:
            timestamp = str(int(self._clock.now().timestamp()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(config.signing_secret, timestamp, body)
        refuse_metadata_hosts(config.url)
        try:
            with (
                httpx.Client(
                    timeout=config.timeout, follow_redirects=False, transport=self._transport
                ) as client,
                client.stream("POST", config.url, content=body, headers=headers) as resp,
            ):
                status = resp.status_code
        except httpx.TimeoutException:
            raise DeliveryFailed("the webhook did not answer in time") from None
        except (httpx.HTTPError, OSError) as exc:
            # the exception text may quote the URL, which can embed a token: name the kind only
            raise DeliveryFailed(f"cannot reach the webhook: {type(exc).__name__}") from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"the webhook answered HTTP {status}")


def refuse_metadata_hosts(url: str) -> None:
    """Refuse a webhook whose host resolves to a link-local, unspecified, multicast or reserved
    address: cloud metadata services (169.254.169.254, fd00:ec2::254) live there, and a channel
    must not become a way to read them. Loopback and private networks stay allowed (internal
    receivers are common). A DNS answer that changes between this check and the connection is
    not covered."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return  # unresolvable: the connection fails and the delivery says so
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if (
            addr.is_link_local or addr.is_unspecified or addr.is_multicast or addr.is_reserved
            or addr in _METADATA
        ):  # fmt: skip
            raise DeliveryFailed("the webhook host resolves to a link-local or reserved address")


_METADATA = (ipaddress.ip_address("fd00:ec2::254"),)
