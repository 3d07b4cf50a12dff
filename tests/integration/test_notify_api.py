"""Notifications end to end over real HTTP (a dev server on loopback): channels, routes and
owners through `/v1/notify`, test messages received by a loopback HTTP receiver (signature
checked) and a loopback SMTP server, a failing channel visible in `/v1/notify/deliveries`,
the digest sent by the server's worker, bad input as problem+json, and the CLI."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.integration.test_cli import Cli, failed, ok, parallel
from tests.unit.test_notify_channels import (
    HttpReceiver,
    SmtpReceiver,
    closed_port,
    serve_http,
    serve_smtp,
)

SECRET = "integration-signing-secret"


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    with serve_http() as receiver:
        yield receiver


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    with serve_smtp() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("notify"), "--dev")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def root(dev: ServerProcess) -> Iterator[httpx.Client]:
    with dev.client(dev_root_token(dev)) as http:
        yield http


def put(root: httpx.Client, path: str, body: dict[str, Any], status: int = 200) -> Any:
    resp = root.put(path, json=body)
    assert resp.status_code == status, resp.text
    return resp.json()


def problem(resp: httpx.Response, status: int, needle: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert needle in resp.json()["detail"], resp.json()


def test_webhook_channel_route_and_test_message(
    root: httpx.Client, http_receiver: HttpReceiver
) -> None:
    url = http_receiver.url + "/hooks/T1/B1/pathtoken"
    hook = {"url": url, "signing_secret": SECRET, "timeout": 5}
    ch = put(root, "/v1/notify/channels/ops", {"type": "webhook", "webhook": hook})
    assert ch["settings"] == {"endpoint": http_receiver.url, "signed": True, "timeout": 5.0}
    shown = root.get("/v1/notify/channels").text
    assert "pathtoken" not in shown and SECRET not in shown

    route = put(root, "/v1/notify/routes/expiry", {
        "event_types": ["credential.*", "secret.*"], "channels": ["ops"],
        "min_severity": "medium", "dedup_window": "12h",
    })  # fmt: skip
    assert route["dedup_window_seconds"] == 43200 and route["min_severity"] == "medium"

    sent = root.post("/v1/notify/test/ops")
    assert sent.status_code == 200, sent.text
    delivery = sent.json()
    assert delivery["state"] == "delivered" and delivery["event"]["type"] == "notify.test"
    [req] = http_receiver.requests
    assert req.path == "/hooks/T1/B1/pathtoken"
    ts = req.headers["X-Tessera-Timestamp"]
    mac = hmac.new(SECRET.encode(), ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Tessera-Signature"] == f"sha256={mac}"
    assert req.json()["delivery_id"] == delivery["id"]
    again = root.get(f"/v1/notify/deliveries/{delivery['id']}").json()
    assert again["state"] == "delivered" and again["attempts"] == 1


def test_email_test_message_over_smtp(root: httpx.Client, smtp_receiver: SmtpReceiver) -> None:
    email = {"host": "127.0.0.1", "port": smtp_receiver.port, "sender": "tessera@example.com",
             "password": "smtp-pass-word", "username": "u", "timeout": 5}  # fmt: skip
    ch = put(root, "/v1/notify/channels/mail", {"type": "email", "email": email})
    assert ch["settings"]["has_password"] is True and "smtp-pass-word" not in str(ch)
    # no recipient and no default_to: a clear 400
    problem(root.post("/v1/notify/test/mail"), 400, "give a recipient")
    # the loopback server offers no AUTH, so log-in is refused: recorded, not raised
    bad = root.post("/v1/notify/test/mail", json={"recipient": "ops@example.com"}).json()
    assert bad["state"] == "failed"
    assert "smtp-pass-word" not in str(bad)
    email.pop("password"), email.pop("username")
    put(root, "/v1/notify/channels/mail", {"type": "email", "email": email})
    good = root.post("/v1/notify/test/mail", json={"recipient": "ops@example.com"}).json()
    assert good["state"] == "delivered", good
    [(_sender, rcpts, msg)] = smtp_receiver.messages
    assert rcpts == ["ops@example.com"] and "notify.test" in msg["Subject"]


def test_unreachable_channel_fails_visibly(root: httpx.Client) -> None:
    hook = {"url": f"http://127.0.0.1:{closed_port()}/x", "timeout": 2}
    put(root, "/v1/notify/channels/dead", {"type": "slack", "webhook": hook})
    d = root.post("/v1/notify/test/dead").json()
    assert d["state"] == "failed" and d["last_error"] == "cannot reach the webhook: ConnectError"
    page = root.get("/v1/notify/deliveries", params={"state": "failed", "channel": "dead"})
    assert [x["id"] for x in page.json()["items"]] == [d["id"]]


def test_digest_is_sent_by_the_worker_once_a_day(
    root: httpx.Client, http_receiver: HttpReceiver
) -> None:
    root.post("/v1/identities", json={"name": "billing", "owner": "team-billing"})
    made = root.post("/v1/apikeys", json={"identity": "billing", "ttl": "10d", "name": "bk"})
    assert made.status_code == 201, made.text
    assert root.post("/v1/notify/digest").json()["skipped_reason"] == "no route sends digests"
    hook = {"url": http_receiver.url + "/digest", "timeout": 5}
    put(root, "/v1/notify/channels/digest", {"type": "webhook", "webhook": hook})
    put(root, "/v1/notify/routes/digest", {"event_types": ["digest.expiring"],
                                           "channels": ["digest"]})  # fmt: skip
    # the server's worker may claim the day first (it runs the digest once a day by itself)
    first = root.post("/v1/notify/digest").json()
    assert first["ran"] is True or first["skipped_reason"] == "already sent today", first
    assert root.post("/v1/notify/digest").json()["ran"] is False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(
        r.path == "/digest" and r.json()["subject"]["owner"] == "team-billing"
        for r in http_receiver.requests
    ):
        time.sleep(0.05)
    body = next(r.json() for r in http_receiver.requests
                if r.json()["subject"]["owner"] == "team-billing")  # fmt: skip
    assert body["type"] == "digest.expiring"
    assert [(i["kind"], i["name"]) for i in body["items"]] == [("api_key", "bk")]
    assert "tsk_" not in str(body)  # the key itself is never in a message


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/v1/notify/channels/x", {"type": "webhook", "webhook": {"url": "ftp://h/x"}}, "http"),
        ("/v1/notify/channels/x", {"type": "pager", "webhook": {"url": "https://h/"}}, "type"),
        ("/v1/notify/channels/x", {"type": "email", "webhook": {"url": "https://h/"}}, "email"),
        ("/v1/notify/channels/Bad%20Name", {"type": "webhook", "webhook": {"url": "https://h"}},
         "channel name"),
        ("/v1/notify/routes/r", {"event_types": ["credential.[x]"], "channels": ["ops"]},
         "event type pattern"),
        ("/v1/notify/routes/r", {"event_types": ["*"], "channels": ["nope"]}, "no such channel"),
        ("/v1/notify/routes/r", {"event_types": ["*"], "channels": ["ops"],
                                 "min_severity": "urgent"}, "severity"),
        ("/v1/notify/owners/team-web", {"slack_channel": "general"}, "slack_channel"),
    ],
)  # fmt: skip
def test_bad_input_is_a_problem(root: httpx.Client, path: str, body: Any, needle: str) -> None:
    if "routes" in path:
        put(
            root,
            "/v1/notify/channels/ops",
            {"type": "webhook", "webhook": {"url": "https://h.example.com/"}},
        )
    problem(root.put(path, json=body), 400, needle)


def test_cli(dev: ServerProcess, tmp_path: Path, http_receiver: HttpReceiver) -> None:
    cli = Cli(dev.addr, tmp_path, dev_root_token(dev))
    dead = f"http://127.0.0.1:{closed_port()}/"
    made = parallel(
        cli.spawn("notify", "channel", "set", "cli-hook", "--type", "webhook",
                  "--url", http_receiver.url + "/cli"),
        cli.spawn("notify", "channel", "set", "cli-dead", "--type", "webhook", "--url", dead),
        cli.spawn("notify", "route", "set", "bad", "--events", "x.[", "--channels", "cli-hook"),
    )  # fmt: skip
    ok(made[0]), ok(made[1])
    failed(made[2], "event type pattern")
    good, bad, listed = parallel(
        cli.spawn("notify", "test", "cli-hook", "--output", "json"),
        cli.spawn("notify", "test", "cli-dead"),
        cli.spawn("notify", "channel", "list", "--output", "json"),
    )
    assert ok(good).json()["state"] == "delivered"
    assert [r.path for r in http_receiver.requests] == ["/cli"]
    failed(bad, "not delivered", "ConnectError")
    assert {"cli-hook", "cli-dead"} <= {c["name"] for c in ok(listed).json()}
    page = cli.json("notify", "deliveries", "--state", "failed", "--channel", "cli-dead")
    assert len(page["items"]) == 1
