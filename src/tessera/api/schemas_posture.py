"""Posture request and response bodies; field descriptions become the OpenAPI docs.

Problem types a posture caller meets: `not-found` (404: no such finding), `conflict` (409:
acknowledging a resolved finding), `invalid-request` (400: a bad filter, cursor, date or
configuration field, named), `permission-denied` (403)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tessera.api.schemas import DURATION_DOC, TIME_DOC, Duration, Strict
from tessera.posture.models import MAX_ACK_REASON


class ComplianceOut(BaseModel):
    """Indicative mapping of a rule to PCI DSS v4.0 requirements and NIST SP 800-53 rev. 5
    controls (evidence pointers, not an assessment)."""

    pci_dss: list[str] = Field(description="PCI DSS v4.0 requirement ids, e.g. '4.2.1'.")
    nist_800_53: list[str] = Field(description="NIST SP 800-53 rev. 5 control ids, e.g. 'IA-5'.")


class FindingOut(BaseModel):
    """A posture finding. `status` is effective: a lapsed acknowledgement shows as `open`."""

    id: str
    rule_id: str = Field(description="The rule that raised it, e.g. 'expiring', 'weak-key'.")
    subject_key: str = Field(description="What it is about: a credential id, or 'ca:<id>'.")
    credential_id: str | None
    identity_id: str | None
    severity: str = Field(description="info, low, medium, high or critical.")
    risk: float = Field(description="Risk it adds while open: info 0, low 1, medium 3, "
                        "high 7, critical 10.")  # fmt: skip
    status: str = Field(description="open, acknowledged or resolved.")
    title: str
    details: dict[str, Any]
    remediation: str | None = Field(description="What to do, from the rule catalogue.")
    compliance: ComplianceOut
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    ack_reason: str | None
    ack_by: str | None
    ack_until: datetime | None = Field(description=f"Acknowledged until. {TIME_DOC}")


class FindingPageOut(BaseModel):
    items: list[FindingOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class AcknowledgeIn(Strict):
    """Accept a finding's risk for a while (policy: `update` on `posture/findings/<id>`).
    Give exactly one of `until` and `duration`; at most 366 days."""

    reason: str = Field(min_length=1, max_length=MAX_ACK_REASON,
                        description="Why the risk is accepted (shown in reports).")  # fmt: skip
    until: datetime | None = Field(None, description=f"When it opens again. {TIME_DOC}")
    duration: Duration | None = Field(None, description=f"How long from now. {DURATION_DOC}")


class EvaluationOut(BaseModel):
    """What an evaluation did."""

    evaluated: int = Field(description="Credentials evaluated.")
    opened: int = Field(description="Findings opened (new, or whose cause came back).")
    refreshed: int = Field(description="Findings whose severity or facts changed.")
    resolved: int = Field(description="Findings whose cause is gone.")
    reopened_acks: int = Field(description="Acknowledgements that lapsed.")
    started_at: datetime
    finished_at: datetime


class RiskOut(BaseModel):
    """Risk score: the sum of the risks of the open findings."""

    score: float
    open_findings: int


class ThresholdsIO(Strict):
    """Thresholds; absent fields inherit (environment ← defaults ← built-in)."""

    expiring_days: int | None = Field(None, description="Expiring within → medium (30).")
    expiring_high_days: int | None = Field(None, description="Expiring within → high (7).")
    max_tls_validity_days: int | None = Field(None, description="TLS validity limit (398).")
    stale_days: int | None = Field(None, description="Unused for → stale (90).")
    rotation_days: int | None = Field(None, description="Not rotated for → finding (90).")
    min_rsa_bits: int | None = Field(None, description="Weaker RSA → weak key (2048).")
    min_ec_bits: int | None = Field(None, description="Weaker EC → weak key (256).")


class EnvironmentSettingsIO(Strict):
    thresholds: ThresholdsIO | None = None
    disabled_rules: list[str] | None = Field(
        None, description="Rule ids switched off; given for an environment, it replaces the "
        "default list.")  # fmt: skip


class PostureConfigIO(Strict):
    """Thresholds and disabled rules: defaults, and overrides per environment (policy:
    `read`/`update` on `posture/config`). Without a stored document, `self-signed` is
    disabled in `dev`."""

    defaults: EnvironmentSettingsIO | None = None
    environments: dict[str, EnvironmentSettingsIO] = Field(default_factory=dict)


# -- the report (JSON form of `tessera.posture.report`) ------------------------------------
class TotalsOut(BaseModel):
    open: int
    acknowledged: int


class ExpiryMonthOut(BaseModel):
    month: str = Field(description="YYYY-MM; the first month counts from now.")
    count: int


class ExpiriesOut(BaseModel):
    overdue: int = Field(description="Active credentials already past their expiry.")
    months: list[ExpiryMonthOut]


class RuleSummaryOut(BaseModel):
    id: str
    title: str
    severity: str
    description: str
    remediation: str
    compliance: ComplianceOut
    open: int
    acknowledged: int


class ScoredOut(BaseModel):
    id: str
    name: str
    risk: float = Field(description="Sum of the risks of its open findings.")
    findings: int


class ReportFindingOut(BaseModel):
    id: str
    rule_id: str
    severity: str
    status: str
    risk: float
    title: str
    credential_id: str | None
    credential_name: str | None
    identity_id: str | None
    opened_at: datetime
    ack_until: datetime | None


class PostureReportOut(BaseModel):
    """The estate's posture (`?format=html` gives the same as one HTML page)."""

    model_config = ConfigDict(populate_by_name=True)

    schema_id: str = Field(alias="schema", description="tessera.posture.report/v1")
    generated_at: datetime
    last_evaluated_at: datetime | None
    totals: TotalsOut
    by_severity: dict[str, int] = Field(description="Open findings per severity.")
    expiries: ExpiriesOut
    rules: list[RuleSummaryOut]
    top_credentials: list[ScoredOut]
    top_identities: list[ScoredOut]
    findings: list[ReportFindingOut] = Field(description="Open and acknowledged findings, "
                                             "riskiest first (at most 500).")  # fmt: skip
    findings_truncated: bool
