"""The rule contract and the catalogue. A credential rule looks at one inventory credential
(with its identity) and reports a `Hit` or nothing; it never reads the database, so rules run
over pages of the inventory at any size. A new credential kind plugs in by naming it in the
kind sets its rules use (`EXPIRY_KINDS`, `USE_KINDS`, `ROTATION_KINDS`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tessera.inventory.models import CredentialKind, CredentialStatus
from tessera.posture.config import Settings
from tessera.posture.findings import Severity
from tessera.posture.models import RuleId, RuleInfo

_ACTIVE = CredentialStatus.ACTIVE.value
_CERTIFICATE = CredentialKind.X509_CERTIFICATE.value

# Kinds whose expiry is an outage or an access loss; short-lived kinds (tokens, leases,
# SVIDs) expire by design and are renewed by their holders.
EXPIRY_KINDS = frozenset({
    CredentialKind.X509_CERTIFICATE, CredentialKind.SSH_CERTIFICATE, CredentialKind.API_KEY,
    CredentialKind.OAUTH_CLIENT, CredentialKind.STATIC_SECRET,
})  # fmt: skip
# Kinds whose use Tessera records in `last_used_at`.
USE_KINDS = frozenset({
    CredentialKind.API_KEY, CredentialKind.OAUTH_CLIENT, CredentialKind.STATIC_SECRET,
})  # fmt: skip
# Long-lived shared secrets that must be rotated on a schedule.
ROTATION_KINDS = frozenset({CredentialKind.STATIC_SECRET, CredentialKind.API_KEY})


@dataclass(frozen=True)
class Subject:
    """One credential as the rules see it, with its identity's owner, status and environment
    (`environment` None when the credential has no identity)."""

    id: str
    kind: str
    name: str
    status: str
    source: str
    owner: str | None
    identity_id: str | None
    identity_owner: str | None
    identity_status: str | None
    environment: str | None
    issued_at: datetime | None
    not_after: datetime | None
    created_at: datetime
    last_used_at: datetime | None
    last_rotated_at: datetime | None
    key_type: str | None
    key_bits: int | None
    signature_algorithm: str | None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status == _ACTIVE

    @property
    def is_certificate(self) -> bool:
        return self.kind == _CERTIFICATE

    @property
    def is_ca(self) -> bool:
        return self.attributes.get("is_ca") is True

    def endpoint_flags(self) -> set[str]:
        """Flags the TLS scanner recorded for the endpoints that served this certificate."""
        out: set[str] = set()
        endpoints = self.attributes.get("endpoints")
        if isinstance(endpoints, Mapping):
            for seen in endpoints.values():
                flags = seen.get("flags") if isinstance(seen, Mapping) else None
                if isinstance(flags, list):
                    out.update(f for f in flags if isinstance(f, str))
        return out


@dataclass(frozen=True)
class Context:
    """What a rule may use besides the credential: the time, the settings of the credential's
    environment, and inventory-wide facts gathered before the pass (public keys shared by
    several discovered certificates, with how many)."""

    now: datetime
    settings: Settings
    shared_public_keys: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A rule's verdict on one credential; `severity` None means the rule's own."""

    title: str
    details: Mapping[str, Any]
    severity: Severity | None = None


Check = Callable[[Subject, Context], Hit | None]


@dataclass(frozen=True)
class Rule:
    """A credential rule; `active_only` rules skip revoked, superseded credentials."""

    info: RuleInfo
    check: Check
    active_only: bool = True


def credential_rules() -> tuple[Rule, ...]:
    """Every credential rule, in catalogue order."""
    from tessera.posture import rules_expiry, rules_keys, rules_usage

    return (*rules_expiry.RULES, *rules_keys.RULES, *rules_usage.RULES)


def catalogue() -> tuple[RuleInfo, ...]:
    """Every rule's description, including those evaluated outside the credential pass."""
    from tessera.posture import rules_expiry

    infos = [r.info for r in credential_rules()]
    infos += [rules_expiry.CA_RULE, RENEWAL_FAILING]
    return tuple(infos)


RENEWAL_FAILING = RuleInfo(
    RuleId.RENEWAL_FAILING, Severity.HIGH, "Automatic renewal keeps failing",
    "The scheduler has failed to renew a managed certificate several times in a row.",
    "Fix the cause (CA status, profile, names); the renewal is retried automatically and the "
    "finding resolves itself when it succeeds.",
)  # fmt: skip
