"""`tessera posture report|evaluate`, `tessera posture findings list|ack` and
`tessera posture config get|set`: the estate's posture through `/v1/posture`."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tessera.api.schemas_posture import (
    AcknowledgeIn,
    EvaluationOut,
    FindingOut,
    FindingPageOut,
    PostureConfigIO,
    PostureReportOut,
)
from tessera.cli.common import AddrOpt, client
from tessera.cli.output import Output, OutputOpt, console, emit, emit_page, fail
from tessera.posture.report import TABLE_COLUMNS, Report, from_json, table_rows
from tessera.posture.report_html import render_html

app = typer.Typer(help="Posture: findings over the inventory, risk, reports.",
                  no_args_is_help=True)  # fmt: skip
findings = typer.Typer(help="Findings: list and acknowledge.", no_args_is_help=True)
config = typer.Typer(help="Thresholds and rules per environment.", no_args_is_help=True)
app.add_typer(findings, name="findings")
app.add_typer(config, name="config")

FINDING_COLUMNS = ("id", "severity", "risk", "status", "rule_id", "title", "ack_until")


class ReportFormat(StrEnum):
    """How `posture report` prints: a table of findings, JSON, or a self-contained HTML page."""

    table = "table"
    json = "json"
    html = "html"


def _finding_path(finding_id: str, action: str = "") -> str:
    if not (finding_id.isascii() and finding_id.isalnum() and len(finding_id) <= 32):
        raise fail(f"{finding_id!r} is not a finding id (letters and digits)")
    return f"/v1/posture/findings/{finding_id}" + (f"/{action}" if action else "")


@app.command()
def report(
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", "-f",
                                     help="table, json or html"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file."),
    addr: str | None = AddrOpt,
) -> None:  # fmt: skip
    """The posture report: summary and findings, riskiest first."""
    with client(addr) as c:
        got = c.request("GET", "/v1/posture/report", PostureReportOut)
    doc = got.model_dump(mode="json", by_alias=True)
    r = from_json(doc)
    if fmt is ReportFormat.json:
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    elif fmt is ReportFormat.html:
        text = render_html(r)
    else:
        _print_table(r, out)
        return
    if out is None:
        sys.stdout.write(text)
    else:
        _write(out, text)


def _print_table(r: Report, out: Path | None) -> None:
    summary = ", ".join(f"{sev}: {n}" for sev, n in r.by_severity.items() if n) or "none"
    table = Table(title=f"Open findings — {summary}; acknowledged: {r.acknowledged}")
    for col in TABLE_COLUMNS:
        table.add_column(col)
    for row in table_rows(r):
        table.add_row(*[escape(row[col]) for col in TABLE_COLUMNS])  # names are data
    if out is None:
        console.print(table)
        return
    try:
        with out.open("w", encoding="utf-8") as fh:
            Console(file=fh, width=200).print(table)
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror}") from None


def _write(out: Path, text: str) -> None:
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror}") from None
    console.print(f"wrote {out}", highlight=False)


@app.command()
def evaluate(addr: str | None = AddrOpt, output: Output = OutputOpt) -> None:
    """Evaluate every rule now (the server also does it every few minutes)."""
    with client(addr) as c:
        emit(c.request("POST", "/v1/posture/evaluate", EvaluationOut), output)


@findings.command("list")
def list_(
    status: str | None = typer.Option(None, "--status", help="open, acknowledged, resolved"),
    severity: str | None = typer.Option(None, "--severity"),
    rule: str | None = typer.Option(None, "--rule", help="A rule id, e.g. expiring."),
    credential: str | None = typer.Option(None, "--credential", help="A credential id."),
    identity: str | None = typer.Option(None, "--identity-id", help="An identity id."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    cursor: str | None = typer.Option(None, "--cursor", help="From a previous page."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """List findings (keyset-paged; the next cursor is printed when there is more)."""
    params = {"status": status, "severity": severity, "rule": rule,
              "credential_id": credential, "identity_id": identity, "limit": limit,
              "cursor": cursor}  # fmt: skip
    with client(addr) as c:
        page = c.request("GET", "/v1/posture/findings", FindingPageOut, params=params)
    emit_page(page, output, FINDING_COLUMNS)


@findings.command("ack")
def ack(
    finding_id: str,
    reason: str = typer.Option(..., "--reason", help="Why the risk is accepted."),
    until: str | None = typer.Option(None, "--until", help="RFC 3339 date and time."),
    for_: str | None = typer.Option(None, "--for", help="Duration from now, e.g. 30d."),
    addr: str | None = AddrOpt,
    output: Output = OutputOpt,
) -> None:
    """Acknowledge a finding until a date (`--until` or `--for`); then it is open again."""
    if (until is None) == (for_ is None):
        raise fail("give exactly one of --until and --for")
    body: dict[str, Any] = {"reason": reason}
    if until is not None:
        body["until"] = until
    else:
        body["duration"] = for_
    try:
        AcknowledgeIn.model_validate(body)  # refuse a malformed body before sending it
    except ValidationError as exc:
        raise fail(f"invalid acknowledgement: {exc.errors()[0]['msg']}") from None
    with client(addr) as c:
        done = c.request("POST", _finding_path(finding_id, "acknowledge"), FindingOut,
                         json=body)  # fmt: skip
    emit(done, output)


@config.command("get")
def config_get(addr: str | None = AddrOpt) -> None:
    """Print the configuration document (JSON)."""
    with client(addr) as c:
        doc = c.request("GET", "/v1/posture/config", PostureConfigIO)
    typer.echo(json.dumps(doc.model_dump(mode="json", exclude_none=True), indent=2))


@config.command("set")
def config_set(
    file: str = typer.Argument(..., help="A JSON document, or '-' for standard input."),
    addr: str | None = AddrOpt,
) -> None:
    """Replace the configuration with a JSON document (see `config get` for its shape)."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{file} is not JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise fail("the configuration must be a JSON object")
    with client(addr) as c:
        saved = c.request("PUT", "/v1/posture/config", PostureConfigIO, json=doc)
    typer.echo(json.dumps(saved.model_dump(mode="json", exclude_none=True), indent=2))
