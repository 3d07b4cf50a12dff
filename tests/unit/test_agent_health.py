"""Agent health over real loopback HTTP (200 while valid, 503 once a certificate is missing or
expired, failures visible), the status file, and the CLI's handling of a bad configuration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from tessera.agent import Agent, HealthServer
from tessera.cli.agent import command
from tessera.core.clock import FakeClock
from tests.unit.test_agent_runner import FakeIssuer, Reloads, config


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Agent, FakeIssuer, FakeClock, str]]:
    clock = FakeClock(datetime(2031, 5, 1, tzinfo=UTC))
    issuer = FakeIssuer(clock)
    agent = Agent(config(tmp_path, names=("web", "api")), issuer, clock, reload=Reloads())
    server = HealthServer("127.0.0.1", 0, agent.report)
    server.start()
    try:
        yield agent, issuer, clock, f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_health_endpoint_follows_the_certificates(
    served: tuple[Agent, FakeIssuer, FakeClock, str], tmp_path: Path
) -> None:
    agent, issuer, clock, url = served
    r = httpx.get(f"{url}/healthz")
    assert r.status_code == 503 and r.json()["status"] == "failing"  # nothing issued yet
    agent.tick()
    r = httpx.get(f"{url}/healthz")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok"
    assert [c["name"] for c in body["certificates"]] == ["web", "api"]
    web = body["certificates"][0]
    assert web["valid"] and web["consecutive_failures"] == 0 and web["last_error"] is None
    assert datetime.fromisoformat(web["next_renewal"]) < datetime.fromisoformat(web["not_after"])

    issuer.down = True
    clock.advance(timedelta(hours=2))
    agent.tick()
    body = httpx.get(f"{url}/healthz").json()
    assert body["status"] == "degraded"
    assert all(c["consecutive_failures"] == 1 for c in body["certificates"])
    clock.advance(timedelta(hours=2))
    r = httpx.get(f"{url}/healthz")
    assert r.status_code == 503 and r.json()["status"] == "failing"
    assert httpx.get(f"{url}/other").status_code == 404
    status_file = json.loads((tmp_path / "status.json").read_text())
    assert status_file["certificates"][0]["consecutive_failures"] == 1
    assert "PRIVATE KEY" not in r.text


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    return app


def test_cli_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "agent.yaml"
    bad.write_text("server: http://127.0.0.1:1\nauth: {token: t}\ncertificates: []\n")
    result = CliRunner().invoke(cli(), ["--config", str(bad)])
    assert result.exit_code == 1
    assert "certificates" in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(cli(), ["--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_cli_once_with_server_down_exits_non_zero_without_the_token(tmp_path: Path) -> None:
    cfg = {
        "server": "http://127.0.0.1:1",
        "auth": {"token": "tst_do_not_print_me"},
        "certificates": [{"profile": "web", "common_name": "a.example.test",
                          "cert_file": str(tmp_path / "a.crt"),
                          "key_file": str(tmp_path / "a.key")}],
    }  # fmt: skip
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(cfg))
    result = CliRunner().invoke(cli(), ["--config", str(path), "--once"])
    assert result.exit_code == 1
    assert "tst_do_not_print_me" not in result.output
    assert not (tmp_path / "a.crt").exists()
