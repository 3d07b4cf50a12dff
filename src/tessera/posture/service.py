"""Posture use cases, each policy-checked: list and show findings, acknowledge one (with a
reason, until a date), evaluate now, risk scores, the report, and the configuration.

Policy paths: `posture/findings` (list), `posture/findings/<id>` (read; update to
acknowledge), `posture/evaluate` (update), `posture/report` (read; also risk scores),
`posture/config` (read, update)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tessera.auth.models import Principal
from tessera.core.clock import Clock
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.core.paging import check_limit, decode_cursor, encode_cursor
from tessera.inventory.models import Page
from tessera.policy.models import Capability
from tessera.posture import queries
from tessera.posture.compliance import controls_for
from tessera.posture.config import ConfigStore
from tessera.posture.engine import PostureEngine
from tessera.posture.findings import FindingStatus
from tessera.posture.models import AcknowledgeRequest, EvaluationResult, Finding, FindingQuery
from tessera.posture.ports import Authorizer
from tessera.posture.report import Report, ReportFinding, RuleSummary, ScoredItem
from tessera.posture.rules import catalogue
from tessera.storage.db import Database
from tessera.storage.models_lifecycle import FindingRow

MAX_ACK = timedelta(days=366)
TOP = 20
REPORT_FINDINGS = 500


def _check_id(value: str, what: str) -> str:
    # anything else cannot be an id: answer as for a missing one
    if not (value.isalnum() and value.isascii() and len(value) <= 32):
        raise NotFound(f"no such {what}")
    return value


class PostureService:
    """The posture use cases over the findings the engine keeps."""

    def __init__(self, db: Database, clock: Clock, authz: Authorizer, engine: PostureEngine,
                 config: ConfigStore) -> None:  # fmt: skip
        self._db, self._clock, self._authz = db, clock, authz
        self.engine, self._config = engine, config

    # -- findings --------------------------------------------------------------------------
    def list_findings(self, principal: Principal, q: FindingQuery) -> Page[Finding]:
        self._authz.authorize(principal, "posture/findings", Capability.LIST)
        check_limit(q.limit)
        now = self._clock.now()
        with self._db.session() as s:
            items, more = queries.list_findings(s, q, decode_cursor(q.cursor), now)
        cursor = encode_cursor(items[-1].id) if more and items else None
        return Page(tuple(items), cursor)

    def get_finding(self, principal: Principal, finding_id: str) -> Finding:
        _check_id(finding_id, "finding")
        self._authz.authorize(principal, f"posture/findings/{finding_id}", Capability.READ)
        with self._db.session() as s:
            row = s.get(FindingRow, finding_id)
            if row is None:
                raise NotFound("no such finding")
            return queries.finding_from_row(row, self._clock.now())

    def acknowledge(
        self, principal: Principal, finding_id: str, req: AcknowledgeRequest
    ) -> Finding:
        """Accept the risk until `req.until` (at most 366 days ahead); then it is open again.
        A resolved finding cannot be acknowledged (409)."""
        _check_id(finding_id, "finding")
        self._authz.authorize(principal, f"posture/findings/{finding_id}", Capability.UPDATE)
        now = self._clock.now()
        if req.until <= now:
            raise InvalidRequest("until must be in the future")
        if req.until > now + MAX_ACK:
            raise InvalidRequest("until must be at most 366 days ahead")
        with self._db.session(write=True) as s:
            row = s.get(FindingRow, finding_id, with_for_update=True)
            if row is None:
                raise NotFound("no such finding")
            if row.status == FindingStatus.RESOLVED.value:
                raise Conflict("the finding is resolved: there is nothing to acknowledge")
            row.status = FindingStatus.ACKNOWLEDGED.value
            row.ack_reason = req.reason.strip()
            row.ack_by = (principal.display_name or principal.accessor)[:128]
            row.ack_until, row.updated_at = req.until, now
            return queries.finding_from_row(row, now)

    # -- evaluation and scores ---------------------------------------------------------------
    def evaluate(self, principal: Principal) -> EvaluationResult:
        self._authz.authorize(principal, "posture/evaluate", Capability.UPDATE)
        return self.engine.evaluate()

    def risk(
        self, principal: Principal, *, credential_id: str | None = None,
        identity_id: str | None = None,
    ) -> tuple[float, int]:  # fmt: skip
        """(risk score, open findings) of one credential or identity (see `queries`)."""
        self._authz.authorize(principal, "posture/report", Capability.READ)
        if (credential_id is None) == (identity_id is None):
            raise InvalidRequest("give exactly one of credential_id and identity_id")
        for value in (credential_id, identity_id):
            if value is not None and not (value.isalnum() and len(value) <= 32):
                raise InvalidRequest("ids are letters and digits")
        with self._db.session() as s:
            return queries.risk_of(s, self._clock.now(), credential_id=credential_id,
                                   identity_id=identity_id)  # fmt: skip

    def report(self, principal: Principal) -> Report:
        self._authz.authorize(principal, "posture/report", Capability.READ)
        now = self._clock.now()
        with self._db.session() as s:
            counts = queries.counts_by_rule(s, now)
            overdue, months = queries.expiry_histogram(s, now)
            top_c = queries.top_credentials(s, now, TOP)
            top_i = queries.top_identities(s, now, TOP)
            listed = queries.report_findings(s, now, REPORT_FINDINGS + 1)
        starts = queries.month_starts(now)
        by_sev: dict[str, int] = {}
        per_rule: dict[tuple[str, str], int] = {}
        for (rule_id, severity, status), n in counts.items():
            per_rule[(rule_id, status)] = per_rule.get((rule_id, status), 0) + n
            if status == FindingStatus.OPEN.value:
                by_sev[severity] = by_sev.get(severity, 0) + n
        open_ = FindingStatus.OPEN.value
        acked = FindingStatus.ACKNOWLEDGED.value
        rules = tuple(
            RuleSummary(
                info.id.value, info.title, info.severity.value, info.description,
                info.remediation, controls_for(info.id).pci_dss,
                controls_for(info.id).nist_800_53, per_rule.get((info.id.value, open_), 0),
                per_rule.get((info.id.value, acked), 0),
            )
            for info in catalogue()
        )  # fmt: skip
        return Report(
            generated_at=now, last_evaluated_at=self.engine.last_run(),
            open=sum(n for (_, st), n in per_rule.items() if st == open_),
            acknowledged=sum(n for (_, st), n in per_rule.items() if st == acked),
            by_severity=by_sev, overdue=overdue,
            expiries=tuple((f"{m.year:04d}-{m.month:02d}", n)
                           for m, n in zip(starts, months, strict=False)),
            rules=rules,
            top_credentials=tuple(ScoredItem(x.id, x.name, x.risk, x.findings) for x in top_c),
            top_identities=tuple(ScoredItem(x.id, x.name, x.risk, x.findings) for x in top_i),
            findings=tuple(
                ReportFinding(f.id, f.rule_id, f.severity.value, f.status.value, f.risk, f.title,
                              f.credential_id, name, f.identity_id, f.opened_at, f.ack_until)
                for f, name in listed[:REPORT_FINDINGS]
            ),
            findings_truncated=len(listed) > REPORT_FINDINGS,
        )  # fmt: skip

    # -- configuration -----------------------------------------------------------------------
    def get_config(self, principal: Principal) -> Mapping[str, Any]:
        self._authz.authorize(principal, "posture/config", Capability.READ)
        return self._config.load().document

    def set_config(self, principal: Principal, doc: Mapping[str, Any]) -> Mapping[str, Any]:
        """Replace the whole document (validated first); applies from the next evaluation."""
        self._authz.authorize(principal, "posture/config", Capability.UPDATE)
        by = (principal.display_name or principal.accessor)[:128]
        return self._config.save(doc, by).document
