"""`/v1/identities` and `/v1/inventory/credentials`: the identity registry and inventory spine."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.params import parse_enum, parse_optional_enum
from tessera.api.schemas import (
    CredentialOut,
    CredentialOwnerIn,
    CredentialPageOut,
    DecommissionOut,
    DecommissionPlanOut,
    IdentityIn,
    IdentityOut,
    IdentityPageOut,
    IdentityPatch,
    LocationOut,
)
from tessera.core.durations import parse_duration
from tessera.core.errors import InvalidRequest
from tessera.inventory.models import (
    MAX_Q,
    CreateIdentityRequest,
    Credential,
    CredentialKind,
    CredentialQuery,
    CredentialSort,
    CredentialSource,
    CredentialStatus,
    CredentialSummary,
    Identity,
    IdentityKind,
    IdentityQuery,
    IdentityStatus,
    SearchMatch,
    UpdateIdentityRequest,
)

router = APIRouter(prefix="/v1", tags=["inventory"])
Str = Annotated[str | None, Query(max_length=255)]


def identity_out(i: Identity) -> IdentityOut:
    return IdentityOut(
        id=i.id,
        name=i.name,
        kind=i.kind.value,
        owner=i.owner,
        environment=i.environment,
        labels=dict(i.labels),
        spiffe_id=i.spiffe_id,
        status=i.status.value,
        created_at=i.created_at,
        updated_at=i.updated_at,
        decommissioned_at=i.decommissioned_at,
    )


def credential_out(cr: Credential) -> CredentialOut:
    return CredentialOut(
        id=cr.id,
        kind=cr.kind.value,
        fingerprint=cr.fingerprint,
        name=cr.name,
        identity_id=cr.identity_id,
        owner=cr.owner,
        source=cr.source.value,
        status=cr.status.value,
        issued_at=cr.issued_at,
        not_after=cr.not_after,
        last_used_at=cr.last_used_at,
        last_rotated_at=cr.last_rotated_at,
        attributes=dict(cr.attributes),
        key_type=cr.key_type,
        key_bits=cr.key_bits,
        signature_algorithm=cr.signature_algorithm,
        locations=[
            LocationOut(
                kind=loc.kind.value,
                location=loc.location,
                first_seen_at=loc.first_seen_at,
                last_seen_at=loc.last_seen_at,
            )
            for loc in cr.locations
        ],
    )


@router.post("/identities", response_model=IdentityOut, status_code=201)
def create_identity(body: IdentityIn, p: PrincipalDep, c: ContainerDep) -> IdentityOut:
    kind = parse_optional_enum(IdentityKind, body.kind, "kind")
    assert kind is not None
    req = CreateIdentityRequest(
        name=body.name,
        owner=body.owner,
        kind=kind,
        environment=body.environment,
        labels=body.labels,
        spiffe_id=body.spiffe_id,
    )
    return identity_out(c.inventory.create_identity(p, req))


@router.get("/identities", response_model=IdentityPageOut)
def list_identities(
    p: PrincipalDep,
    c: ContainerDep,
    kind: Str = None,
    owner: Str = None,
    environment: Str = None,
    status: Str = None,
    label: Str = None,
    limit: int = 100,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> IdentityPageOut:
    label_pair = None
    if label is not None:
        key, sep, value = label.partition("=")
        if not sep:
            raise InvalidRequest("label filter must be key=value")
        label_pair = (key, value)
    query = IdentityQuery(
        kind=parse_optional_enum(IdentityKind, kind, "kind"),
        owner=owner,
        environment=environment,
        status=parse_optional_enum(IdentityStatus, status, "status"),
        label=label_pair,
        limit=limit,
        cursor=cursor,
    )
    page = c.inventory.list_identities(p, query)
    return IdentityPageOut(
        items=[identity_out(i) for i in page.items], next_cursor=page.next_cursor
    )


@router.get("/identities/{name}", response_model=IdentityOut)
def get_identity(name: str, p: PrincipalDep, c: ContainerDep) -> IdentityOut:
    return identity_out(c.inventory.get_identity(p, name))


@router.patch("/identities/{name}", response_model=IdentityOut)
def update_identity(
    name: str, body: IdentityPatch, p: PrincipalDep, c: ContainerDep
) -> IdentityOut:
    req = UpdateIdentityRequest(owner=body.owner, environment=body.environment, labels=body.labels)
    return identity_out(c.inventory.update_identity(p, name, req))


@router.post("/identities/{name}/decommission", response_model=DecommissionOut)
def decommission(name: str, p: PrincipalDep, c: ContainerDep) -> DecommissionOut:
    identity, revoked = c.inventory.decommission(p, name)
    return DecommissionOut(identity=identity_out(identity), revoked_credentials=revoked)


@router.post(
    "/identities/{name}/decommission-plan",
    response_model=DecommissionPlanOut,
    summary="What decommissioning would revoke now (nothing is changed)",
)
def decommission_plan(name: str, p: PrincipalDep, c: ContainerDep) -> DecommissionPlanOut:
    items = c.inventory.decommission_plan(p, name)
    return DecommissionPlanOut(items=[credential_out(x) for x in items])


# -- inventory ----------------------------------------------------------------------------
FILTER_PARAMS = frozenset(
    {
        "kind", "source", "owner", "identity", "status", "expiring_within", "environment",
        "label", "key_type", "key_bits", "signature_algorithm", "q", "match", "sort",
    }
)  # fmt: skip


def credential_filters(
    request: Request,
    kind: Str = None,
    source: Str = None,
    owner: Str = None,
    identity: Str = None,
    status: Str = None,
    expiring_within: Annotated[str | None, Query(max_length=32)] = None,
    environment: Str = None,
    label: Annotated[str | None, Query(max_length=320, description="key=value")] = None,
    key_type: Annotated[str | None, Query(max_length=32)] = None,
    key_bits: int | None = None,
    signature_algorithm: Annotated[str | None, Query(max_length=128)] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_Q,
            description="Name, fingerprint, subject, subject CN, SAN or principal "
            "(case-insensitive); see `match`.",
        ),
    ] = None,
    match: Annotated[str, Query(max_length=16, description="prefix (default) or exact")] = "prefix",
    sort: Annotated[str, Query(max_length=16, description="id (default) or expiry")] = "id",
) -> CredentialQuery:
    """The filters shared by listing and export; an unknown parameter is refused, as a typo
    would otherwise silently widen the result (to the whole inventory, for an export)."""
    allowed = FILTER_PARAMS | (
        {"format"} if request.url.path.endswith("/export") else {"limit", "cursor"}
    )
    for name in request.query_params:
        if name not in allowed:
            raise InvalidRequest(
                f"unknown query parameter {name[:64]!r}",
                errors=[{"field": name[:64], "message": "unknown query parameter"}],
            )
    label_pair = None
    if label is not None:
        key, sep, value = label.partition("=")
        if not sep:
            raise InvalidRequest("label filter must be key=value")
        label_pair = (key, value)
    return CredentialQuery(
        kind=parse_optional_enum(CredentialKind, kind, "kind"),
        source=parse_optional_enum(CredentialSource, source, "source"),
        owner=owner,
        identity=identity,
        status=parse_optional_enum(CredentialStatus, status, "status"),
        expiring_within=(
            parse_duration(expiring_within, "expiring_within") if expiring_within else None
        ),
        environment=environment,
        label=label_pair,
        key_type=key_type,
        key_bits=key_bits,
        signature_algorithm=signature_algorithm,
        q=q,
        match=parse_enum(SearchMatch, match, "match"),
        sort=parse_enum(CredentialSort, sort, "sort"),
    )


FiltersDep = Annotated[CredentialQuery, Depends(credential_filters)]


@router.get("/inventory/credentials", response_model=CredentialPageOut)
def list_credentials(
    p: PrincipalDep,
    c: ContainerDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(description="1-1000")] = 100,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> CredentialPageOut:
    page = c.inventory.list_credentials(p, replace(filters, limit=limit, cursor=cursor))
    return CredentialPageOut(
        items=[credential_out(x) for x in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/inventory/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def export_credentials(
    p: PrincipalDep,
    c: ContainerDep,
    filters: FiltersDep,
    format: Annotated[str, Query(max_length=8, description="csv (default) or json")] = "csv",
) -> StreamingResponse:
    """Every matching credential the caller may read, streamed: CSV with a fixed header, or a
    JSON array of objects with the same fields. Metadata only, never secret material."""
    fmt = parse_enum(ExportFormat, format, "format")
    rows = c.inventory.export(p, filters)
    if fmt is ExportFormat.CSV:
        body, media = csv_lines(rows), "text/csv; charset=utf-8"
    else:
        body, media = json_array(rows), "application/json"
    disposition = f'attachment; filename="tessera-inventory.{fmt.value}"'
    return StreamingResponse(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get("/inventory/credentials/{credential_id}", response_model=CredentialOut)
def get_credential(credential_id: str, p: PrincipalDep, c: ContainerDep) -> CredentialOut:
    return credential_out(c.inventory.get_credential(p, credential_id))


@router.patch("/inventory/credentials/{credential_id}", response_model=CredentialOut)
def update_credential(
    credential_id: str, body: CredentialOwnerIn, p: PrincipalDep, c: ContainerDep
) -> CredentialOut:
    """Set the accountable owner of one credential (policy: `update` on
    `inventory/credentials/<id>`)."""
    return credential_out(c.inventory.set_credential_owner(p, credential_id, body.owner))


# -- export formats ------------------------------------------------------------------------
class ExportFormat(StrEnum):
    """What `/v1/inventory/export` writes."""

    CSV = "csv"
    JSON = "json"


EXPORT_FIELDS = (
    "id", "kind", "name", "fingerprint", "status", "source", "owner", "identity",
    "environment", "not_after", "key_type", "key_bits", "signature_algorithm", "locations",
    "first_seen_at", "last_seen_at",
)  # fmt: skip
# A spreadsheet runs a cell that starts like a formula; discovered names are anyone's text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_record(s: CredentialSummary) -> dict[str, Any]:
    """The export fields of one credential: metadata only, never attributes or secrets."""
    cr = s.credential
    return {
        "id": cr.id,
        "kind": cr.kind.value,
        "name": cr.name,
        "fingerprint": cr.fingerprint,
        "status": cr.status.value,
        "source": cr.source.value,
        "owner": cr.owner,
        "identity": s.identity_name,
        "environment": s.environment,
        "not_after": _iso(cr.not_after),
        "key_type": cr.key_type,
        "key_bits": cr.key_bits,
        "signature_algorithm": cr.signature_algorithm,
        "locations": s.location_count,
        "first_seen_at": _iso(s.first_seen_at),
        "last_seen_at": _iso(s.last_seen_at),
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when is not None else None


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    text = text.replace("\r", " ").replace("\n", " ")  # one line per credential
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(rows: Iterable[CredentialSummary]) -> Iterator[str]:
    """RFC 4180 CSV: the fixed header, then one line per credential."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(EXPORT_FIELDS)
    for row in rows:
        record = export_record(row)
        writer.writerow([_csv_cell(record[f]) for f in EXPORT_FIELDS])
        if buf.tell() > 64 * 1024:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def json_array(rows: Iterable[CredentialSummary]) -> Iterator[str]:
    """One JSON array of export records, written as it is read."""
    yield "["
    sep = "\n"
    for row in rows:
        yield sep + json.dumps(export_record(row), ensure_ascii=False)
        sep = ",\n"
    yield "\n]\n"
