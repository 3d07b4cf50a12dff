"""`/v1/kv/*`: versioned KV secrets (data, delete, undelete, destroy, metadata, list).
Policy paths are `kv/<operation>/<path>`; see `tessera.secrets.kv`."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.schemas_kv import (
    KvGenerator,
    KvListOut,
    KvMetadataIn,
    KvMetadataOut,
    KvReadOut,
    KvVersionOut,
    KvVersionsIn,
    KvWriteIn,
)
from tessera.core.durations import parse_duration
from tessera.core.paging import MAX_PAGE
from tessera.secrets.kv_models import (
    GeneratorSpec,
    Metadata,
    MetadataUpdate,
    VersionInfo,
    WriteRequest,
)

router = APIRouter(prefix="/v1/kv", tags=["kv"])


def version_out(v: VersionInfo) -> KvVersionOut:
    return KvVersionOut(
        version=v.version, created_at=v.created_at, deleted_at=v.deleted_at, destroyed=v.destroyed
    )


def metadata_out(m: Metadata) -> KvMetadataOut:
    period = m.rotation_period
    return KvMetadataOut(
        path=m.path,
        current_version=m.current_version,
        oldest_version=m.oldest_version,
        max_versions=m.max_versions,
        cas_required=m.cas_required,
        custom_metadata=dict(m.custom_metadata),
        owner=m.owner,
        rotation_period=int(period.total_seconds()) if period else None,
        generate=(
            KvGenerator(field=g.field, length=g.length, alphabet=g.alphabet)
            if (g := m.generate)
            else None
        ),
        rotation_due_at=m.rotation_due_at,
        created_at=m.created_at,
        updated_at=m.updated_at,
        versions=[version_out(v) for v in m.versions],
        credential_id=m.credential_id,
        last_rotated_at=m.last_rotated_at,
        last_used_at=m.last_used_at,
    )


@router.post("/data/{path:path}", response_model=KvVersionOut, summary="Write a new version")
@router.put("/data/{path:path}", response_model=KvVersionOut, include_in_schema=False)
def write(path: str, body: KvWriteIn, p: PrincipalDep, c: ContainerDep) -> KvVersionOut:
    req = WriteRequest(path=path, data=body.data, cas=body.options.cas)
    return version_out(c.kv.write(p, req))


@router.get("/data/{path:path}", response_model=KvReadOut, summary="Read a version")
def read(
    path: str,
    p: PrincipalDep,
    c: ContainerDep,
    version: int | None = Query(None, ge=1, description="Version (default: the latest)."),
) -> KvReadOut:
    got = c.kv.read(p, path, version)
    return KvReadOut(
        data=dict(got.data),
        metadata=version_out(got.version),
        custom_metadata=dict(got.custom_metadata),
    )


@router.delete("/data/{path:path}", status_code=204, summary="Soft-delete the latest version")
def delete_latest(path: str, p: PrincipalDep, c: ContainerDep) -> Response:
    c.kv.delete_latest(p, path)
    return Response(status_code=204)


@router.post("/delete/{path:path}", status_code=204, summary="Soft-delete versions")
def delete_versions(path: str, body: KvVersionsIn, p: PrincipalDep, c: ContainerDep) -> Response:
    c.kv.delete_versions(p, path, tuple(body.versions))
    return Response(status_code=204)


@router.post("/undelete/{path:path}", status_code=204, summary="Undelete versions")
def undelete(path: str, body: KvVersionsIn, p: PrincipalDep, c: ContainerDep) -> Response:
    c.kv.undelete(p, path, tuple(body.versions))
    return Response(status_code=204)


@router.post("/destroy/{path:path}", status_code=204, summary="Destroy versions for good")
def destroy(path: str, body: KvVersionsIn, p: PrincipalDep, c: ContainerDep) -> Response:
    c.kv.destroy(p, path, tuple(body.versions))
    return Response(status_code=204)


@router.get("/metadata/{path:path}", response_model=KvMetadataOut, summary="Read metadata")
def read_metadata(path: str, p: PrincipalDep, c: ContainerDep) -> KvMetadataOut:
    return metadata_out(c.kv.read_metadata(p, path))


@router.post("/metadata/{path:path}", response_model=KvMetadataOut, summary="Write metadata")
@router.put("/metadata/{path:path}", response_model=KvMetadataOut, include_in_schema=False)
def write_metadata(
    path: str, body: KvMetadataIn, p: PrincipalDep, c: ContainerDep
) -> KvMetadataOut:
    period = body.rotation_period
    req = MetadataUpdate(
        max_versions=body.max_versions,
        cas_required=body.cas_required,
        custom_metadata=body.custom_metadata,
        owner=body.owner,
        rotation_period=parse_duration(period, "rotation_period") if period is not None else None,
        generate=GeneratorSpec(gen.field, gen.length, gen.alphabet)
        if (gen := body.generate)
        else None,
        clear_generate=body.clear_generate,
    )
    return metadata_out(c.kv.write_metadata(p, path, req))


@router.post("/rotate/{path:path}", response_model=KvVersionOut, summary="Rotate now")
def rotate(path: str, p: PrincipalDep, c: ContainerDep) -> KvVersionOut:
    """Write a new version with the generated field made afresh, other fields carried over
    (policy: kv/data/<path> update). The previous version stays readable."""
    return version_out(c.kv.rotate(p, path))


@router.delete("/metadata/{path:path}", status_code=204, summary="Delete every version")
def delete_metadata(path: str, p: PrincipalDep, c: ContainerDep) -> Response:
    c.kv.delete_metadata(p, path)
    return Response(status_code=204)


LimitQ = Query(MAX_PAGE, description=f"Page size, 1-{MAX_PAGE}.")
CursorQ = Query(None, max_length=1024, description="From next_cursor.")


@router.get("/list", response_model=KvListOut, summary="List the top-level keys")
def list_root(
    p: PrincipalDep, c: ContainerDep, limit: int = LimitQ, cursor: str | None = CursorQ
) -> KvListOut:
    return list_keys("", p, c, limit, cursor)


@router.get("/list/{prefix:path}", response_model=KvListOut, summary="List keys under a prefix")
def list_keys(
    prefix: str, p: PrincipalDep, c: ContainerDep, limit: int = LimitQ, cursor: str | None = CursorQ
) -> KvListOut:
    page = c.kv.list_keys(p, prefix, limit, cursor)
    return KvListOut(keys=list(page.keys), next_cursor=page.next_cursor)
