"""Composition root: settings → storage → barrier → services → audit → API."""

from __future__ import annotations

import logging
import os
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tessera.apikeys import ApiKeyLimits
from tessera.apikeys.rotation import ApiKeyRotation
from tessera.apikeys.service import ApiKeyService
from tessera.audit import Auditor, FileSink, StreamSink
from tessera.audit.sinks import AuditSink
from tessera.auth.methods import AuthMethods, build_auth_methods
from tessera.auth.methods.cert import CertAuthService
from tessera.auth.methods.cert_listener import CertLoginListener, ListenerConfig
from tessera.auth.methods.cert_revocation import CrlSet
from tessera.auth.service import TokenLimits, TokenService
from tessera.barrier.operations import OperatorService
from tessera.barrier.service import Barrier
from tessera.config import Settings
from tessera.core.clock import Clock, SystemClock
from tessera.core.context import current_request
from tessera.core.errors import TesseraError
from tessera.core.randomness import Randomness, SystemRandomness
from tessera.discovery.runner import DiscoveryRunner
from tessera.discovery.service import DiscoveryService
from tessera.inventory.service import InventoryService
from tessera.lifecycle.renewals import RenewalScheduler
from tessera.lifecycle.worker import LifecycleWorker
from tessera.notify import NotifyService
from tessera.notify.models import Event, EventType, Severity, Subject
from tessera.oauth import OAuthServer, build_oauth
from tessera.pki import Pki, build_pki
from tessera.pki.scheduler import repair_intents
from tessera.policy.service import PolicyService
from tessera.posture import PostureService, build_posture
from tessera.posture.findings import FindingStore
from tessera.secrets.database import DatabaseSecrets
from tessera.secrets.kv import KvService
from tessera.secrets.kv_rotation import KvRotation
from tessera.secrets.leases import Lease, LeaseService
from tessera.secrets.worker import SecretsWorker
from tessera.ssh import SshService
from tessera.ssh.revocation import SshRevocations
from tessera.storage.db import Database, DatabaseConfig

log = logging.getLogger("tessera")
AUDIT_KEY_NAME = "audit_hmac_key"
DEV_SHARE_FILE = "dev-unseal.key"
DEV_ROOT_TOKEN_FILE = "dev-root-token"


@dataclass
class Container:
    """Every wired service of one server; built by `build`, released by `close`."""

    settings: Settings
    clock: Clock
    rng: Randomness
    db: Database
    barrier: Barrier
    auditor: Auditor
    policies: PolicyService
    inventory: InventoryService
    tokens: TokenService
    operator: OperatorService
    pki: Pki
    ssh: SshService
    ssh_revocations: SshRevocations
    kv: KvService
    leases: LeaseService
    database: DatabaseSecrets
    secrets_worker: SecretsWorker
    discovery: DiscoveryService
    discovery_runner: DiscoveryRunner
    apikeys: ApiKeyService
    auth_methods: AuthMethods
    findings: FindingStore
    renewals: RenewalScheduler
    lifecycle: LifecycleWorker
    notify: NotifyService
    oauth: OAuthServer
    posture: PostureService
    cert_auth: CertAuthService
    cert_listener: CertLoginListener | None = None

    def start_background(self) -> None:
        """Start the upkeep threads a server runs (CRL rebuilds, intent repair). On SQLite
        (one node) every intent still pending was left by a crash of this node: repair now."""
        if self.db.is_sqlite:
            repair_intents(self.db, self.clock, older_than=timedelta(0))
        self.pki.scheduler.start()
        self.secrets_worker.start()
        self.apikeys.start()
        self.lifecycle.start()
        self.notify.start()
        if self.cert_listener is not None:
            self.cert_listener.start()  # serves only once its revocation data is loaded

    def close(self) -> None:
        if self.cert_listener is not None:
            self.cert_listener.stop()
        self.notify.stop()
        self.lifecycle.stop()
        self.apikeys.stop()
        self.secrets_worker.stop()
        self.pki.scheduler.stop()
        self.db.dispose()


def build(
    settings: Settings, clock: Clock | None = None, rng: Randomness | None = None
) -> Container:
    """Wire everything and apply migrations; does not unseal (see `startup`)."""
    clock = clock or SystemClock()
    rng = rng or SystemRandomness()
    db = Database(DatabaseConfig(url=settings.database_url, data_dir=settings.data_dir))
    db.migrate()
    barrier = Barrier(db, clock, rng)
    auditor = Auditor(_sinks(settings), clock)
    policies = PolicyService(db, clock, cache_ttl=settings.token_cache_ttl)
    inventory = InventoryService(db, clock, rng, policies)
    tokens = TokenService(
        db,
        clock,
        rng,
        barrier,
        policies,
        inventory,
        TokenLimits(cache_ttl=settings.token_cache_ttl),
    )
    inventory.add_revoker(tokens)
    policies.on_change(tokens.clear_cache)
    barrier.add_listener(tokens.on_unseal, tokens.on_seal)
    barrier.add_listener(
        lambda: auditor.set_audit_key(barrier.system_secret(AUDIT_KEY_NAME)),
        lambda: auditor.set_audit_key(None),
    )
    db.before_commit(lambda: _audit_commit(auditor))
    operator = OperatorService(barrier, tokens, policies)
    pki = build_pki(db, clock, rng, barrier, policies, inventory, settings.url)
    ssh = SshService(db, clock, rng, pki.keystore, policies, inventory)
    inventory.add_revoker(ssh)
    ssh_revocations = SshRevocations(db, clock, pki.keystore, policies, inventory, ssh)
    kv = KvService(db, clock, rng, barrier, policies, inventory)
    notify = NotifyService(db, clock, rng, barrier, policies, inventory)
    leases = LeaseService(
        db, clock, policies, inventory,
        on_irrevocable=lambda lease: _irrevocable(auditor, notify, clock, lease),
    )  # fmt: skip
    inventory.add_revoker(leases)
    database = DatabaseSecrets(db, clock, rng, barrier, policies, inventory, leases)
    worker = SecretsWorker(leases, database, barrier, single_node=db.is_sqlite, clock=clock)
    discovery = DiscoveryService(db, clock, rng, policies, inventory)
    apikeys = ApiKeyService(
        db, clock, rng, barrier, policies, inventory,
        ApiKeyLimits(cache_ttl=settings.token_cache_ttl),
    )  # fmt: skip
    inventory.add_revoker(apikeys)
    barrier.add_listener(apikeys.on_unseal, apikeys.on_seal)
    auth_methods = build_auth_methods(db, clock, rng, barrier, policies, inventory, tokens)
    barrier.add_listener(auth_methods.on_unseal, auth_methods.on_seal)
    # one verifier: the JWT login and token exchange share the issuers' JWKS cache
    oauth = build_oauth(
        db, clock, rng, barrier, policies, inventory, settings.url, auth_methods.verifier
    )
    inventory.add_revoker(oauth)
    cert_auth = CertAuthService(
        db, clock, policies, inventory, tokens, auth_methods.guard,
        CrlSet(settings.tls_login_crl_files),
    )  # fmt: skip
    findings = FindingStore(db, clock, rng)
    node = f"{socket.gethostname()}:{os.getpid()}"
    posture = build_posture(db, clock, rng, policies, node)
    renewals = RenewalScheduler(
        db, clock, rng, pki.issuance, findings, node,
        publish=lambda kind, severity, subject: _publish(notify, clock, kind, severity, subject),
    )  # fmt: skip
    return Container(
        settings, clock, rng, db, barrier, auditor, policies, inventory, tokens, operator, pki,
        ssh, ssh_revocations, kv, leases, database, worker, discovery, DiscoveryRunner(discovery),
        apikeys, auth_methods, findings, renewals,
        LifecycleWorker(
            renewals, barrier, posture.engine, kv_rotation=KvRotation(db, clock, rng, kv, node),
            apikey_rotation=ApiKeyRotation(db, clock, rng, apikeys, node),
        ), notify, oauth, posture,
        cert_auth, _cert_listener(settings, cert_auth, auditor, barrier, clock, rng),
    )  # fmt: skip


def _cert_listener(
    settings: Settings, service: CertAuthService, auditor: Auditor, barrier: Barrier,
    clock: Clock, rng: Randomness,
) -> CertLoginListener | None:  # fmt: skip
    """The mutual-TLS login listener when `tls_login_listen` is set (needs the cert and key)."""
    if settings.tls_login_listen is None:
        return None
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise TesseraError("--tls-login-listen needs --tls-cert and --tls-key")
    host, _, port = settings.tls_login_listen.rpartition(":")
    if not port.isdigit():
        raise TesseraError(
            f"--tls-login-listen must be host:port, got {settings.tls_login_listen!r}"
        )
    config = ListenerConfig(
        host.strip("[]") or "127.0.0.1", int(port), settings.tls_cert_file,
        settings.tls_key_file,
    )  # fmt: skip
    return CertLoginListener(service, config, auditor, lambda: barrier.sealed, clock, rng)


def _irrevocable(auditor: Auditor, notify: NotifyService, clock: Clock, lease: Lease) -> None:
    """A lease whose revocation retries ran out: say so loudly (audit, log, notification)."""
    log.error("lease %s is irrevocable: %s", lease.id, lease.last_error)
    try:
        auditor.emit("lease.irrevocable", "secrets-worker", {"lease_id": lease.id})
    except TesseraError:
        log.error("could not audit the irrevocable lease %s", lease.id)
    _publish(notify, clock, EventType.LEASE_IRREVOCABLE.value, "critical",
             {"name": lease.id, "kind": "dynamic_lease"})  # fmt: skip


def _publish(
    notify: NotifyService, clock: Clock, kind: str, severity: str, subject: dict[str, object]
) -> None:
    """Lifecycle events → notifications; an event type notifications do not know is dropped,
    and a failure to queue one never breaks the work that raised it."""
    if kind not in {t.value for t in EventType}:
        return
    text = {
        EventType.RENEWAL_FAILED.value: "Automatic renewal keeps failing: {error}",
        EventType.LEASE_IRREVOCABLE.value: "A lease could not be revoked and needs attention",
    }.get(kind, kind)
    try:
        cert = subject.get("certificate_id")
        notify.publish(
            Event(
                EventType(kind), Severity(severity),
                Subject(credential_id=None, name=str(subject.get("name") or cert or "")[:255],
                        kind=str(subject.get("kind") or "x509_certificate")),
                text.format(error=subject.get("error", "")), clock.now(),
            )
        )  # fmt: skip
    except TesseraError as exc:
        log.warning("could not queue a %s notification: %s", kind, exc.detail)


def _audit_commit(auditor: Auditor) -> None:
    """Within a request, every write is recorded before it commits; if no sink can take the
    line, AuditUnavailable rolls the write back (fail closed, nothing half-applied)."""
    ctx = current_request.get()
    if ctx is not None:
        auditor.emit("commit", ctx.request_id, {"auth": ctx.auth, "decisions": ctx.decisions})


def _sinks(settings: Settings) -> list[AuditSink]:
    sinks: list[AuditSink] = [FileSink(p, name=f"file:{p}") for p in settings.audit_files]
    if settings.audit_stdout:
        sinks.append(StreamSink(sys.stdout))
    if not sinks:
        sinks.append(FileSink(settings.data_dir / "audit.log", name="file:audit.log"))
    return sinks


@dataclass(frozen=True)
class StartupReport:
    """What `startup` did: the dev root token and share file, both None outside dev mode."""

    root_token: str | None
    dev_shares_file: Path | None


def startup(c: Container) -> StartupReport:
    """Dev mode: initialise on first start and auto-unseal from the key file.
    Production: auto-unseal when shares are configured (file or TESSERA_UNSEAL_KEYS)."""
    s = c.settings
    status = c.barrier.status()
    if s.dev:
        share_file = s.data_dir / DEV_SHARE_FILE
        token_file = s.data_dir / DEV_ROOT_TOKEN_FILE
        if not status.initialized:
            result = c.operator.initialize(1, 1)
            _write_secret_file(share_file, result.shares[0] + "\n")
            _write_secret_file(token_file, result.root_token + "\n")
        elif status.sealed:
            _unseal_from(c, _read_shares(share_file))
        root = token_file.read_text().strip() if token_file.exists() else None
        return StartupReport(root_token=root, dev_shares_file=share_file)
    shares = list(s.unseal_keys)
    if s.unseal_key_file is not None:
        shares += _read_shares(s.unseal_key_file)
    if shares and status.initialized and status.sealed:
        _unseal_from(c, shares)
    return StartupReport(root_token=None, dev_shares_file=None)


def _unseal_from(c: Container, shares: list[str]) -> None:
    for share in shares:
        if not c.barrier.sealed:
            break
        c.barrier.submit_share(share)
    if c.barrier.sealed:
        raise TesseraError("auto-unseal: the configured shares did not unseal Tessera")


def _read_shares(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise TesseraError(f"cannot read unseal key file {path}: {exc.strerror}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _write_secret_file(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    os.chmod(path, 0o600)
