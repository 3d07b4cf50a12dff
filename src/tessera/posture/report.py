"""The posture report as data, its JSON form (schema `tessera.posture.report/v1`) and table
rows. `report_html` renders it as one self-contained HTML page (inline CSS and SVG charts of
expiries over the next 12 months and of findings by severity; no script, no external asset;
every string from the inventory or a user HTML-escaped)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tessera.core.clock import as_utc
from tessera.posture.findings import Severity

SCHEMA = "tessera.posture.report/v1"
SEVERITIES = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)


@dataclass(frozen=True)
class RuleSummary:
    """A rule with its compliance mapping and how many findings it has open and acknowledged."""

    id: str
    title: str
    severity: str
    description: str
    remediation: str
    pci_dss: tuple[str, ...]
    nist_800_53: tuple[str, ...]
    open: int
    acknowledged: int


@dataclass(frozen=True)
class ScoredItem:
    """A credential or identity with its risk score (sum of its open findings' risks)."""

    id: str
    name: str
    risk: float
    findings: int


@dataclass(frozen=True)
class ReportFinding:
    """One open or acknowledged finding as the report lists it."""

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


@dataclass(frozen=True)
class Report:
    """The estate's posture at `generated_at`. `by_severity` counts open findings;
    `expiries` are (YYYY-MM, credentials expiring that month), the first month from now."""

    generated_at: datetime
    last_evaluated_at: datetime | None
    open: int
    acknowledged: int
    by_severity: Mapping[str, int]
    overdue: int
    expiries: tuple[tuple[str, int], ...]
    rules: tuple[RuleSummary, ...]
    top_credentials: tuple[ScoredItem, ...]
    top_identities: tuple[ScoredItem, ...]
    findings: tuple[ReportFinding, ...]
    findings_truncated: bool


# -- JSON ------------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def to_json(r: Report) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "generated_at": _iso(r.generated_at),
        "last_evaluated_at": _iso(r.last_evaluated_at),
        "totals": {"open": r.open, "acknowledged": r.acknowledged},
        "by_severity": {s.value: int(r.by_severity.get(s.value, 0)) for s in SEVERITIES},
        "expiries": {"overdue": r.overdue,
                     "months": [{"month": m, "count": n} for m, n in r.expiries]},
        "rules": [
            {"id": x.id, "title": x.title, "severity": x.severity, "description": x.description,
             "remediation": x.remediation,
             "compliance": {"pci_dss": list(x.pci_dss), "nist_800_53": list(x.nist_800_53)},
             "open": x.open, "acknowledged": x.acknowledged}
            for x in r.rules
        ],
        "top_credentials": [_scored(x) for x in r.top_credentials],
        "top_identities": [_scored(x) for x in r.top_identities],
        "findings": [
            {"id": f.id, "rule_id": f.rule_id, "severity": f.severity, "status": f.status,
             "risk": f.risk, "title": f.title, "credential_id": f.credential_id,
             "credential_name": f.credential_name, "identity_id": f.identity_id,
             "opened_at": _iso(f.opened_at), "ack_until": _iso(f.ack_until)}
            for f in r.findings
        ],
        "findings_truncated": r.findings_truncated,
    }  # fmt: skip


def _scored(x: ScoredItem) -> dict[str, Any]:
    return {"id": x.id, "name": x.name, "risk": x.risk, "findings": x.findings}


def _time(value: Any) -> datetime | None:
    return as_utc(datetime.fromisoformat(value)) if isinstance(value, str) else None


def from_json(doc: Mapping[str, Any]) -> Report:
    """A report from its JSON form (as validated by the API schema); for the CLI renderers."""
    generated = _time(doc["generated_at"])
    assert generated is not None
    return Report(
        generated_at=generated,
        last_evaluated_at=_time(doc.get("last_evaluated_at")),
        open=int(doc["totals"]["open"]),
        acknowledged=int(doc["totals"]["acknowledged"]),
        by_severity={str(k): int(v) for k, v in doc["by_severity"].items()},
        overdue=int(doc["expiries"]["overdue"]),
        expiries=tuple((str(m["month"]), int(m["count"])) for m in doc["expiries"]["months"]),
        rules=tuple(
            RuleSummary(x["id"], x["title"], x["severity"], x["description"], x["remediation"],
                        tuple(x["compliance"]["pci_dss"]), tuple(x["compliance"]["nist_800_53"]),
                        int(x["open"]), int(x["acknowledged"]))
            for x in doc["rules"]
        ),
        top_credentials=tuple(ScoredItem(**x) for x in doc["top_credentials"]),
        top_identities=tuple(ScoredItem(**x) for x in doc["top_identities"]),
        findings=tuple(
            ReportFinding(
                f["id"], f["rule_id"], f["severity"], f["status"], float(f["risk"]), f["title"],
                f.get("credential_id"), f.get("credential_name"), f.get("identity_id"),
                _time(f["opened_at"]) or generated, _time(f.get("ack_until")),
            )
            for f in doc["findings"]
        ),
        findings_truncated=bool(doc["findings_truncated"]),
    )  # fmt: skip


# -- table -----------------------------------------------------------------------------------
TABLE_COLUMNS = ("severity", "risk", "status", "rule", "credential", "title")


def table_rows(r: Report) -> list[dict[str, str]]:
    """The findings as rows of `TABLE_COLUMNS`, riskiest first."""
    return [
        {"severity": f.severity, "risk": f"{f.risk:g}", "status": f.status, "rule": f.rule_id,
         "credential": f.credential_name or f.credential_id or "-", "title": f.title}
        for f in r.findings
    ]  # fmt: skip


def severity_counts(r: Report) -> Sequence[tuple[str, int]]:
    """Open findings per severity, most severe first, every severity present."""
    return [(s.value, int(r.by_severity.get(s.value, 0))) for s in SEVERITIES]
