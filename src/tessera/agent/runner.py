"""The agent's loop: for each certificate, issue when missing, renew at `renew_at` of its
lifetime, write the files, run the reload command; on any failure keep the files already on
disk and try again after an exponential backoff (capped, with jitter), for ever.

Lifetime counts from when the agent obtained the certificate (the file's mtime after a
restart), not from `notBefore`, which the server backdates to tolerate clock skew. Time is
read from the injected `Clock`; `tick()` does the due work and says how long to wait.
"""

from __future__ import annotations

import logging
import random
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tessera.agent.client import AgentCallError, Issued
from tessera.agent.config import AgentConfig, CertificateConfig, RetryConfig
from tessera.agent.files import file_writes, read_existing, write_files
from tessera.agent.health import CertHealth, HealthReport, Status, write_status_file
from tessera.core.clock import Clock

log = logging.getLogger("tessera.agent")
MIN_RENEW_GAP = timedelta(seconds=1)  # a certificate born nearly expired must not spin the loop
MAX_WAIT = 60.0  # look again at least this often (the wall clock may jump)


class Issuer(Protocol):
    """The one server call the loop needs."""

    def issue(self, spec: CertificateConfig) -> Issued: ...


class ReloadFailed(Exception):
    """The reload command could not run, timed out or exited non-zero."""


Reloader = Callable[[Sequence[str], float], None]


def run_reload(argv: Sequence[str], timeout: float) -> None:
    """Run `argv` (no shell, no stdin) within `timeout` seconds; ReloadFailed unless exit 0."""
    try:
        done = subprocess.run(  # noqa: S603 - argv from the operator's config, no shell
            list(argv), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ReloadFailed(f"{argv[0]} did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise ReloadFailed(f"cannot run {argv[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = f": {lines[-1][:300]}" if lines else ""
        raise ReloadFailed(f"{argv[0]} exited with status {done.returncode}{tail}")


def renewal_time(
    not_before: datetime, not_after: datetime, obtained_at: datetime, fraction: float
) -> datetime:
    """The moment `fraction` of the certificate's useful life (from when it was obtained,
    or notBefore if later) has passed."""
    start = min(max(not_before, obtained_at), not_after)
    return start + (not_after - start) * fraction


def backoff_delay(failures: int, retry: RetryConfig, rng: random.Random) -> float:
    """Seconds before the next attempt after `failures` failures in a row: `initial` doubled
    per failure, capped at `max`, less up to `jitter` of it so many agents do not align."""
    initial, cap = retry.initial.total_seconds(), retry.max.total_seconds()
    base = min(cap, initial * 2.0 ** min(max(failures - 1, 0), 62))
    return base * (1 - retry.jitter * rng.random())


@dataclass
class _State:
    spec: CertificateConfig
    next_attempt: datetime
    serial: str | None = None
    not_after: datetime | None = None
    next_renewal: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    failures: int = 0
    reload_pending: bool = False


class Agent:
    """Keeps every configured certificate valid on disk; `tick()` is one pass of the loop."""

    def __init__(
        self,
        config: AgentConfig,
        issuer: Issuer,
        clock: Clock,
        *,
        rng: random.Random | None = None,
        reload: Reloader = run_reload,
    ) -> None:
        self._config = config
        self._issuer = issuer
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._reload = reload
        self._lock = threading.Lock()
        now = clock.now()
        self._states = [_State(spec, next_attempt=now) for spec in config.certificates]

    def load_existing(self) -> None:
        """Adopt certificates already on disk that are valid and match the configuration, so
        a restart renews only what is due."""
        now = self._clock.now()
        for st in self._states:
            found = read_existing(st.spec)
            if found is None or found.not_after <= now:
                log.info("%s: no valid certificate on disk; issuing one", st.spec.label)
                continue
            when = renewal_time(
                found.not_before, found.not_after, found.written_at, st.spec.renew_at
            )
            with self._lock:
                st.serial, st.not_after, st.next_renewal = found.serial, found.not_after, when
                st.next_attempt = when
            log.info("%s: kept serial %s on disk; renewal due %s", st.spec.label, found.serial,
                     when.isoformat())  # fmt: skip
        self._publish()

    def tick(self) -> float:
        """Do all due work (issue, write, reload, retry); returns seconds until more is due."""
        now = self._clock.now()
        reloads: dict[tuple[str, ...], list[_State]] = {}
        for st in self._states:
            if now < st.next_attempt:
                continue
            # a reload still failing does not hold back a renewal that has come due
            renewal_due = st.next_renewal is None or now >= st.next_renewal
            if (not st.reload_pending or renewal_due) and not self._renew(st, now):
                continue
            if st.spec.reload:
                reloads.setdefault(st.spec.reload, []).append(st)
            else:
                self._succeed(st, now)
        # certificates sharing one reload command (one nginx) reload it once
        for argv, group in reloads.items():
            timeout = max(s.spec.reload_timeout.total_seconds() for s in group)
            try:
                self._reload(argv, timeout)
            except ReloadFailed as exc:
                for st in group:
                    self._fail(st, f"reload failed: {exc}", now)
                continue
            for st in group:
                self._succeed(st, now)
        self._publish()
        upcoming = min(st.next_attempt for st in self._states)
        return max(0.0, (upcoming - self._clock.now()).total_seconds())

    def run(self, stop: threading.Event, once: bool = False) -> bool:
        """Load what is on disk, then loop until `stop` is set (or one pass if `once`);
        returns whether every certificate is valid with no failure pending."""
        self.load_existing()
        while True:
            wait = self.tick()
            if once or stop.wait(min(wait, MAX_WAIT)):
                return self.report().status is Status.ok

    def report(self) -> HealthReport:
        """A consistent snapshot for the health endpoint and status file."""
        now = self._clock.now()
        with self._lock:
            certs = tuple(
                CertHealth(
                    name=st.spec.label,
                    valid=st.not_after is not None and now < st.not_after,
                    serial=st.serial,
                    not_after=st.not_after,
                    next_renewal=st.next_renewal,
                    next_attempt=st.next_attempt,
                    last_success=st.last_success,
                    last_error=st.last_error,
                    consecutive_failures=st.failures,
                )
                for st in self._states
            )
        return HealthReport(now, certs)

    def _renew(self, st: _State, now: datetime) -> bool:
        spec = st.spec
        try:
            issued = self._issuer.issue(spec)
            if issued.not_after <= self._clock.now():
                raise AgentCallError("the server issued a certificate that is already expired")
            write_files(
                file_writes(spec, issued.certificate_pem, issued.private_key_pem, issued.chain_pem)
            )
        except (AgentCallError, OSError, KeyError) as exc:
            self._fail(st, str(exc) if not isinstance(exc, OSError) else _os_error(exc), now)
            return False
        when = renewal_time(issued.not_before, issued.not_after, now, spec.renew_at)
        with self._lock:
            st.serial, st.not_after = issued.serial, issued.not_after
            st.next_renewal = max(when, now + MIN_RENEW_GAP)
            st.reload_pending = bool(spec.reload)
        log.info("%s: wrote serial %s, valid until %s", spec.label, issued.serial,
                 issued.not_after.isoformat())  # fmt: skip
        return True

    def _succeed(self, st: _State, now: datetime) -> None:
        with self._lock:
            if st.failures:
                log.info("%s: recovered after %d failed attempts", st.spec.label, st.failures)
            st.failures, st.last_error, st.reload_pending = 0, None, False
            st.last_success = now
            st.next_attempt = st.next_renewal or now

    def _fail(self, st: _State, message: str, now: datetime) -> None:
        with self._lock:
            st.failures += 1
            st.last_error = message
            delay = backoff_delay(st.failures, self._config.retry, self._rng)
            st.next_attempt = now + timedelta(seconds=delay)
            failures = st.failures
        log.warning("%s: attempt %d failed (%s); retrying in %.1fs; files on disk kept",
                    st.spec.label, failures, message, delay)  # fmt: skip

    def _publish(self) -> None:
        path = self._config.health.status_file
        if path is None:
            return
        try:
            write_status_file(path, self.report())
        except OSError as exc:
            log.warning("cannot write status file %s: %s", path, _os_error(exc))


def _os_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return f"file error{where}: {exc.strerror or type(exc).__name__}"
