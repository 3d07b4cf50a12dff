"""Domain objects and typed refusals of the TLS certificate auth method.

A cert role names its trust anchors (Tessera CAs by name and/or extra CA certificates in PEM)
and which subject alternative names it accepts; a login presents a client certificate over
mutual TLS. Unlike a secret, a certificate is public: the refusals say what was wrong with it
(expired, untrusted, revoked, not a client certificate), which helps operators and tells an
attacker nothing they could not read from the certificate themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from tessera.auth.methods.errors import LoginRefused
from tessera.auth.methods.models import (
    DEFAULT_TOKEN_MAX_TTL,
    DEFAULT_TOKEN_TTL,
    validate_role_name,
)
from tessera.core.errors import InvalidRequest
from tessera.core.text import check_text
from tessera.inventory.models import validate_name
from tessera.pki.names import check_uri, normalise_dns
from tessera.pki.profile import validate_profile_name
from tessera.policy.models import validate_policy_name

MAX_PATTERNS = 64
MAX_CAS = 16
MAX_PEM = 16 * 1024
MAX_POLICIES = 64


class CertRequired(LoginRefused):
    """Raised when the TLS connection carried no client certificate."""

    status, slug, title = 401, "cert-required", "A client certificate is required"


class CertUntrusted(LoginRefused):
    """Raised when the certificate does not chain to a trust anchor of the role."""

    status, slug, title = 401, "cert-untrusted", "The client certificate is not trusted"


class CertExpired(LoginRefused):
    """Raised when the certificate is outside its validity period."""

    status, slug, title = 401, "cert-expired", "The client certificate is expired or not yet valid"


class CertNotClient(LoginRefused):
    """Raised when the certificate lacks the clientAuth extended key usage."""

    status, slug, title = 401, "cert-not-client", "Not a TLS client certificate"


class CertRevoked(LoginRefused):
    """Raised when the certificate, or a CA above it, is revoked."""

    status, slug, title = 401, "cert-revoked", "The client certificate is revoked"


class CertRevocationUnknown(LoginRefused):
    """Raised when revocation status cannot be established (stale or unverifiable CRL, a
    Tessera CA's certificate with no record): refused, never assumed good."""

    status, slug, title = 401, "cert-revocation-unknown", "Revocation status unknown"


class CertNotMatched(LoginRefused):
    """Raised when no role (or not the named one) accepts the certificate's names."""

    status, slug, title = 401, "cert-not-matched", "No cert role accepts this certificate"


def load_ca_pem(pem: str) -> x509.Certificate:
    """One CA certificate from PEM (basicConstraints CA=true), or InvalidRequest."""
    if not isinstance(pem, str) or len(pem) > MAX_PEM:
        raise InvalidRequest(f"trusted_ca_pems: each must be a PEM certificate of ≤ {MAX_PEM} B")
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise InvalidRequest("trusted_ca_pems: not a PEM certificate") from None
    if len(certs) != 1:
        raise InvalidRequest("trusted_ca_pems: give one certificate per entry")
    try:
        bc = certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise InvalidRequest("trusted_ca_pems: the certificate is not a CA certificate")
    return certs[0]


def _patterns(values: tuple[str, ...], what: str, dns: bool) -> tuple[str, ...]:
    if len(values) > MAX_PATTERNS:
        raise InvalidRequest(f"{what}: at most {MAX_PATTERNS} patterns")
    out = []
    for value in values:
        check_text(value, what, 1024)
        if dns:
            # `*` and `**` are glob parts; the rest must be a DNS name
            probe = value.lower().replace("**", "x").replace("*", "x")
            normalise_dns(probe, allow_wildcard=False)
            out.append(value.strip().lower().rstrip("."))
        else:
            check_uri(value)
            out.append(value)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class CertRoleSpec:
    """What an operator writes for a cert role. A certificate is accepted when it chains to
    one of `allowed_cas` (Tessera CA names) or `trusted_ca_pems`, and one of its DNS or URI
    SANs matches a pattern (`*` = one label or path segment, `**` = anything; a pattern
    without `*` is exact, e.g. a SPIFFE ID)."""

    allowed_cas: tuple[str, ...] = ()
    trusted_ca_pems: tuple[str, ...] = ()
    allowed_dns_sans: tuple[str, ...] = ()
    allowed_uri_sans: tuple[str, ...] = ()
    identity: str | None = None
    policies: tuple[str, ...] = ()
    token_ttl: timedelta = DEFAULT_TOKEN_TTL
    token_max_ttl: timedelta = DEFAULT_TOKEN_MAX_TTL

    def __post_init__(self) -> None:
        if not self.allowed_cas and not self.trusted_ca_pems:
            raise InvalidRequest("give allowed_cas and/or trusted_ca_pems")
        if len(self.allowed_cas) > MAX_CAS or len(self.trusted_ca_pems) > MAX_CAS:
            raise InvalidRequest(f"at most {MAX_CAS} allowed_cas and {MAX_CAS} trusted_ca_pems")
        cas = tuple(dict.fromkeys(validate_profile_name(n) for n in self.allowed_cas))
        object.__setattr__(self, "allowed_cas", cas)
        for pem in self.trusted_ca_pems:
            load_ca_pem(pem)
        dns = _patterns(self.allowed_dns_sans, "allowed_dns_sans", dns=True)
        uris = _patterns(self.allowed_uri_sans, "allowed_uri_sans", dns=False)
        if not dns and not uris:
            # an empty rule set would accept every certificate of the anchors: say so explicitly
            raise InvalidRequest("give allowed_dns_sans and/or allowed_uri_sans ('**' for any)")
        object.__setattr__(self, "allowed_dns_sans", dns)
        object.__setattr__(self, "allowed_uri_sans", uris)
        if self.identity is not None:
            validate_name(self.identity, "identity")
        if len(self.policies) > MAX_POLICIES:
            raise InvalidRequest(f"at most {MAX_POLICIES} policies")
        names = tuple(
            dict.fromkeys(validate_policy_name(n, allow_reserved=True) for n in self.policies)
        )
        if "root" in names:
            raise InvalidRequest("an auth method role cannot grant the root policy")
        object.__setattr__(self, "policies", names)
        if self.token_ttl <= timedelta(0) or self.token_max_ttl <= timedelta(0):
            raise InvalidRequest("token_ttl and token_max_ttl must be positive")
        if self.token_ttl > self.token_max_ttl:
            raise InvalidRequest("token_ttl must not exceed token_max_ttl")


@dataclass(frozen=True)
class CertRole:
    """A stored cert role."""

    name: str
    spec: CertRoleSpec
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CertLogin:
    """A login over mutual TLS: the peer's leaf certificate (DER, None when the client sent
    none), the role asked for (None: the first role that accepts it) and the peer address."""

    certificate_der: bytes | None
    role: str | None
    source: str

    def __post_init__(self) -> None:
        if self.role is not None:
            validate_role_name(self.role.strip().lower())


__all__ = [
    "CertExpired",
    "CertLogin",
    "CertNotClient",
    "CertNotMatched",
    "CertRequired",
    "CertRevocationUnknown",
    "CertRevoked",
    "CertRole",
    "CertRoleSpec",
    "CertUntrusted",
    "load_ca_pem",
]
