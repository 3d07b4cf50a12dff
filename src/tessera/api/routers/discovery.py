"""`/v1/discovery/scans`: scans as jobs; scanners upload what they find into the inventory."""

from __future__ import annotations

import json

from fastapi import APIRouter, Query

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.params import parse_enum
from tessera.api.schemas_discovery import ResultsIn, ScanIn, ScanListOut, ScanOut, TlsScanIn
from tessera.core.errors import InvalidRequest
from tessera.discovery.models import DiscoveredCredential, Location, ScanError
from tessera.discovery.service import Scan, ScanKind
from tessera.inventory.models import CredentialKind, LocationKind

router = APIRouter(prefix="/v1/discovery", tags=["discovery"])
MAX_ATTRIBUTES = 16 * 1024


def scan_out(s: Scan) -> ScanOut:
    return ScanOut(
        id=s.id, kind=s.kind.value, status=s.status.value, scope=list(s.scope),
        started_at=s.started_at, finished_at=s.finished_at, credentials=s.credentials,
        new_credentials=s.new_credentials, locations=s.locations, missing=s.missing,
        errors=s.errors, error_samples=list(s.error_samples), failure=s.failure,
    )  # fmt: skip


@router.post("/scans", response_model=ScanOut, status_code=201, summary="Open a scan")
def start(body: ScanIn, p: PrincipalDep, c: ContainerDep) -> ScanOut:
    kind = parse_enum(ScanKind, body.kind, "kind")
    return scan_out(c.discovery.start(p, kind, body.scope))


@router.post("/scans/tls", response_model=ScanOut, status_code=202, summary="Run a TLS scan")
def start_tls(body: TlsScanIn, p: PrincipalDep, c: ContainerDep) -> ScanOut:
    return scan_out(c.discovery_runner.start_tls(p, body.model_dump()))


@router.get("/scans", response_model=ScanListOut, summary="Recent scans, newest first")
def list_scans(p: PrincipalDep, c: ContainerDep, limit: int = Query(50)) -> ScanListOut:
    return ScanListOut(items=[scan_out(s) for s in c.discovery.list_scans(p, limit)])


@router.get("/scans/{scan_id}", response_model=ScanOut, summary="A scan's status and counts")
def get(scan_id: str, p: PrincipalDep, c: ContainerDep) -> ScanOut:
    return scan_out(c.discovery.get(p, scan_id))


@router.post("/scans/{scan_id}/results", response_model=ScanOut, summary="Upload findings")
def results(scan_id: str, body: ResultsIn, p: PrincipalDep, c: ContainerDep) -> ScanOut:
    found = []
    for i, f in enumerate(body.credentials):
        if len(json.dumps(f.attributes)) > MAX_ATTRIBUTES:
            raise InvalidRequest(f"credentials[{i}].attributes is larger than 16 KiB")
        locations = [
            Location(parse_enum(LocationKind, loc.kind, f"credentials[{i}].locations.kind"),
                     loc.location)
            for loc in f.locations
        ]  # fmt: skip
        if any(loc.kind is LocationKind.ISSUED for loc in locations):
            raise InvalidRequest(f"credentials[{i}]: 'issued' locations are Tessera's own")
        kind = parse_enum(CredentialKind, f.kind, f"credentials[{i}].kind")
        found.append(
            DiscoveredCredential(kind, f.fingerprint, f.name, locations, f.not_after, f.attributes)
        )
    errors = [ScanError(e.where, e.message) for e in body.errors]
    return scan_out(c.discovery.add_results(p, scan_id, found, errors))


@router.post("/scans/{scan_id}/complete", response_model=ScanOut, summary="Complete a scan")
def complete(scan_id: str, p: PrincipalDep, c: ContainerDep) -> ScanOut:
    return scan_out(c.discovery.complete(p, scan_id))
