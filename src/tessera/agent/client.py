"""The agent's calls to the server: log in (a token, a token file, or AppRole) and issue a
certificate from a profile. A refused token (401) is dropped and obtained again once per call.

Failures are `AgentCallError` with the HTTP status (None when the server was not reached);
messages carry the server's problem detail, never a token or key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from tessera.agent.config import AgentConfig, AppRoleAuth, AuthConfig, CertificateConfig
from tessera.api.schemas_pki import IssuedOut
from tessera.core.clock import Clock

APPROLE_LOGIN_PATH = "/v1/auth/approle/login"
LOGIN_TOKEN_FIELD = "token"  # where a login answer carries the token
RELOGIN_MARGIN = 0.1  # re-login when less than this fraction of a token's life is left
MAX_SECRET_FILE = 4096
T = TypeVar("T")


class AgentCallError(Exception):
    """A call that failed: `status` is the HTTP status, None if the server was unreachable."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Issued:
    """A certificate fresh from the server, with its key and chain (PEM)."""

    certificate_pem: str
    private_key_pem: str
    chain_pem: str
    serial: str
    not_before: datetime
    not_after: datetime


class TokenSource(Protocol):
    """Where the agent's token comes from; `invalidate` after the server refused it."""

    def token(self) -> str: ...

    def invalidate(self) -> None: ...


class StaticToken:
    """A token written in the configuration; it cannot be renewed by the agent."""

    def __init__(self, value: str) -> None:
        self._value = value

    def token(self) -> str:
        return self._value

    def invalidate(self) -> None:
        return None


class FileToken:
    """A token read from a file, read again after a refusal (something else may rotate it)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._value: str | None = None

    def token(self) -> str:
        if self._value is None:
            self._value = _read_secret(self._path, "token_file")
        return self._value

    def invalidate(self) -> None:
        self._value = None


class AppRoleToken:
    """A token from an AppRole login, obtained again before it expires or after a refusal."""

    def __init__(self, http: httpx.Client, spec: AppRoleAuth, clock: Clock) -> None:
        self._http = http
        self._spec = spec
        self._clock = clock
        self._value: str | None = None
        self._refresh_at: datetime | None = None

    def token(self) -> str:
        due = self._refresh_at is not None and self._clock.now() >= self._refresh_at
        if self._value is None or due:
            self._login()
        assert self._value is not None
        return self._value

    def invalidate(self) -> None:
        self._value = None

    def _login(self) -> None:
        spec = self._spec
        role_id = spec.role_id or _read_secret(_must(spec.role_id_file), "role_id_file")
        secret_file = spec.secret_id_file
        secret_id = _read_secret(secret_file, "secret_id_file") if secret_file else None
        body = approle_login(self._http, role_id, secret_id)
        self._value = _field(body, LOGIN_TOKEN_FIELD)
        self._refresh_at = _refresh_time(body, self._clock.now())


def approle_login(http: httpx.Client, role_id: str, secret_id: str | None) -> dict[str, Any]:
    """POST the AppRole login; returns the decoded answer (the token is in `token`)."""
    payload: dict[str, Any] = {"role_id": role_id}
    if secret_id is not None:
        payload["secret_id"] = secret_id
    resp = _post(http, APPROLE_LOGIN_PATH, payload, headers={})
    if resp.status_code >= 400:
        raise _problem(resp, "AppRole login refused")
    body = _json(resp)
    if not isinstance(body, dict):
        raise AgentCallError("unexpected AppRole login answer", resp.status_code)
    return body


def _refresh_time(body: dict[str, Any], now: datetime) -> datetime | None:
    info = body.get("info")
    raw = info.get("expires_at") if isinstance(info, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        expires = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    left = expires - now
    return now + left * (1 - RELOGIN_MARGIN) if left > timedelta(0) else now


class AgentClient:
    """Issue certificates for the agent; one shared HTTP connection pool, safe across threads."""

    def __init__(self, http: httpx.Client, tokens: TokenSource) -> None:
        self._http = http
        self._tokens = tokens
        self._lock = threading.Lock()

    def issue(self, spec: CertificateConfig) -> Issued:
        """`POST /v1/pki/issue/{profile}` with the configured names; server-generated key."""
        body: dict[str, Any] = {
            "common_name": spec.common_name,
            "alt_names": list(spec.alt_names),
            "ip_sans": list(spec.ip_sans),
            "uri_sans": list(spec.uri_sans),
            "ttl": int(spec.ttl.total_seconds()) if spec.ttl is not None else None,
            "key_type": spec.key_type,
            "identity": spec.identity,
        }
        body = {k: v for k, v in body.items() if v is not None}
        resp = self._authorized(f"/v1/pki/issue/{_seg(spec.profile)}", body)
        if resp.status_code >= 400:
            raise _problem(resp, f"issue from profile {spec.profile!r} refused")
        try:
            out = IssuedOut.model_validate(_json(resp))
        except ValidationError:
            raise AgentCallError("unexpected answer to issue", resp.status_code) from None
        cert = out.certificate
        if not out.private_key or cert.not_before is None or cert.not_after is None:
            raise AgentCallError("the server sent no private key or validity", resp.status_code)
        return Issued(
            out.certificate_pem, out.private_key, out.chain_pem,
            cert.serial, cert.not_before, cert.not_after,
        )  # fmt: skip

    def _authorized(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        resp: httpx.Response | None = None
        for _ in range(2):
            with self._lock:
                token = self._tokens.token()
            resp = _post(self._http, path, payload, headers={"X-Tessera-Token": token})
            if resp.status_code != 401:
                return resp
            with self._lock:
                self._tokens.invalidate()
        assert resp is not None
        return resp

    def close(self) -> None:
        self._http.close()


def build_client(config: AgentConfig, clock: Clock, timeout: float = 30.0) -> AgentClient:
    """The client for a configuration: its server, TLS trust and login method."""
    verify: str | bool = str(config.ca_file) if config.ca_file is not None else True
    http = httpx.Client(base_url=config.server, timeout=timeout, verify=verify)
    return AgentClient(http, token_source(config.auth, http, clock))


def token_source(auth: AuthConfig, http: httpx.Client, clock: Clock) -> TokenSource:
    if auth.token is not None:
        return StaticToken(auth.token.get_secret_value())
    if auth.token_file is not None:
        return FileToken(auth.token_file)
    return AppRoleToken(http, _must(auth.approle), clock)


def _post(
    http: httpx.Client, path: str, payload: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    try:
        return http.post(path, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        raise AgentCallError(f"cannot reach the server: {type(exc).__name__}") from None


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise AgentCallError("the server's answer is not JSON", resp.status_code) from None


def _problem(resp: httpx.Response, what: str) -> AgentCallError:
    detail = ""
    try:
        body = resp.json()
        if isinstance(body, dict):
            detail = str(body.get("detail") or body.get("title") or "")[:500]
    except ValueError:
        pass
    return AgentCallError(f"{what}: HTTP {resp.status_code} {detail}".rstrip(), resp.status_code)


def _read_secret(path: Path, field: str) -> str:
    try:
        with path.open("rb") as fh:
            value = fh.read(MAX_SECRET_FILE).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise AgentCallError(f"cannot read {field} {path}") from None
    if not value or not (value.isascii() and value.isprintable()):
        raise AgentCallError(f"{field} {path} holds no usable value")
    return value


def _must(value: T | None) -> T:
    assert value is not None  # guaranteed by the configuration's validators
    return value


def _seg(name: str) -> str:
    return quote(name, safe="")


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise AgentCallError(f"login answer carries no {name!r}")
    return value
