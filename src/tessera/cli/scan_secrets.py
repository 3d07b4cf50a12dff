"""`tessera scan secrets PATH`: find leaked secrets in files, directory trees or git history.

Runs locally with no server. Exit status: `--exit-code` (1) when there are findings not
accepted by a baseline, 0 when there are none, 2 for bad usage or unreadable rule/baseline/key."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tessera.cli.common import AddrOpt
from tessera.cli.output import console, err_console, fail
from tessera.cli.scan_progress import progress_bars
from tessera.cli.scan_upload import UploadOpt, absolute_file_locations, upload
from tessera.core.errors import TesseraError
from tessera.core.randomness import SystemRandomness
from tessera.discovery.secrets import (
    RuleSet,
    ScanOptions,
    ScanReport,
    SecretHasher,
    SecretScanner,
    load_ruleset,
    load_scan_key,
    read_baseline,
    report_dict,
    scan_history,
    suppress,
    to_sarif,
    write_baseline,
)
from tessera.discovery.secrets.report import to_inventory

USAGE_ERROR = 2


class Format(StrEnum):
    """Output of `scan secrets`: a table for people, JSON for scripts, SARIF for code scanning."""

    table = "table"
    json = "json"
    sarif = "sarif"


def command(
    path: Path = typer.Argument(..., help="File or directory to scan (a repository with --git)."),
    git: bool = typer.Option(False, "--git", help="Scan every commit of the repository at PATH."),
    rules: Path | None = typer.Option(None, "--rules", help="Rule file in gitleaks TOML format."),
    no_builtin: bool = typer.Option(False, "--no-builtin", help="Only the rules of --rules."),
    baseline: Path | None = typer.Option(None, "--baseline", help="Suppress accepted findings."),
    new_baseline: Path | None = typer.Option(
        None,
        "--write-baseline",
        help="Write every finding to FILE as accepted, then exit 0.",
    ),
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or sarif"),
    max_file_size: int = typer.Option(
        ScanOptions().max_file_size, "--max-file-size", min=0, help="Skip larger files (0: none)."
    ),
    exit_code: int = typer.Option(
        1, "--exit-code", min=0, max=255, help="Exit status when there are findings."
    ),
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        help="Fingerprint key file (default: $TESSERA_SCAN_KEY, else ~/.config/tessera/scan.key).",
    ),
    send: bool = UploadOpt,
    addr: str | None = AddrOpt,
) -> None:
    """Find leaked secrets (tokens, keys, passwords) in files or git history."""
    if send:
        path = path.resolve()  # the inventory names places absolutely
    try:
        ruleset = load_ruleset(rules, builtin=not no_builtin)
        accepted = read_baseline(baseline) if baseline else frozenset()
        hasher = SecretHasher(load_scan_key(key_file, os.environ, SystemRandomness()))
        if not path.exists() and not path.is_symlink():
            raise fail(f"{path}: no such file or directory", USAGE_ERROR)
        for warning in ruleset.warnings:
            err_console.print(f"[yellow]Warning:[/] {escape(warning)}", highlight=False)
        options = ScanOptions(max_file_size=max_file_size)
        with progress_bars("files") as factory:
            scanner = SecretScanner(ruleset, hasher, options, factory)
            report = scan_history(scanner, path) if git else scanner.scan_path(path)
        everything = list(report.findings)
        report.findings, report.suppressed = suppress(report.findings, accepted)
        if new_baseline is not None:
            written = write_baseline(new_baseline, everything)
            err_console.print(f"Baseline of {written} findings written to {new_baseline}")
    except TesseraError as exc:
        raise fail(exc.detail, USAGE_ERROR) from None
    _render(report, output, path, ruleset)
    if send:
        found = absolute_file_locations(to_inventory(report), str(path))
        scope = [f"{path}@"] if git else [str(path)]
        upload("secrets", scope, found, report.errors, addr)
    if report.findings and new_baseline is None:
        raise typer.Exit(exit_code)


def _render(report: ScanReport, output: Format, root: Path, ruleset: RuleSet) -> None:
    """Findings on stdout in the chosen format; files skipped on stderr (in JSON: inline)."""
    if output is not Format.json:
        for error in report.errors:
            err_console.print(
                f"[yellow]Skipped[/] {escape(error.where)}: {escape(error.message)}",
                highlight=False,
            )
    if output is Format.json:
        typer.echo(json.dumps(report_dict(report), indent=2))
        return
    if output is Format.sarif:
        typer.echo(json.dumps(to_sarif(report.findings, ruleset, root), indent=2))
        return
    if report.findings:
        table = Table(title="Secrets found")
        for col in ("rule", "severity", "location", "secret", "commit"):
            table.add_column(col)
        for f in report.findings:
            commit = (
                f"{f.commit.sha[:10]} {f.commit.author} {f.commit.date:%Y-%m-%d}"
                if f.commit
                else "-"
            )
            table.add_row(
                f.rule_id, f.severity.value, f"{f.path}:{f.line}:{f.column}", f.preview, commit
            )
        console.print(table)
    console.print(
        f"{len(report.findings)} findings ({report.suppressed} suppressed by baseline) in "
        f"{report.files_scanned} files; {report.skipped_binary} binary skipped, "
        f"{len(report.errors)} unreadable",
        highlight=False,
    )
