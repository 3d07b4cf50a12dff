"""Per-request context shared by the API middleware, services and the audit trail.

The holder is a mutable object placed in a contextvar by the middleware; services (even in
worker threads, which receive a copy of the context) annotate it for the audit response line.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestContext:
    """One request's audit annotations: who called, policy decisions, error slug."""

    request_id: str
    remote_addr: str = ""
    auth: dict[str, Any] | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


current_request: ContextVar[RequestContext | None] = ContextVar("tessera_request", default=None)


def annotate_decision(summary: dict[str, Any]) -> None:
    ctx = current_request.get()
    if ctx is not None:
        ctx.decisions.append(summary)


def annotate_auth(auth: dict[str, Any]) -> None:
    ctx = current_request.get()
    if ctx is not None:
        ctx.auth = auth


def annotate_error(slug: str) -> None:
    ctx = current_request.get()
    if ctx is not None:
        ctx.error = slug
