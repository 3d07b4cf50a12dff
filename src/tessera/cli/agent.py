"""`tessera agent --config agent.yaml`: keep the configured certificates valid on disk."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from tessera.agent import Agent, HealthServer, build_client, load_config
from tessera.cli.output import fail
from tessera.core.clock import SystemClock
from tessera.core.errors import TesseraError

log = logging.getLogger("tessera.agent")


def command(
    config: Path = typer.Option(..., "--config", "-c", help="agent.yaml (or .json)."),
    once: bool = typer.Option(
        False,
        "--once",
        help="One pass (issue what is missing or due), then exit: 0 if all "
        "certificates are valid and nothing failed, 1 otherwise.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Log in, obtain certificates, write them atomically, renew, reload; report health."""
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise fail(f"--log-level must be debug, info, warning or error, not {log_level!r}")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every request line at INFO; the agent logs what matters itself
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        cfg = load_config(config)
    except TesseraError as exc:
        raise fail(exc.detail) from None
    clock = SystemClock()
    client = build_client(cfg, clock)
    agent = Agent(cfg, client, clock)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    health: HealthServer | None = None
    address = cfg.health.address()
    if address is not None and not once:
        try:
            health = HealthServer(address[0], address[1], agent.report)
        except OSError as exc:
            client.close()
            raise fail(f"cannot listen on {cfg.health.listen}: {exc.strerror}") from None
        health.start()
        log.info("health at http://%s:%d/healthz", address[0], health.port)
    try:
        healthy = agent.run(stop, once=once)
    finally:
        if health is not None:
            health.stop()
        client.close()
    if once and not healthy:
        raise typer.Exit(1)
