"""`/v1/pki/public/{ca_id}/*`: what relying parties fetch without a token — the CA
certificate (caIssuers), the CRL (DER and PEM) and the OCSP responder (RFC 6960 GET and POST)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from tessera.api.deps import ContainerDep
from tessera.pki.ocsp import MAX_REQUEST
from tessera.pki.pem import armor

router = APIRouter(prefix="/v1/pki/public", tags=["pki-public"])
OCSP_RESPONSE = "application/ocsp-response"
OCSP_GET_CACHE = {"Cache-Control": "public, max-age=60, no-transform, must-revalidate"}
CACHE = {"Cache-Control": "public, max-age=60"}  # CRLs change within a second of a revocation


@router.get("/{ca_id}/ca.der", summary="CA certificate (DER)")
def ca_der(ca_id: str, c: ContainerDep) -> Response:
    return Response(c.pki.cas.certificate_der(ca_id), media_type="application/pkix-cert")


@router.get("/{ca_id}/ca.pem", summary="CA certificate (PEM)")
def ca_pem(ca_id: str, c: ContainerDep) -> Response:
    pem = armor(c.pki.cas.certificate_der(ca_id), "CERTIFICATE")
    return Response(pem, media_type="application/x-pem-file")


@router.get("/{ca_id}/crl.der", summary="CRL (DER)")
def crl_der(ca_id: str, c: ContainerDep) -> Response:
    crl = c.pki.crls.current(ca_id)
    return Response(crl.der, media_type="application/pkix-crl", headers=CACHE)


@router.get("/{ca_id}/crl.pem", summary="CRL (PEM)")
def crl_pem(ca_id: str, c: ContainerDep) -> Response:
    crl = c.pki.crls.current(ca_id)
    return Response(crl.pem, media_type="application/x-pem-file", headers=CACHE)


@router.post("/{ca_id}/ocsp", summary="OCSP (POST, RFC 6960 A.1)")
async def ocsp_post(ca_id: str, request: Request, c: ContainerDep) -> Response:
    body = (await request.body())[: MAX_REQUEST + 1]
    # a repeated request is answered on the loop; anything needing the database or a
    # signature goes to a thread
    der = c.pki.ocsp.respond_cached(ca_id, body)
    if der is None:
        der = await run_in_threadpool(c.pki.ocsp.respond, ca_id, body)
    return Response(der, media_type=OCSP_RESPONSE)


@router.get("/{ca_id}/ocsp/{encoded:path}", summary="OCSP (GET, RFC 6960 A.1)")
def ocsp_get(ca_id: str, encoded: str, c: ContainerDep) -> Response:
    try:
        der = base64.b64decode(unquote(encoded), validate=True)
    except (binascii.Error, ValueError):
        der = b""  # answered as malformedRequest
    # RFC 5019 §6.2: GET answers may be cached by HTTP caches, briefly (a revocation must show)
    return Response(
        c.pki.ocsp.respond(ca_id, der), media_type=OCSP_RESPONSE, headers=OCSP_GET_CACHE
    )
