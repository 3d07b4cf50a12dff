"""The agent's own health: a JSON report per certificate, served on loopback at `/healthz`
(200 while every certificate on disk is valid, 503 otherwise) and/or written to a file."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tessera.agent.files import atomic_write

log = logging.getLogger("tessera.agent")


class Status(StrEnum):
    """ok: all valid, no failures; degraded: all valid, some renewal failing; failing: some
    certificate missing or expired."""

    ok = "ok"
    degraded = "degraded"
    failing = "failing"


@dataclass(frozen=True)
class CertHealth:
    """What the agent knows about one certificate right now (no key material)."""

    name: str
    valid: bool
    serial: str | None
    not_after: datetime | None
    next_renewal: datetime | None
    next_attempt: datetime | None
    last_success: datetime | None
    last_error: str | None
    consecutive_failures: int

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t is not None else None

        return {
            "name": self.name,
            "valid": self.valid,
            "serial": self.serial,
            "not_after": iso(self.not_after),
            "next_renewal": iso(self.next_renewal),
            "next_attempt": iso(self.next_attempt),
            "last_success": iso(self.last_success),
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
        }


@dataclass(frozen=True)
class HealthReport:
    """Every certificate's health, and the overall verdict."""

    checked_at: datetime
    certificates: tuple[CertHealth, ...]

    @property
    def status(self) -> Status:
        if not all(c.valid for c in self.certificates):
            return Status.failing
        if any(c.consecutive_failures for c in self.certificates):
            return Status.degraded
        return Status.ok

    @property
    def http_status(self) -> int:
        return 503 if self.status is Status.failing else 200

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "checked_at": self.checked_at.isoformat(),
            "certificates": [c.to_json() for c in self.certificates],
        }


def write_status_file(path: Path, report: HealthReport) -> None:
    """Replace the status file atomically, so a monitor never reads half a report."""
    atomic_write(path, (json.dumps(report.to_json(), indent=2) + "\n").encode(), 0o644)


class HealthServer:
    """`GET /healthz` on a loopback address, answered from `snapshot()` in a daemon thread."""

    def __init__(self, host: str, port: int, snapshot: Callable[[], HealthReport]) -> None:
        self._httpd = ThreadingHTTPServer((host, port), _handler(snapshot))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="agent-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler(snapshot: Callable[[], HealthReport]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/healthz":
                self._send(404, {"error": "not found; try /healthz"})
                return
            report = snapshot()
            self._send(report.http_status, report.to_json())

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("health: " + format, *args)

    return Handler
