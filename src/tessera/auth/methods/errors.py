"""Errors of the auth methods: a refused login tells the caller nothing about which part of
the proof was wrong; the precise reason goes to the audit trail only."""

from __future__ import annotations

from tessera.core.errors import TesseraError


class LoginRefused(TesseraError):
    """Raised when a login's proof is not accepted (unknown role, wrong or spent secret,
    source address outside the bound CIDR blocks)."""

    status, slug, title = 401, "login-refused", "Login refused"

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason  # for the audit trail, never for the caller
