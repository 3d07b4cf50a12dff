"""Read side of posture: findings with their effective status, risk scores and the aggregates
a report shows. Every query is one statement whose cost does not depend on page position.

Risk score: each finding carries `risk` = RISK[severity] (info 0, low 1, medium 3, high 7,
critical 10). A credential's score is the sum over its open findings; an identity's is the
sum over the open findings of its credentials (and any finding naming the identity itself).
Acknowledged findings add nothing until their acknowledgement lapses; resolved ones never."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from tessera.core.clock import as_utc
from tessera.inventory.models import CredentialStatus
from tessera.posture.findings import FindingStatus, Severity
from tessera.posture.models import Finding, FindingQuery
from tessera.posture.rules import EXPIRY_KINDS
from tessera.storage.models import CredentialRow, IdentityRow
from tessera.storage.models_lifecycle import FindingRow

_F = FindingRow


def effective_status(now: datetime) -> ColumnElement[str]:
    """`status`, except that a lapsed acknowledgement reads as `open`."""
    lapsed = and_(_F.status == FindingStatus.ACKNOWLEDGED.value, _F.ack_until <= now)
    return case((lapsed, FindingStatus.OPEN.value), else_=_F.status)


def _opt(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def finding_from_row(row: FindingRow, now: datetime) -> Finding:
    status = FindingStatus(row.status)
    ack_until = _opt(row.ack_until)
    if status is FindingStatus.ACKNOWLEDGED and ack_until is not None and ack_until <= now:
        status = FindingStatus.OPEN
    return Finding(
        id=row.id, rule_id=row.rule_id, subject_key=row.subject_key,
        credential_id=row.credential_id, identity_id=row.identity_id,
        severity=Severity(row.severity), risk=row.risk, status=status, title=row.title,
        details=dict(row.details), opened_at=as_utc(row.opened_at),
        updated_at=as_utc(row.updated_at), resolved_at=_opt(row.resolved_at),
        ack_reason=row.ack_reason, ack_by=row.ack_by, ack_until=ack_until,
    )  # fmt: skip


def list_findings(
    s: Session, q: FindingQuery, after: str | None, now: datetime
) -> tuple[list[Finding], bool]:
    """One keyset page by id; returns the findings and whether more follow."""
    stmt = select(FindingRow).order_by(FindingRow.id).limit(q.limit + 1)
    if after is not None:
        stmt = stmt.where(FindingRow.id > after)
    if q.status is not None:
        stmt = stmt.where(effective_status(now) == q.status.value)
    if q.severity is not None:
        stmt = stmt.where(FindingRow.severity == q.severity.value)
    if q.rule_id is not None:
        stmt = stmt.where(FindingRow.rule_id == q.rule_id.value)
    if q.credential_id is not None:
        stmt = stmt.where(FindingRow.credential_id == q.credential_id)
    if q.identity_id is not None:
        stmt = stmt.where(FindingRow.identity_id == q.identity_id)
    rows = list(s.scalars(stmt))
    return [finding_from_row(r, now) for r in rows[: q.limit]], len(rows) > q.limit


@dataclass(frozen=True)
class Scored:
    """A credential or identity with its risk score and number of open findings."""

    id: str
    name: str
    risk: float
    findings: int


def _open(now: datetime) -> ColumnElement[bool]:
    return effective_status(now) == FindingStatus.OPEN.value


def risk_of(s: Session, now: datetime, *, credential_id: str | None = None,
            identity_id: str | None = None) -> tuple[float, int]:  # fmt: skip
    """(score, open findings) of one credential or one identity."""
    column = _F.credential_id if credential_id is not None else _F.identity_id
    row = s.execute(
        select(func.coalesce(func.sum(_F.risk), 0.0), func.count())
        .where(column == (credential_id or identity_id), _open(now))
    ).one()  # fmt: skip
    return float(row[0]), int(row[1])


def top_credentials(s: Session, now: datetime, limit: int) -> list[Scored]:
    total = func.sum(_F.risk).label("total")
    rows = s.execute(
        select(_F.credential_id, total, func.count(), CredentialRow.name)
        .join(CredentialRow, CredentialRow.id == _F.credential_id, isouter=True)
        .where(_F.credential_id.is_not(None), _open(now))
        .group_by(_F.credential_id, CredentialRow.name)
        .order_by(total.desc(), _F.credential_id)
        .limit(limit)
    ).all()  # fmt: skip
    return [Scored(str(i), name or str(i), float(r), int(n)) for i, r, n, name in rows]


def top_identities(s: Session, now: datetime, limit: int) -> list[Scored]:
    total = func.sum(_F.risk).label("total")
    rows = s.execute(
        select(_F.identity_id, total, func.count(), IdentityRow.name)
        .join(IdentityRow, IdentityRow.id == _F.identity_id, isouter=True)
        .where(_F.identity_id.is_not(None), _open(now))
        .group_by(_F.identity_id, IdentityRow.name)
        .order_by(total.desc(), _F.identity_id)
        .limit(limit)
    ).all()  # fmt: skip
    return [Scored(str(i), name or str(i), float(r), int(n)) for i, r, n, name in rows]


def counts_by_rule(s: Session, now: datetime) -> dict[tuple[str, str, str], int]:
    """(rule id, severity, effective status) → count, over findings not resolved."""
    eff = effective_status(now)
    rows = s.execute(
        select(_F.rule_id, _F.severity, eff, func.count())
        .where(_F.status != FindingStatus.RESOLVED.value)
        .group_by(_F.rule_id, _F.severity, eff)
    ).all()  # fmt: skip
    return {(str(r), str(sev), str(st)): int(n) for r, sev, st, n in rows}


def month_starts(now: datetime, months: int = 12) -> list[datetime]:
    """The start of the current month and of the `months` that follow (months + 1 bounds)."""
    year, month = now.year, now.month
    out = []
    for _ in range(months + 1):
        out.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def expiry_histogram(s: Session, now: datetime, months: int = 12) -> tuple[int, list[int]]:
    """(overdue, per-month counts) of active credentials of kinds that expire; the first month
    runs from now to its end. One statement with a CASE per bucket over an index range."""
    bounds = month_starts(now, months)
    bounds[0] = now
    c = CredentialRow
    sums: list[Any] = [func.sum(case((c.not_after <= now, 1), else_=0))]
    for lo, hi in itertools.pairwise(bounds):
        after = c.not_after > lo if lo == now else c.not_after >= lo
        sums.append(func.sum(case((and_(after, c.not_after < hi), 1), else_=0)))
    row = s.execute(
        select(*sums).where(
            c.status == CredentialStatus.ACTIVE.value, c.not_after.is_not(None),
            c.not_after < bounds[-1], c.kind.in_([k.value for k in EXPIRY_KINDS]),
        )
    ).one()  # fmt: skip
    values = [int(v or 0) for v in row]
    return values[0], values[1:]


def report_findings(s: Session, now: datetime, limit: int) -> list[tuple[Finding, str | None]]:
    """Open and acknowledged findings, riskiest first, with their credential's name."""
    eff = effective_status(now)
    rows = s.execute(
        select(FindingRow, CredentialRow.name)
        .join(CredentialRow, CredentialRow.id == _F.credential_id, isouter=True)
        .where(eff.in_([FindingStatus.OPEN.value, FindingStatus.ACKNOWLEDGED.value]))
        .order_by(_F.risk.desc(), _F.id)
        .limit(limit)
    ).all()  # fmt: skip
    return [(finding_from_row(f, now), name) for f, name in rows]


def names_of(s: Session, credential_ids: Sequence[str]) -> dict[str, str]:
    if not credential_ids:
        return {}
    rows = s.execute(select(CredentialRow.id, CredentialRow.name)
                     .where(CredentialRow.id.in_(list(credential_ids))))  # fmt: skip
    return {i: n for i, n in rows}
