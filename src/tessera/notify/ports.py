"""The one port notifications need: something that sends a message to a channel. One
implementation per channel type (`webhook.py`, `email.py`) and an in-memory fake for tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from tessera.auth.models import Principal
from tessera.barrier.aead import AAD
from tessera.core.errors import TesseraError
from tessera.inventory.models import CredentialQuery, CredentialSummary
from tessera.notify.models import ChannelConfig, Event
from tessera.policy.models import Capability, Decision


class DeliveryFailed(TesseraError):
    """A channel refused or could not take a message; the detail never holds secrets."""

    status, slug, title = 502, "delivery-failed", "The notification could not be delivered"


@dataclass(frozen=True)
class Outgoing:
    """One message to send: the delivery's id (receivers may dedupe on it), to whom, what."""

    delivery_id: str
    recipient: str | None
    event: Event


class Notifier(Protocol):
    """Sends one message through a channel; raises DeliveryFailed, never anything else."""

    def send(self, config: ChannelConfig, message: Outgoing) -> None: ...


class FakeNotifier:
    """Records what it is asked to send; fails the first `fail_first` attempts."""

    def __init__(self, fail_first: int = 0) -> None:
        self.sent: list[Outgoing] = []
        self.attempts = 0
        self.fail_first = fail_first
        self._lock = threading.Lock()

    def send(self, config: ChannelConfig, message: Outgoing) -> None:
        with self._lock:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                raise DeliveryFailed(f"fake failure {self.attempts}")
            self.sent.append(message)


class Authorizer(Protocol):
    """Policy evaluation; raises PermissionDenied when not allowed."""

    def authorize(
        self, principal: Principal, path: str, capability: Capability, *, sudo: bool = False
    ) -> Decision: ...


class SecretBox(Protocol):
    """The barrier: seals channel secrets (URL, signing secret, SMTP password)."""

    @property
    def sealed(self) -> bool: ...

    def encrypt(self, aad: AAD, plaintext: bytes) -> bytes: ...

    def decrypt(self, aad: AAD, blob: bytes) -> bytes: ...


class ExpiringInventory(Protocol):
    """The inventory, read for the digest."""

    def export(
        self, principal: Principal, query: CredentialQuery
    ) -> Iterator[CredentialSummary]: ...
