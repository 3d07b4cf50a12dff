"""The agent loop on a FakeClock: renewal at the fraction, backoff growth and cap, keeping old
files while failing, recovery by itself, restart without needless reissue, several
certificates, reload handling. Time only moves when the test moves it."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tessera.agent import Agent, AgentCallError, Issued, ReloadFailed, Status, parse_config
from tessera.agent.config import CertificateConfig, RetryConfig
from tessera.agent.runner import backoff_delay, renewal_time
from tessera.core.clock import FakeClock

BACKDATE = timedelta(seconds=60)  # as the server does


def make_issued(spec: CertificateConfig, now: datetime, ttl: timedelta) -> Issued:
    """A real self-signed certificate for `spec`'s names, valid from `now - BACKDATE`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name or "x")])
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in spec.alt_names]
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + ttl)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return Issued(pem, key_pem, pem, format(cert.serial_number, "x"),
                  cert.not_valid_before_utc, cert.not_valid_after_utc)  # fmt: skip


class FakeIssuer:
    """Issues certificates on the fake clock; `down` makes every call fail like a dead server,
    `refuse` like a profile that denies the names."""

    def __init__(self, clock: FakeClock, ttl: timedelta = timedelta(hours=3)) -> None:
        self.clock = clock
        self.ttl = ttl
        self.down = False
        self.refuse: set[str] = set()
        self.calls: list[str] = []

    def issue(self, spec: CertificateConfig) -> Issued:
        self.calls.append(spec.label)
        if self.down:
            raise AgentCallError("cannot reach the server: ConnectError")
        if spec.label in self.refuse:
            raise AgentCallError("issue from profile 'web' refused: HTTP 403 denied", 403)
        return make_issued(spec, self.clock.now(), self.ttl)


class Reloads:
    def __init__(self) -> None:
        self.runs: list[tuple[str, ...]] = []
        self.fail = False

    def __call__(self, argv: Sequence[str], timeout: float) -> None:
        self.runs.append(tuple(argv))
        if self.fail:
            raise ReloadFailed("nginx exited with status 1")


def config(tmp: Path, names: Sequence[str] = ("web",), **cert: Any) -> Any:
    return parse_config({
        "server": "http://127.0.0.1:1",
        "auth": {"token": "t"},
        "retry": {"initial": 2, "max": 60, "jitter": 0},
        "health": {"status_file": str(tmp / "status.json")},
        "certificates": [{
            "name": n, "profile": "web", "common_name": f"{n}.example.test",
            "alt_names": [f"{n}.example.test"],
            "cert_file": str(tmp / f"{n}.crt"), "key_file": str(tmp / f"{n}.key"),
            "chain_file": str(tmp / f"{n}.chain"), "reload": ["reload-web"], **cert,
        } for n in names],
    })  # fmt: skip


def serial_on_disk(path: Path) -> str:
    return format(x509.load_pem_x509_certificate(path.read_bytes()).serial_number, "x")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2031, 5, 1, tzinfo=UTC))


def test_renews_at_the_configured_fraction(tmp_path: Path, clock: FakeClock) -> None:
    issuer, reloads = FakeIssuer(clock), Reloads()
    agent = Agent(config(tmp_path, renew_at=0.5), issuer, clock, reload=reloads)
    agent.load_existing()
    wait = agent.tick()
    first = serial_on_disk(tmp_path / "web.crt")
    # 3 h lifetime counted from issuance (not the backdated notBefore): renew after 90 min
    assert wait == pytest.approx(90 * 60)
    assert reloads.runs == [("reload-web",)]
    clock.advance(timedelta(minutes=89, seconds=59))
    agent.tick()
    assert serial_on_disk(tmp_path / "web.crt") == first and len(issuer.calls) == 1
    clock.advance(timedelta(seconds=1))
    agent.tick()
    assert serial_on_disk(tmp_path / "web.crt") != first
    assert len(issuer.calls) == 2 and len(reloads.runs) == 2
    report = agent.report()
    assert report.status is Status.ok and report.http_status == 200
    assert report.certificates[0].next_renewal == clock.now() + timedelta(minutes=90)


def test_default_fraction_is_two_thirds(tmp_path: Path, clock: FakeClock) -> None:
    agent = Agent(config(tmp_path), FakeIssuer(clock), clock, reload=Reloads())
    assert agent.tick() == pytest.approx(2 * 3600)


def test_renewal_time_formula() -> None:
    t0 = datetime(2031, 1, 1, tzinfo=UTC)
    # obtained after notBefore: the backdated minute does not count
    assert renewal_time(t0 - BACKDATE, t0 + timedelta(seconds=6), t0, 0.5) == t0 + timedelta(
        seconds=3
    )
    # obtained time unknown (before notBefore): the whole validity counts
    assert renewal_time(t0, t0 + timedelta(days=3), t0 - timedelta(days=9), 2 / 3) == t0 + (
        timedelta(days=2)
    )


def test_backoff_doubles_to_the_cap_with_bounded_jitter() -> None:
    retry = RetryConfig(initial=timedelta(seconds=1), max=timedelta(seconds=30), jitter=0)
    rng = random.Random(7)
    assert [backoff_delay(n, retry, rng) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff_delay(10_000, retry, rng) == 30
    jittered = RetryConfig(initial=timedelta(seconds=10), max=timedelta(seconds=60), jitter=0.5)
    delays = {backoff_delay(3, jittered, rng) for _ in range(200)}
    assert min(delays) >= 20 and max(delays) <= 40 and len(delays) > 100


def test_server_down_keeps_old_files_backs_off_and_recovers(
    tmp_path: Path, clock: FakeClock
) -> None:
    issuer, reloads = FakeIssuer(clock), Reloads()
    agent = Agent(config(tmp_path, renew_at=0.5), issuer, clock, reload=reloads)
    agent.tick()
    old = (tmp_path / "web.crt").read_bytes(), (tmp_path / "web.key").read_bytes()
    issuer.down = True
    clock.advance(timedelta(minutes=90))
    waits = []
    for _ in range(7):
        waits.append(agent.tick())
        clock.advance(timedelta(seconds=waits[-1]))
    assert waits == [2, 4, 8, 16, 32, 60, 60]  # retry config: initial 2 s, cap 60 s
    assert ((tmp_path / "web.crt").read_bytes(), (tmp_path / "web.key").read_bytes()) == old
    assert len(reloads.runs) == 1
    health = agent.report().certificates[0]
    assert health.valid and health.consecutive_failures == 7
    assert health.last_error is not None and "ConnectError" in health.last_error
    assert agent.report().status is Status.degraded and agent.report().http_status == 200
    status = (tmp_path / "status.json").read_text()
    assert '"consecutive_failures": 7' in status and '"degraded"' in status

    issuer.down = False
    agent.tick()
    assert (tmp_path / "web.crt").read_bytes() != old[0]
    health = agent.report().certificates[0]
    assert (health.consecutive_failures, health.last_error) == (0, None)
    assert agent.report().status is Status.ok and len(reloads.runs) == 2


def test_certificate_expiring_while_down_turns_health_503(tmp_path: Path, clock: FakeClock) -> None:
    issuer = FakeIssuer(clock)
    agent = Agent(config(tmp_path), issuer, clock, reload=Reloads())
    agent.tick()
    issuer.down = True
    clock.advance(timedelta(hours=3, seconds=1))
    agent.tick()
    report = agent.report()
    assert report.status is Status.failing and report.http_status == 503
    assert (tmp_path / "web.crt").exists()  # an expired file is still better left alone


def test_refusal_fixed_later_completes_by_itself(tmp_path: Path, clock: FakeClock) -> None:
    issuer = FakeIssuer(clock)
    issuer.refuse.add("web")
    agent = Agent(config(tmp_path), issuer, clock, reload=Reloads())
    for _ in range(4):
        clock.advance(timedelta(seconds=agent.tick()))
    assert not (tmp_path / "web.crt").exists()
    assert agent.report().http_status == 503
    assert "403" in (agent.report().certificates[0].last_error or "")
    issuer.refuse.clear()  # the operator fixes the profile; nobody touches the agent
    agent.tick()
    assert (tmp_path / "web.crt").exists() and agent.report().status is Status.ok


def test_restart_keeps_a_valid_certificate(tmp_path: Path, clock: FakeClock) -> None:
    issuer = FakeIssuer(clock)
    Agent(config(tmp_path), issuer, clock, reload=Reloads()).tick()
    serial = serial_on_disk(tmp_path / "web.crt")
    clock.advance(timedelta(minutes=30))
    restarted = Agent(config(tmp_path), issuer, clock, reload=Reloads())
    restarted.load_existing()
    restarted.tick()
    assert len(issuer.calls) == 1 and serial_on_disk(tmp_path / "web.crt") == serial
    assert restarted.report().certificates[0].serial == serial


@pytest.mark.parametrize("damage", ["expired", "names-changed", "key-mismatch", "garbage"])
def test_restart_replaces_unusable_files(tmp_path: Path, clock: FakeClock, damage: str) -> None:
    issuer = FakeIssuer(clock)
    Agent(config(tmp_path), issuer, clock, reload=Reloads()).tick()
    cfg = config(tmp_path)
    if damage == "expired":
        clock.advance(timedelta(hours=4))
    elif damage == "names-changed":
        cfg = config(tmp_path, alt_names=["web.example.test", "new.example.test"])
    elif damage == "key-mismatch":
        other = make_issued(cfg.certificates[0], clock.now(), timedelta(hours=1))
        (tmp_path / "web.key").write_text(other.private_key_pem)
    else:
        (tmp_path / "web.crt").write_text("not a certificate")
    restarted = Agent(cfg, issuer, clock, reload=Reloads())
    restarted.load_existing()
    restarted.tick()
    assert len(issuer.calls) == 2


def test_several_certificates_each_on_its_own_schedule(tmp_path: Path, clock: FakeClock) -> None:
    issuer, reloads = FakeIssuer(clock), Reloads()
    cfg = config(tmp_path, names=("web", "api", "db"))
    agent = Agent(cfg, issuer, clock, reload=reloads)
    agent.tick()
    assert sorted(issuer.calls) == ["api", "db", "web"]
    assert reloads.runs == [("reload-web",)]  # one shared reload command runs once per pass
    issuer.refuse.add("api")
    clock.advance(timedelta(hours=2))
    agent.tick()
    certs = {c.name: c for c in agent.report().certificates}
    assert certs["api"].consecutive_failures == 1 and certs["web"].consecutive_failures == 0
    assert certs["db"].last_success == clock.now()
    issuer.refuse.clear()
    clock.advance(timedelta(seconds=2))
    agent.tick()
    assert agent.report().status is Status.ok and issuer.calls.count("api") == 3


def test_failed_reload_is_retried_without_reissuing(tmp_path: Path, clock: FakeClock) -> None:
    issuer, reloads = FakeIssuer(clock), Reloads()
    reloads.fail = True
    agent = Agent(config(tmp_path), issuer, clock, reload=reloads)
    clock.advance(timedelta(seconds=agent.tick()))
    clock.advance(timedelta(seconds=agent.tick()))
    health = agent.report().certificates[0]
    assert health.consecutive_failures == 2 and "reload failed" in (health.last_error or "")
    reloads.fail = False
    agent.tick()
    assert len(issuer.calls) == 1 and len(reloads.runs) == 3
    assert agent.report().status is Status.ok


def test_run_once_reports_and_stops(tmp_path: Path, clock: FakeClock) -> None:
    issuer = FakeIssuer(clock)
    agent = Agent(config(tmp_path), issuer, clock, reload=Reloads())
    assert agent.run(threading.Event(), once=True) is True
    issuer.down = True
    clock.advance(timedelta(hours=2))
    assert (
        Agent(config(tmp_path), issuer, clock, reload=Reloads()).run(threading.Event(), once=True)
        is False
    )
