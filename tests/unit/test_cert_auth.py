"""TLS certificate login, in process but over real mutual TLS on loopback: a certificate a
Tessera CA issued logs in; expired, untrusted, wrongly named, non-client, missing and revoked
certificates are refused with a typed error and audited; revocation holds across a restart,
for Tessera CAs (the PKI tables) and external CAs (a CRL file loaded before serving)."""

from __future__ import annotations

import ipaddress
import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tessera.app import Container, build
from tessera.auth.methods.cert import CertAuthService
from tessera.auth.methods.cert_listener import CertLoginListener, ListenerConfig
from tessera.auth.methods.cert_models import CertRoleSpec
from tessera.auth.methods.cert_revocation import CrlSet, CrlUnavailable
from tessera.auth.models import Principal
from tessera.config import Settings
from tessera.core.clock import FakeClock
from tessera.core.errors import InvalidRequest
from tessera.inventory.models import CreateIdentityRequest
from tessera.pki.models import (
    CAKind,
    CreateCARequest,
    IssueRequest,
    RevocationReason,
    RevokeRequest,
)
from tests.helpers import make_container, root_principal

SPIFFE = "spiffe://example.org/ns/prod/sa/billing"
CLIENT_PROFILE = {
    "issuer": "int",
    "usage": "client",
    "allowed_domains": ["*.example.com"],
    "allowed_uri_sans": ["spiffe://example.org/**"],
    "ttl": "1h",
}
SERVER_PROFILE = {
    "issuer": "int",
    "usage": "server",
    "allowed_domains": ["localhost"],
    "allow_ip_sans": True,
    "allowed_ip_ranges": ["127.0.0.1/32"],
    "ttl": "1d",
}


# -- certificates made outside Tessera (an "external" CA) -----------------------------------
def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass
class Issued:
    cert: str  # leaf PEM (+ chain)
    key: str


class ExternalCA:
    """A CA of our own making, to craft what Tessera would never issue."""

    def __init__(self, cn: str = "External CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=10))
            .not_valid_after(now + timedelta(days=10))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def leaf(
        self, sans: list[x509.GeneralName], ekus: list[x509.ObjectIdentifier], days: tuple[int, int]
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "workload")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=days[0]))
            .not_valid_after(now + timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if ekus:
            b = b.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        return b.sign(self.key, hashes.SHA256()), key

    def issue(
        self, uri: str = SPIFFE, *, eku: bool = True, days: tuple[int, int] = (-1, 1)
    ) -> tuple[Issued, x509.Certificate]:
        ekus = [ExtendedKeyUsageOID.CLIENT_AUTH] if eku else []
        cert, key = self.leaf([x509.UniformResourceIdentifier(uri)], ekus, days)
        return Issued(pem(cert), key_pem(key)), cert

    def issue_server(self, ip: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        san = x509.IPAddress(ipaddress.ip_address(ip))
        return self.leaf([san], [ExtendedKeyUsageOID.SERVER_AUTH], (-1, 1))

    def crl(self, revoked: list[x509.Certificate], next_update: timedelta) -> bytes:
        now = datetime.now(UTC)
        b = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now + next_update - timedelta(hours=1))
            .next_update(now + next_update)
        )
        for c in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(c.serial_number)
                .revocation_date(now - timedelta(minutes=1))
                .build()
            )
        return b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


# -- a container with Tessera CAs, a cert service and its listener ----------------------------
@dataclass
class Env:
    c: Container
    root: Principal
    svc: CertAuthService
    listener: CertLoginListener
    tmp: Path
    ca_file: Path
    shares: list[str]

    def issue(self, profile: str = "client", uri: str = SPIFFE) -> Issued:
        req = IssueRequest(profile=profile, common_name="w.example.com", uris=(uri,))
        if profile == "server":
            req = IssueRequest(
                profile=profile, common_name="localhost", ip_addresses=("127.0.0.1",)
            )
        out = self.c.pki.issuance.issue(self.root, req)
        return Issued(
            (out.certificate.certificate_pem or "") + out.chain_pem, out.private_key_pem or ""
        )

    def login(self, issued: Issued | None, role: str | None = None) -> httpx.Response:
        return tls_login(self.listener.address, self.ca_file, self.tmp, issued, role)


def tls_login(
    address: tuple[str, int],
    ca_file: Path,
    tmp: Path,
    issued: Issued | None,
    role: str | None = None,
) -> httpx.Response:
    """POST the login over mutual TLS with a real client certificate (or none)."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if issued is not None:
        (tmp / "client.pem").write_text(issued.cert)
        (tmp / "client.key").write_text(issued.key)
        ctx.load_cert_chain(tmp / "client.pem", tmp / "client.key")
    url = f"https://{address[0]}:{address[1]}/v1/auth/cert/login"
    with httpx.Client(verify=ctx, timeout=10) as client:
        return client.post(url, json={"role": role} if role else {})


def start_listener(c: Container, svc: CertAuthService, tmp: Path) -> CertLoginListener:
    cfg = ListenerConfig("127.0.0.1", 0, tmp / "server.pem", tmp / "server.key")
    listener = CertLoginListener(svc, cfg, c.auditor, lambda: c.barrier.sealed, c.clock, c.rng)
    listener.start()
    return listener


def service(c: Container, crls: CrlSet | None = None) -> CertAuthService:
    return CertAuthService(
        c.db, c.clock, c.policies, c.inventory, c.tokens, c.auth_methods.guard, crls
    )


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    clock = FakeClock(datetime.now(UTC) - timedelta(minutes=1))
    c, shares, token = make_container(tmp_path / "data", clock=clock)
    root = root_principal(c, token)
    for name, parent in (("root", None), ("int", "root"), ("other", None)):
        kind = CAKind.INTERMEDIATE if parent else CAKind.ROOT
        c.pki.cas.create(
            root, CreateCARequest(name=name, kind=kind, common_name=name, parent=parent)
        )
    c.pki.profiles.write(root, "client", dict(CLIENT_PROFILE))
    c.pki.profiles.write(root, "server", dict(SERVER_PROFILE))
    c.pki.profiles.write(root, "other-client", {**CLIENT_PROFILE, "issuer": "other"})
    c.policies.write(
        root, "billing", {"rules": [{"path": "kv/data/billing/*", "capabilities": ["read"]}]}
    )
    c.inventory.create_identity(root, CreateIdentityRequest(name="billing", owner="team-billing"))
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(c.pki.cas.get(root, "root").certificate_pem or "")
    e = Env(c, root, service(c), None, tmp_path, ca_file, shares)  # type: ignore[arg-type]
    server = e.issue("server")
    (tmp_path / "server.pem").write_text(server.cert)
    (tmp_path / "server.key").write_text(server.key)
    spec = CertRoleSpec(
        allowed_cas=("root",),
        allowed_uri_sans=("spiffe://example.org/ns/*/sa/billing",),
        identity="billing",
        policies=("billing",),
    )
    e.svc.write_role(root, "billing", spec)
    e.listener = start_listener(c, e.svc, tmp_path)
    yield e
    e.listener.stop()
    c.close()


def audit_decisions(c: Container) -> list[dict[str, Any]]:
    """The cert-login decisions of the audit log's response lines."""
    path = c.settings.data_dir / "audit.log"
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["type"] == "response":
            out += [d for d in rec["data"]["decisions"] if d.get("path") == "auth/cert/login"]
    return out


def problem(resp: httpx.Response) -> str:
    assert resp.headers["content-type"] == "application/problem+json"
    return str(resp.json()["type"]).rsplit(":", 1)[-1]


# -- tests ------------------------------------------------------------------------------------
def test_tessera_client_certificate_logs_in_over_mutual_tls(env: Env) -> None:
    resp = env.login(env.issue(), role="billing")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["info"]["meta"]["role"] == "billing"
    assert body["info"]["meta"]["subject"] == SPIFFE
    assert body["info"]["meta"]["auth_method"] == "cert"
    principal = env.c.tokens.authenticate(body["token"])  # the token works on the main API
    assert set(principal.policy_names) == {"billing", "default"}
    assert principal.identity_id == env.c.inventory.get_identity(env.root, "billing").id
    allowed = audit_decisions(env.c)[-1]
    assert allowed["allowed"] is True and allowed["role"] == "billing"
    assert body["token"] not in (env.c.settings.data_dir / "audit.log").read_text()
    unnamed = env.login(env.issue())  # no role named: the first role accepting it
    assert unnamed.json()["info"]["meta"]["role"] == "billing"


@pytest.mark.parametrize(
    ("case", "slug", "reason"),
    [
        ("no-certificate", "cert-required", "no client certificate"),
        ("wrong-san", "cert-not-matched", "no SAN of the certificate matches the role"),
        ("ca-not-of-role", "cert-untrusted", "role 'billing'"),
        ("expired", "cert-expired", "certificate expired"),
        ("not-yet-valid", "cert-expired", "not yet valid"),
        ("no-client-eku", "cert-not-client", "no clientAuth extended key usage"),
    ],
)
def test_refused_with_a_typed_error_and_audited(
    env: Env, case: str, slug: str, reason: str
) -> None:
    ext = ExternalCA()
    env.svc.write_role(
        env.root,
        "external",
        CertRoleSpec(trusted_ca_pems=(pem(ext.cert),), allowed_uri_sans=(SPIFFE,)),
    )
    issued: Issued | None = {
        "no-certificate": lambda: None,
        "wrong-san": lambda: env.issue(uri="spiffe://example.org/ns/prod/sa/payroll"),
        "ca-not-of-role": lambda: env.issue("other-client"),
        "expired": lambda: ext.issue(days=(-3, -1))[0],
        "not-yet-valid": lambda: ext.issue(days=(1, 3))[0],
        "no-client-eku": lambda: ext.issue(eku=False)[0],
    }[case]()
    role = "external" if case in ("expired", "not-yet-valid", "no-client-eku") else "billing"
    resp = env.login(issued, role=role)
    assert resp.status_code == 401
    assert problem(resp) == slug
    refused = audit_decisions(env.c)[-1]
    assert refused["allowed"] is False
    assert reason in refused["reasons"][0]


def test_repeated_failures_lock_the_certificate_out(env: Env) -> None:
    wrong = env.issue(uri="spiffe://example.org/ns/prod/sa/payroll")
    for _ in range(env.c.auth_methods.guard.limits.max_failures):
        assert problem(env.login(wrong, role="billing")) == "cert-not-matched"
    locked = env.login(wrong, role="billing")
    assert locked.status_code == 429
    assert problem(locked) == "rate-limited"
    assert int(locked.headers["retry-after"]) > 0
    assert env.login(env.issue(), role="billing").status_code == 200  # keyed per certificate


def test_external_ca_certificate_logs_in(env: Env) -> None:
    ext = ExternalCA()
    env.svc.write_role(
        env.root,
        "external",
        CertRoleSpec(
            trusted_ca_pems=(pem(ext.cert),), allowed_uri_sans=("spiffe://example.org/**",)
        ),
    )
    resp = env.login(ext.issue()[0], role="external")  # the bundle was rebuilt for the new CA
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("case", ["unknown-ca", "server-only-eku"])
def test_handshake_refusals_are_audited(env: Env, case: str) -> None:
    """What OpenSSL itself refuses (a CA in no role, a server-only certificate) ends the
    handshake with a TLS alert; the refusal is audited all the same."""
    issued = ExternalCA().issue()[0] if case == "unknown-ca" else env.issue("server")
    before = len(audit_decisions(env.c))
    with pytest.raises(httpx.TransportError):
        env.login(issued, role="billing")
    # the client may see the alert before the server's thread has written the audit line
    deadline = time.monotonic() + 10
    while len(audit_decisions(env.c)) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    refused = audit_decisions(env.c)[-1]
    assert refused["allowed"] is False
    expected = "unable to get local issuer" if case == "unknown-ca" else "purpose"
    assert expected in refused["reasons"][0]


def restart(env: Env, crls: CrlSet | None = None) -> Env:
    """Stop the listener and container, rebuild both on the same data, unseal, serve."""
    env.listener.stop()
    env.c.close()
    c = build(Settings(data_dir=env.c.settings.data_dir), clock=env.c.clock)  # type: ignore[arg-type]
    c.barrier.submit_share(env.shares[0])
    svc = service(c, crls)
    return Env(c, env.root, svc, start_listener(c, svc, env.tmp), env.tmp, env.ca_file, env.shares)


def test_revoked_certificate_refused_just_after_restart(env: Env) -> None:
    issued = env.issue()
    assert env.login(issued, role="billing").status_code == 200
    serial = x509.load_pem_x509_certificate(issued.cert.encode()).serial_number
    env.c.pki.revocation.revoke(env.root, RevokeRequest(ca="int", serial=format(serial, "x")))
    env = restart(env)
    try:
        resp = env.login(issued, role="billing")  # at once: no warm-up, no CRL rebuild awaited
        assert resp.status_code == 401
        assert problem(resp) == "cert-revoked"
        assert env.login(env.issue(), role="billing").status_code == 200
    finally:
        env.listener.stop()


def test_revoked_tessera_ca_refuses_what_it_issued(env: Env) -> None:
    issued = env.issue()
    env.c.pki.revocation.revoke_ca(env.root, "int", RevocationReason.CA_COMPROMISE)
    resp = env.login(issued, role="billing")
    assert problem(resp) == "cert-revoked"


def test_external_crl_loaded_before_serving(env: Env) -> None:
    ext = ExternalCA()
    env.svc.write_role(
        env.root,
        "external",
        CertRoleSpec(trusted_ca_pems=(pem(ext.cert),), allowed_uri_sans=(SPIFFE,)),
    )
    revoked, revoked_cert = ext.issue()
    good = ext.issue()[0]
    crl_file = env.tmp / "external.crl"
    crl_file.write_bytes(ext.crl([revoked_cert], timedelta(days=1)))
    env = restart(env, CrlSet([crl_file]))
    try:
        assert problem(env.login(revoked, role="external")) == "cert-revoked"
        assert env.login(good, role="external").status_code == 200
        crl_file.write_bytes(ext.crl([], timedelta(minutes=-5)))  # re-read: now stale
        assert problem(env.login(good, role="external")) == "cert-revocation-unknown"
    finally:
        env.listener.stop()


def test_unreadable_crl_stops_the_listener_from_starting(env: Env) -> None:
    bad = env.tmp / "bad.crl"
    bad.write_text("not a CRL")
    svc = service(env.c, CrlSet([bad]))
    with pytest.raises(CrlUnavailable):
        start_listener(env.c, svc, env.tmp)


def test_listener_bad_requests_get_problem_documents(env: Env) -> None:
    ctx = ssl.create_default_context(cafile=str(env.ca_file))
    host, port = env.listener.address
    with httpx.Client(verify=ctx, timeout=10, base_url=f"https://{host}:{port}") as client:
        assert problem(client.get("/v1/auth/cert/login")) == "not-found"
        assert problem(client.post("/v1/sys/init", json={})) == "not-found"
        big = client.post(
            "/v1/auth/cert/login", content=b"{" * 9000, headers={"content-type": "application/json"}
        )
        assert big.status_code == 413
        bad = client.post(
            "/v1/auth/cert/login", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert problem(bad) == "malformed-json"
        extra = client.post("/v1/auth/cert/login", json={"role": "billing", "x": 1})
        assert problem(extra) == "invalid-request"
        assert "Traceback" not in extra.text


def test_role_validation(env: Env) -> None:
    with pytest.raises(InvalidRequest):
        CertRoleSpec(allowed_cas=("root",))  # no SAN rule: would accept everything
    with pytest.raises(InvalidRequest):
        CertRoleSpec(allowed_uri_sans=(SPIFFE,))  # no anchor
    with pytest.raises(InvalidRequest):
        CertRoleSpec(trusted_ca_pems=(ExternalCA().issue()[0].cert,), allowed_uri_sans=(SPIFFE,))
    with pytest.raises(InvalidRequest):
        env.svc.write_role(
            env.root, "x", CertRoleSpec(allowed_cas=("nope",), allowed_dns_sans=("*.example.com",))
        )
    role = env.svc.read_role(env.root, "billing")
    assert role.spec.allowed_cas == ("root",)
    assert env.svc.list_roles(env.root) == ["billing"]
    env.svc.delete_role(env.root, "billing")
    assert problem(env.login(env.issue())) == "cert-not-matched"
