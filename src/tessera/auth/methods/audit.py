"""Login outcomes on the request's audit lines: the gate middleware writes the response line
with these annotations (no secrets: role names, accessors and reasons only)."""

from __future__ import annotations

from tessera.auth.methods.ratelimit import LoginGuard
from tessera.auth.models import CreatedToken
from tessera.core.context import annotate_auth, annotate_decision
from tessera.core.errors import RateLimited


def admit(guard: LoginGuard, method: str, source: str, key: str) -> None:
    """The guard's admission, with a throttled attempt recorded for the audit trail."""
    try:
        guard.admit(method, source, key)
    except RateLimited as exc:
        login_refused(method, f"rate limited: {exc.detail}", None)
        raise


def login_refused(method: str, reason: str, role: str | None) -> None:
    annotate_decision(
        {
            "path": f"auth/{method}/login",
            "capability": "login",
            "allowed": False,
            "reasons": [reason],
            "role": role,
        }
    )


def login_accepted(method: str, role: str, created: CreatedToken) -> None:
    info = created.info
    annotate_decision(
        {
            "path": f"auth/{method}/login",
            "capability": "login",
            "allowed": True,
            "reasons": [f"{method} role {role!r}"],
            "role": role,
        }
    )
    annotate_auth(
        {
            "accessor": info.accessor,
            "policies": list(info.policies),
            "display_name": info.display_name,
            "identity_id": info.identity_id,
            "auth_method": method,
        }
    )
