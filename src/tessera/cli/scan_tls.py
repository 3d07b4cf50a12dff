"""`tessera scan tls`: fetch and judge the certificate chains TLS endpoints present."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from tessera.cli.common import AddrOpt
from tessera.cli.output import Output, OutputOpt, console, emit, fail
from tessera.cli.scan_progress import progress_bar
from tessera.cli.scan_upload import UploadOpt, upload
from tessera.core.errors import TesseraError
from tessera.discovery.runner import with_endpoint_flags
from tessera.discovery.service import MAX_SCOPE
from tessera.discovery.tls import TlsScanReport, TlsScanRequest, report_json, scan_tls
from tessera.discovery.tls_checks import load_trust
from tessera.discovery.tls_targets import MAX_ENDPOINTS, expand_targets, parse_ports, read_targets

MAX_TARGETS_FILE = 4 * 1024 * 1024

TargetsArg = typer.Argument(
    None,
    help="host:port, host (with --ports), [v6]:port, CIDR ranges, or sni@host:port.",
    show_default=False,
)
PortsOpt = typer.Option(
    "443", "--ports", help="Ports for targets without one: 443,8443 or 8000-8010."
)
SniOpt = typer.Option(
    None, "--sni", help="Server name to send (repeatable) for targets without sni@."
)
ConcurrencyOpt = typer.Option(100, "--concurrency", min=1, max=10_000, help="Open connections.")
TimeoutOpt = typer.Option(5.0, "--timeout", min=0.1, max=300, help="Seconds per connect+handshake.")
CaFileOpt = typer.Option(
    None,
    "--ca-file",
    help="PEM CA certificates to trust (repeatable); non-root ones only help build chains.",
)
SystemCaOpt = typer.Option(True, "--system-ca/--no-system-ca", help="Trust the system CA bundle.")
TargetsFileOpt = typer.Option(None, "--targets-file", help="More targets, one a line; # comments.")


def command(
    targets: list[str] | None = TargetsArg,
    ports: str = PortsOpt,
    sni: list[str] | None = SniOpt,
    concurrency: int = ConcurrencyOpt,
    timeout: float = TimeoutOpt,
    ca_file: list[Path] | None = CaFileOpt,
    system_ca: bool = SystemCaOpt,
    targets_file: Path | None = TargetsFileOpt,
    output: Output = OutputOpt,
    send: bool = UploadOpt,
    addr: str | None = AddrOpt,
) -> None:
    """Fetch every endpoint's full certificate chain (unverified) and flag expiry, self-signed,
    untrusted, hostname mismatch, incomplete chains, weak keys and weak signatures."""
    wanted = list(targets or [])
    if targets_file is not None:
        wanted += _read_targets_file(targets_file)
    try:
        endpoints = expand_targets(wanted, parse_ports(ports), sni or (), MAX_ENDPOINTS)
        trust = load_trust(ca_file or [], use_system=system_ca)
        request = TlsScanRequest(tuple(endpoints), trust, concurrency, timeout)
    except TesseraError as exc:
        raise fail(exc.detail) from None
    with progress_bar("scanning endpoints", "endpoints") as bar:
        report = scan_tls(request, bar)
    if send:
        scope = [e.label for e in endpoints] if len(endpoints) <= MAX_SCOPE else []
        upload("tls", scope, with_endpoint_flags(report), report.errors, addr)
    if output is Output.json:
        emit(report_json(report), output)
        return
    _print_table(report)


def _read_targets_file(path: Path) -> list[str]:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_TARGETS_FILE + 1)
    except OSError as exc:
        raise fail(f"cannot read targets file {path}: {exc.strerror}") from None
    if len(data) > MAX_TARGETS_FILE:
        raise fail(f"targets file {path} is larger than {MAX_TARGETS_FILE // 1024 // 1024} MiB")
    return read_targets(data.decode("utf-8", errors="replace").splitlines())


def _print_table(report: TlsScanReport) -> None:
    failed = sum(1 for r in report.results if r.error)
    table = Table(
        title=f"{len(report.results)} endpoints, {failed} unreachable, "
        f"{len(report.credentials)} certificates"
    )
    for column in ("endpoint", "subject CN", "not after", "flags", "protocol"):
        table.add_column(column)
    for result in report.results:
        if result.error:
            flags = Text(f"error: {result.error}", style="red")
            table.add_row(result.endpoint.label, "-", "-", flags, "-")
            continue
        leaf = result.chain[0]
        table.add_row(
            result.endpoint.label,
            leaf.subject_cn or leaf.subject or "-",
            leaf.not_after.date().isoformat(),
            Text(", ".join(result.flags) or "ok", style="yellow" if result.flags else "green"),
            result.protocol or "-",
        )
    console.print(table)
