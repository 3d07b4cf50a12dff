"""Plain forms of a scan report: JSON-ready dicts for the CLI, and inventory records
(one DiscoveredCredential per keyed fingerprint, with every place it was seen)."""

from __future__ import annotations

from typing import Any

from tessera.discovery.models import DiscoveredCredential, Location
from tessera.discovery.secrets.models import Finding, ScanReport
from tessera.inventory.models import CredentialKind, LocationKind


def finding_dict(f: Finding) -> dict[str, Any]:
    """A finding as JSON: never the secret, only its keyed fingerprint and preview."""
    return {
        "rule_id": f.rule_id,
        "description": f.description,
        "severity": f.severity.value,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "fingerprint": f.fingerprint,
        "preview": f.preview,
        "commit": None
        if f.commit is None
        else {"sha": f.commit.sha, "author": f.commit.author, "date": f.commit.date.isoformat()},
    }


def report_dict(report: ScanReport) -> dict[str, Any]:
    return {
        "root": report.root,
        "findings": [finding_dict(f) for f in report.findings],
        "errors": [{"where": e.where, "message": e.message} for e in report.errors],
        "summary": {
            "findings": len(report.findings),
            "suppressed": report.suppressed,
            "files_scanned": report.files_scanned,
            "bytes_scanned": report.bytes_scanned,
            "skipped_binary": report.skipped_binary,
            "errors": len(report.errors),
        },
    }


def location_of(f: Finding, repo: str) -> Location:
    """`file` "path:line", or `git` "repo@commit:path:line" for history findings."""
    if f.commit is None:
        return Location(LocationKind.FILE, f"{f.path}:{f.line}")
    return Location(LocationKind.GIT, f"{repo}@{f.commit.sha}:{f.path}:{f.line}")


def to_inventory(report: ScanReport) -> list[DiscoveredCredential]:
    """One leaked-secret credential per fingerprint, its locations in scan order."""
    out: dict[str, DiscoveredCredential] = {}
    for f in report.findings:
        cred = out.get(f.fingerprint)
        if cred is None:
            cred = DiscoveredCredential(
                kind=CredentialKind.LEAKED_SECRET,
                fingerprint=f.fingerprint,
                name=f.rule_id,
                attributes={"rules": [], "preview": f.preview, "severity": f.severity.value},
            )
            out[f.fingerprint] = cred
        if f.rule_id not in cred.attributes["rules"]:
            cred.attributes["rules"].append(f.rule_id)
        loc = location_of(f, report.root)
        if loc not in cred.locations:
            cred.locations.append(loc)
    return list(out.values())
