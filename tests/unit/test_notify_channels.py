"""Notification channels against real loopback receivers: a threaded HTTP server takes the
generic JSON and Slack payloads (bodies and HMAC signature checked), a small standard-library
SMTP server takes the email; retries move a FakeClock instead of sleeping.

The receivers here are also used by `tests/integration/test_notify_api.py`."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tessera.app import Container
from tessera.auth.models import Principal
from tessera.core.clock import FakeClock
from tessera.notify import (
    ChannelRequest,
    ChannelType,
    DeliveryQuery,
    DeliveryState,
    EmailConfig,
    Event,
    EventType,
    NotifyService,
    OwnerContact,
    Route,
    Severity,
    Subject,
    WebhookConfig,
)
from tests.helpers import make_container, root_principal

SIGNING_SECRET = "whsec-0123456789abcdef"
SLACK_TOKEN_PATH = "/services/T000/B000/XXXXXXXXSECRETXXXX"


# -- receivers -------------------------------------------------------------------------------
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Answers each POST with the next status of `script` (then 200) and records it."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def serve_http() -> Iterator[HttpReceiver]:
    """A loopback HTTP receiver in a thread, for the duration of the block."""
    holder: list[HttpReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = holder[0]
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            rec.requests.append(Received(self.path, dict(self.headers.items()), body))
            status = rec.script.pop(0) if rec.script else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(HttpReceiver(server))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        store: SmtpReceiver = self.server.store  # type: ignore[attr-defined]
        self._say("220 test-smtp ready")
        sender, rcpts = "", []
        while True:
            raw = self.rfile.readline(4096)
            if not raw:
                return
            verb = raw.decode().strip().split(" ", 1)[0].upper()
            arg = raw.decode().strip()[len(verb) :].strip()
            if verb in ("EHLO", "HELO"):
                self._say("250 test-smtp")
            elif verb == "MAIL":
                sender, rcpts = arg.split(":", 1)[1].strip("<> "), []
                self._say("250 OK")
            elif verb == "RCPT":
                rcpts.append(arg.split(":", 1)[1].strip("<> "))
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                msg = message_from_bytes(b"".join(lines), policy=policy.default)
                store.messages.append((sender, list(rcpts), msg))  # type: ignore[arg-type]
                self._say("250 queued")
            elif verb in ("RSET", "NOOP"):
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")


@dataclass
class SmtpReceiver:
    server: socketserver.ThreadingTCPServer
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


@contextmanager
def serve_smtp() -> Iterator[SmtpReceiver]:
    """A loopback SMTP server in a thread, for the duration of the block."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    store = SmtpReceiver(server)
    server.store = store  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield store
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    with serve_http() as receiver:
        yield receiver


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    with serve_smtp() as receiver:
        yield receiver


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- environment -----------------------------------------------------------------------------
@dataclass
class Env:
    c: Container
    root: Principal
    clock: FakeClock
    notify: NotifyService


def make_env(tmp_path: Path, url: str | None = None) -> Env:
    clock = FakeClock()
    c, _, token = make_container(tmp_path, url, clock=clock)
    svc = NotifyService(c.db, clock, c.rng, c.barrier, c.policies, c.inventory)
    return Env(c, root_principal(c, token), clock, svc)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


def expiring(owner: str = "team-web", name: str = "web.example.com") -> Event:
    subject = Subject("01J0000000000000000000000", name, "x509_certificate", owner, "web")
    return Event(
        EventType.CREDENTIAL_EXPIRING, Severity.HIGH, subject,
        f"{name} expires in 5 days", FakeClock().now(),
    )  # fmt: skip


def route_all(e: Env, channel: str, **kw: Any) -> None:
    route = Route(name=f"to-{channel}", event_types=("*",), channels=(channel,), **kw)
    e.notify.put_route(e.root, route)


# -- tests -----------------------------------------------------------------------------------
def test_generic_webhook_body_and_signature(env: Env, http_receiver: HttpReceiver) -> None:
    cfg = WebhookConfig(http_receiver.url + "/hook?k=v", signing_secret=SIGNING_SECRET)
    env.notify.put_channel(env.root, ChannelRequest("ops", ChannelType.WEBHOOK, cfg))
    route_all(env, "ops")
    [delivery_id] = env.notify.publish(expiring())
    assert env.notify.process_due() == 1

    [req] = http_receiver.requests
    assert req.path == "/hook?k=v"
    body = req.json()
    assert body["delivery_id"] == delivery_id
    assert body["type"] == "credential.expiring" and body["severity"] == "high"
    assert body["subject"]["name"] == "web.example.com"
    assert body["recipient"] == "team-web"
    ts = req.headers["X-Tessera-Timestamp"]
    assert ts == str(int(env.clock.now().timestamp()))
    mac = hmac.new(SIGNING_SECRET.encode(), ts.encode() + b"." + req.body, hashlib.sha256)
    assert req.headers["X-Tessera-Signature"] == "sha256=" + mac.hexdigest()
    assert req.headers["X-Tessera-Delivery"] == delivery_id
    d = env.notify.get_delivery(env.root, delivery_id)
    assert d.state is DeliveryState.DELIVERED and d.attempts == 1


def test_slack_payload_goes_to_the_owners_channel(env: Env, http_receiver: HttpReceiver) -> None:
    cfg = WebhookConfig(http_receiver.url + SLACK_TOKEN_PATH)
    shown = env.notify.put_channel(env.root, ChannelRequest("slack", ChannelType.SLACK, cfg))
    assert "SECRET" not in json.dumps(dict(shown.display))  # the token in the URL is sealed
    env.notify.put_owner(env.root, OwnerContact("team-web", slack_channel="#team-web"))
    route_all(env, "slack")
    env.notify.publish(expiring())
    env.notify.process_due()

    [req] = http_receiver.requests
    body = req.json()
    assert req.path == SLACK_TOKEN_PATH
    assert "X-Tessera-Signature" not in req.headers
    assert body["channel"] == "#team-web"
    assert body["text"] == "HIGH: web.example.com expires in 5 days"
    assert body["blocks"][0]["type"] == "section"
    assert "web.example.com expires in 5 days" in body["blocks"][0]["text"]["text"]
    assert "Owner: team-web" in body["blocks"][1]["text"]["text"]


def test_email_reaches_the_owner_over_smtp(env: Env, smtp_receiver: SmtpReceiver) -> None:
    cfg = EmailConfig("127.0.0.1", "tessera@example.com", port=smtp_receiver.port, timeout=5)
    env.notify.put_channel(env.root, ChannelRequest("mail", ChannelType.EMAIL, cfg))
    env.notify.put_owner(env.root, OwnerContact("team-web", email="web-team@example.com"))
    route_all(env, "mail")
    env.notify.publish(expiring())
    assert env.notify.process_due() == 1

    [(sender, rcpts, msg)] = smtp_receiver.messages
    assert sender == "tessera@example.com"
    assert rcpts == ["web-team@example.com"]
    assert msg["To"] == "web-team@example.com"
    assert msg["Subject"] == "[Tessera] HIGH: credential.expiring — web.example.com"
    text = msg.get_content()
    assert "web.example.com expires in 5 days" in text and "Owner: team-web" in text


def test_third_attempt_succeeds_after_backoff(env: Env, http_receiver: HttpReceiver) -> None:
    http_receiver.script = [500, 503]
    cfg = WebhookConfig(http_receiver.url + "/hook")
    env.notify.put_channel(env.root, ChannelRequest("ops", ChannelType.WEBHOOK, cfg))
    route_all(env, "ops")
    [delivery_id] = env.notify.publish(expiring())

    assert env.notify.process_due() == 0
    first = env.notify.get_delivery(env.root, delivery_id)
    assert first.state is DeliveryState.PENDING and first.attempts == 1
    assert first.last_error == "the webhook answered HTTP 500"
    assert first.next_attempt_at == env.clock.now() + timedelta(seconds=30)
    assert env.notify.process_due() == 0  # not due yet: nothing sent
    assert len(http_receiver.requests) == 1

    env.clock.advance(timedelta(seconds=30))
    assert env.notify.process_due() == 0
    second = env.notify.get_delivery(env.root, delivery_id)
    assert second.attempts == 2 and second.next_attempt_at == env.clock.now() + timedelta(
        seconds=60
    )
    env.clock.advance(timedelta(seconds=60))
    assert env.notify.process_due() == 1
    done = env.notify.get_delivery(env.root, delivery_id)
    assert done.state is DeliveryState.DELIVERED and done.attempts == 3
    assert len(http_receiver.requests) == 3
    assert {r.headers["X-Tessera-Delivery"] for r in http_receiver.requests} == {delivery_id}


def test_unreachable_host_ends_failed_not_raised(env: Env) -> None:
    url = f"http://127.0.0.1:{closed_port()}{SLACK_TOKEN_PATH}"
    env.notify.put_channel(env.root, ChannelRequest("dead", ChannelType.WEBHOOK,
                                                    WebhookConfig(url, timeout=2)))  # fmt: skip
    route_all(env, "dead")
    [delivery_id] = env.notify.publish(expiring())
    for _ in range(env.notify.settings.retry.max_attempts):
        env.notify.process_due()
        env.clock.advance(timedelta(hours=1))
    d = env.notify.get_delivery(env.root, delivery_id)
    assert d.state is DeliveryState.FAILED
    assert d.attempts == env.notify.settings.retry.max_attempts
    assert d.last_error == "cannot reach the webhook: ConnectError"
    failed = env.notify.list_deliveries(env.root, DeliveryQuery(state=DeliveryState.FAILED))
    assert [x.id for x in failed.items] == [delivery_id]


def test_unreachable_smtp_and_test_endpoint(env: Env, smtp_receiver: SmtpReceiver) -> None:
    dead = EmailConfig("127.0.0.1", "t@example.com", port=closed_port(), timeout=2)
    env.notify.put_channel(env.root, ChannelRequest("dead", ChannelType.EMAIL, dead))
    d = env.notify.test_channel(env.root, "dead", "ops@example.com")
    assert d.state is DeliveryState.FAILED and d.attempts == 1
    assert d.last_error == "cannot reach the SMTP server: ConnectionRefusedError"
    live = EmailConfig("127.0.0.1", "t@example.com", port=smtp_receiver.port,
                       default_to="ops@example.com")  # fmt: skip
    env.notify.put_channel(env.root, ChannelRequest("live", ChannelType.EMAIL, live))
    ok = env.notify.test_channel(env.root, "live")
    assert ok.state is DeliveryState.DELIVERED
    assert smtp_receiver.messages[0][1] == ["ops@example.com"]


def test_webhook_to_a_metadata_address_is_refused() -> None:
    from tessera.notify.ports import DeliveryFailed
    from tessera.notify.webhook import refuse_metadata_hosts

    for url in ("http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/x",
                "http://0.0.0.0:8080/", "http://[fd00:ec2::254]/"):  # fmt: skip
        with pytest.raises(DeliveryFailed):
            refuse_metadata_hosts(url)
    refuse_metadata_hosts("http://127.0.0.1:9/hook")  # loopback receivers stay allowed
    refuse_metadata_hosts("http://10.1.2.3/hook")
