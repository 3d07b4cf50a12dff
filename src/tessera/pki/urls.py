"""Public URLs of a CA (no authentication): its certificate, CRL and OCSP responder."""

from __future__ import annotations

PUBLIC_PREFIX = "/v1/pki/public/"


def ca_cert_url(base: str, ca_id: str) -> str:
    return f"{base.rstrip('/')}{PUBLIC_PREFIX}{ca_id}/ca.der"


def crl_url(base: str, ca_id: str) -> str:
    return f"{base.rstrip('/')}{PUBLIC_PREFIX}{ca_id}/crl.der"


def ocsp_url(base: str, ca_id: str) -> str:
    return f"{base.rstrip('/')}{PUBLIC_PREFIX}{ca_id}/ocsp"
