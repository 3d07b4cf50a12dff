"""Bodies of the TLS certificate auth method's role management; field descriptions become the
OpenAPI documentation. The login itself is served by the mutual-TLS listener, not this API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tessera.api.schemas import DURATION_DOC, TIME_DOC, Duration, Strict

PATTERN_DOC = (
    "'*' matches one DNS label or one URI path segment, '**' anything; a pattern without '*' "
    "must match exactly (e.g. a SPIFFE ID)."
)


class CertRoleIn(Strict):
    """A cert login role: its trust anchors, the SANs it accepts and what a login grants."""

    allowed_cas: list[str] = Field(
        [], max_length=16, description="Names of Tessera CAs whose certificates are accepted."
    )
    trusted_ca_pems: list[str] = Field(
        [],
        max_length=16,
        description="Extra CA certificates (PEM, one per entry) trusted as anchors; include "
        "an external CA's intermediates here.",
    )
    allowed_dns_sans: list[str] = Field(
        [], max_length=64, description="DNS SAN patterns, e.g. '*.prod.example.com'. " + PATTERN_DOC
    )
    allowed_uri_sans: list[str] = Field(
        [],
        max_length=64,
        description="URI SAN patterns, e.g. 'spiffe://example.org/ns/*/sa/billing'. " + PATTERN_DOC,
    )
    identity: str | None = Field(None, description="Identity the tokens are bound to.")
    policies: list[str] = Field([], max_length=64, description="Policies of the tokens.")
    token_ttl: Duration = Field("1h", description=DURATION_DOC)
    token_max_ttl: Duration = Field("24h", description=DURATION_DOC)


class CertRoleOut(BaseModel):
    """A stored cert role."""

    name: str
    allowed_cas: list[str] = Field(description="Tessera CA names trusted as anchors.")
    trusted_ca_pems: list[str] = Field(description="Extra CA certificates trusted (PEM).")
    allowed_dns_sans: list[str] = Field(description="Accepted DNS SAN patterns.")
    allowed_uri_sans: list[str] = Field(description="Accepted URI SAN patterns.")
    identity: str | None = Field(description="Identity the tokens are bound to.")
    policies: list[str] = Field(description="Policies of the tokens.")
    token_ttl: int = Field(description="Seconds.")
    token_max_ttl: int = Field(description="Seconds.")
    created_at: datetime = Field(description=TIME_DOC)
    updated_at: datetime = Field(description=TIME_DOC)


class CertLoginIn(Strict):
    """The body of `POST /v1/auth/cert/login` on the TLS login listener."""

    role: str | None = Field(
        None, max_length=128, description="Role to log in with; none: the first that accepts."
    )
