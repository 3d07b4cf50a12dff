"""`/v1/posture`: findings (list, show, acknowledge), evaluate now, risk scores, the report
(JSON or a self-contained HTML page) and the configuration. Policy paths are documented in
`tessera.posture.service`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.params import parse_optional_enum
from tessera.api.schemas_posture import (
    AcknowledgeIn,
    ComplianceOut,
    EvaluationOut,
    FindingOut,
    FindingPageOut,
    PostureConfigIO,
    PostureReportOut,
    RiskOut,
)
from tessera.core.durations import parse_duration
from tessera.core.errors import InvalidRequest
from tessera.core.paging import MAX_PAGE
from tessera.posture.compliance import controls_for
from tessera.posture.findings import FindingStatus, Severity
from tessera.posture.models import AcknowledgeRequest, Finding, FindingQuery, RuleId
from tessera.posture.report import to_json
from tessera.posture.report_html import render_html
from tessera.posture.rules import catalogue

router = APIRouter(prefix="/v1/posture", tags=["posture"])
Id = Annotated[str | None, Query(max_length=32)]
_REMEDIATION = {info.id.value: info.remediation for info in catalogue()}
# The HTML report needs nothing from anywhere: forbid everything but its inline style.
_HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class ReportFormat(StrEnum):
    JSON = "json"
    HTML = "html"


def finding_out(f: Finding) -> FindingOut:
    controls = controls_for(f.rule_id)
    return FindingOut(
        id=f.id, rule_id=f.rule_id, subject_key=f.subject_key, credential_id=f.credential_id,
        identity_id=f.identity_id, severity=f.severity.value, risk=f.risk,
        status=f.status.value, title=f.title, details=dict(f.details),
        remediation=_REMEDIATION.get(f.rule_id),
        compliance=ComplianceOut(pci_dss=list(controls.pci_dss),
                                 nist_800_53=list(controls.nist_800_53)),
        opened_at=f.opened_at, updated_at=f.updated_at, resolved_at=f.resolved_at,
        ack_reason=f.ack_reason, ack_by=f.ack_by, ack_until=f.ack_until,
    )  # fmt: skip


@router.get("/findings", response_model=FindingPageOut, summary="List findings")
def list_findings(
    p: PrincipalDep,
    c: ContainerDep,
    status: Annotated[str | None, Query(max_length=32, description="open, acknowledged, "
                                        "resolved")] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    rule: Annotated[str | None, Query(max_length=64, description="A rule id.")] = None,
    credential_id: Id = None,
    identity_id: Id = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> FindingPageOut:  # fmt: skip
    q = FindingQuery(
        status=parse_optional_enum(FindingStatus, status, "status"),
        severity=parse_optional_enum(Severity, severity, "severity"),
        rule_id=parse_optional_enum(RuleId, rule, "rule"),
        credential_id=credential_id, identity_id=identity_id, limit=limit, cursor=cursor,
    )  # fmt: skip
    page = c.posture.list_findings(p, q)
    return FindingPageOut(items=[finding_out(f) for f in page.items],
                          next_cursor=page.next_cursor)  # fmt: skip


@router.get("/findings/{finding_id}", response_model=FindingOut, summary="Show a finding")
def get_finding(finding_id: str, p: PrincipalDep, c: ContainerDep) -> FindingOut:
    return finding_out(c.posture.get_finding(p, finding_id))


@router.post("/findings/{finding_id}/acknowledge", response_model=FindingOut,
             summary="Acknowledge a finding until a date")  # fmt: skip
def acknowledge(finding_id: str, body: AcknowledgeIn, p: PrincipalDep,
                c: ContainerDep) -> FindingOut:  # fmt: skip
    if (body.until is None) == (body.duration is None):
        raise InvalidRequest("give exactly one of until and duration")
    if body.until is not None:
        until = body.until
    else:
        assert body.duration is not None
        until = c.clock.now() + parse_duration(body.duration, "duration")
    req = AcknowledgeRequest(reason=body.reason, until=until)
    return finding_out(c.posture.acknowledge(p, finding_id, req))


@router.post("/evaluate", response_model=EvaluationOut, summary="Evaluate every rule now")
def evaluate(p: PrincipalDep, c: ContainerDep) -> EvaluationOut:
    r = c.posture.evaluate(p)
    return EvaluationOut(evaluated=r.evaluated, opened=r.opened, refreshed=r.refreshed,
                         resolved=r.resolved, reopened_acks=r.reopened_acks,
                         started_at=r.started_at, finished_at=r.finished_at)  # fmt: skip


@router.get("/risk", response_model=RiskOut, summary="Risk score of a credential or identity")
def risk(p: PrincipalDep, c: ContainerDep, credential_id: Id = None,
         identity_id: Id = None) -> RiskOut:  # fmt: skip
    score, n = c.posture.risk(p, credential_id=credential_id, identity_id=identity_id)
    return RiskOut(score=score, open_findings=n)


@router.get("/report", response_model=PostureReportOut, summary="The posture report",
            responses={200: {"content": {"text/html": {}}}})  # fmt: skip
def report(
    p: PrincipalDep, c: ContainerDep,
    format: Annotated[str, Query(max_length=8, description="json or html")] = "json",
) -> JSONResponse | HTMLResponse:  # fmt: skip
    fmt = parse_optional_enum(ReportFormat, format, "format")
    r = c.posture.report(p)
    if fmt is ReportFormat.HTML:
        return HTMLResponse(render_html(r), headers={"Content-Security-Policy": _HTML_CSP})
    body = PostureReportOut.model_validate(to_json(r))
    return JSONResponse(body.model_dump(mode="json", by_alias=True))


@router.get("/config", response_model=PostureConfigIO, summary="Read the configuration")
def get_config(p: PrincipalDep, c: ContainerDep) -> PostureConfigIO:
    return PostureConfigIO.model_validate(dict(c.posture.get_config(p)))


@router.put("/config", response_model=PostureConfigIO, summary="Replace the configuration")
def set_config(body: PostureConfigIO, p: PrincipalDep, c: ContainerDep) -> PostureConfigIO:
    saved = c.posture.set_config(p, body.model_dump(exclude_none=True))
    return PostureConfigIO.model_validate(dict(saved))
