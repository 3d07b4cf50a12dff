"""Posture value objects: rule ids and descriptions, findings as the service returns them,
queries, acknowledgements and evaluation results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tessera.core.errors import InvalidRequest
from tessera.core.text import check_text
from tessera.posture.findings import FindingStatus, Severity


class RuleId(StrEnum):
    """Every posture rule. `renewal-failing` is raised by the renewal scheduler, not by the
    evaluation; the others are evaluated over the inventory."""

    EXPIRED = "expired"
    EXPIRING = "expiring"
    WEAK_KEY = "weak-key"
    WEAK_SIGNATURE = "weak-signature"
    LONG_VALIDITY = "tls-validity-too-long"
    SELF_SIGNED = "self-signed"
    WILDCARD = "wildcard"
    ORPHANED = "orphaned"
    ZOMBIE = "zombie"
    STALE = "stale"
    NOT_ROTATED = "not-rotated"
    LEAKED_SECRET = "secret-in-code"
    UNENCRYPTED_KEY = "unencrypted-private-key"
    DUPLICATE_KEY = "duplicate-key"
    CA_EXPIRES_FIRST = "ca-expires-before-issued"
    IRREVOCABLE_LEASE = "irrevocable-lease"
    RENEWAL_FAILING = "renewal-failing"


@dataclass(frozen=True)
class RuleInfo:
    """What a rule checks and what to do about it; `severity` is its usual severity."""

    id: RuleId
    severity: Severity
    title: str
    description: str
    remediation: str


@dataclass(frozen=True)
class Finding:
    """A finding as shown to callers. `status` is effective: an acknowledgement whose
    `ack_until` has passed shows as `open` even before the next evaluation stores it."""

    id: str
    rule_id: str
    subject_key: str
    credential_id: str | None
    identity_id: str | None
    severity: Severity
    risk: float
    status: FindingStatus
    title: str
    details: Mapping[str, Any]
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    ack_reason: str | None
    ack_by: str | None
    ack_until: datetime | None


@dataclass(frozen=True)
class FindingQuery:
    """Filters and keyset paging (by id) for listing findings; None filters nothing."""

    status: FindingStatus | None = None
    severity: Severity | None = None
    rule_id: RuleId | None = None
    credential_id: str | None = None
    identity_id: str | None = None
    limit: int = 100
    cursor: str | None = None

    def __post_init__(self) -> None:
        for name in ("credential_id", "identity_id"):
            value = getattr(self, name)
            if value is not None and not (value.isalnum() and len(value) <= 32):
                raise InvalidRequest(f"{name} must be an id of letters and digits")


MAX_ACK_REASON = 1024


@dataclass(frozen=True)
class AcknowledgeRequest:
    """Accept a finding's risk until `until`, for a stated reason; after `until` it is open."""

    reason: str
    until: datetime

    def __post_init__(self) -> None:
        check_text(self.reason, "reason", MAX_ACK_REASON)
        if not self.reason.strip():
            raise InvalidRequest("reason must not be blank")
        if self.until.tzinfo is None:
            raise InvalidRequest("until must carry a time zone (RFC 3339)")


@dataclass(frozen=True)
class EvaluationResult:
    """What one evaluation did: credentials evaluated, findings opened (new or reopened),
    refreshed (changed), resolved, and acknowledgements that lapsed."""

    evaluated: int
    opened: int
    refreshed: int
    resolved: int
    reopened_acks: int
    started_at: datetime
    finished_at: datetime
