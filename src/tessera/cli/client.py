"""The typed HTTP client every CLI command (and later the agent) uses to reach the server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from tessera.api import schemas, schemas_pki, schemas_ssh
from tessera.config import DEFAULT_LISTEN

M = TypeVar("M", bound=BaseModel)
TOKEN_FILE = Path.home() / ".tessera-token"


class ClientError(Exception):
    """Anything that went wrong talking to the server, in one printable line."""

    def __init__(self, message: str, status: int | None = None, type_uri: str | None = None):
        super().__init__(message)
        self.status = status
        self.type_uri = type_uri


def default_addr() -> str:
    return os.environ.get("TESSERA_ADDR", f"http://{DEFAULT_LISTEN}")


def default_token() -> str | None:
    token = os.environ.get("TESSERA_TOKEN")
    if token:
        return token
    try:
        return TOKEN_FILE.read_text().strip() or None
    except OSError:
        return None


class TesseraClient:
    """One method per API operation, returning the response model; every failure
    (network, HTTP problem, unexpected body) is raised as a ClientError."""

    def __init__(self, addr: str, token: str | None, timeout: float = 30.0) -> None:
        self.addr = addr.rstrip("/")
        if not self.addr.startswith(("http://", "https://")):
            raise ClientError(f"TESSERA_ADDR must start with http:// or https://, got {addr!r}")
        if token is not None and not (token.isascii() and token.isprintable()):
            raise ClientError("the token contains characters no Tessera token has")
        self.token = token
        try:
            self._http = httpx.Client(base_url=self.addr, timeout=timeout)
        except (httpx.InvalidURL, ValueError):
            raise ClientError(f"TESSERA_ADDR is not a valid URL: {addr!r}") from None

    def close(self) -> None:
        self._http.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        headers = {}
        if auth:
            if not self.token:
                raise ClientError("no token: set TESSERA_TOKEN or run 'tessera login'")
            headers["X-Tessera-Token"] = self.token
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._http.request(method, path, json=json, params=clean, headers=headers)
        except httpx.HTTPError as exc:
            raise ClientError(
                f"cannot reach Tessera at {self.addr}: {type(exc).__name__}"
            ) from None
        health = path == "/v1/sys/health" and resp.status_code in (501, 503)
        if resp.status_code >= 400 and not health:
            raise _error(resp)
        return resp

    def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> M:
        resp = self._send(method, path, json=json, params=params, auth=auth)
        try:
            return model.model_validate(resp.json())
        except ValueError:
            raise ClientError(
                f"unexpected answer from {self.addr} (HTTP {resp.status_code})"
            ) from None

    def request(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> M:
        """A call answered by `model` (for command modules of newer domains); `auth=False` for
        endpoints where the body is the proof (logins, API key successor pickup)."""
        return self._call(method, path, model, json=json, params=params, auth=auth)

    def delete(self, path: str) -> None:
        self._send("DELETE", path)

    # -- sys --------------------------------------------------------------------------------
    def health(self) -> schemas.HealthOut:
        return self._call("GET", "/v1/sys/health", schemas.HealthOut, auth=False)

    def seal_status(self) -> schemas.SealStatusOut:
        return self._call("GET", "/v1/sys/seal-status", schemas.SealStatusOut, auth=False)

    def init(self, shares: int, threshold: int) -> schemas.InitOut:
        body = {"secret_shares": shares, "secret_threshold": threshold}
        return self._call("POST", "/v1/sys/init", schemas.InitOut, json=body, auth=False)

    def unseal(self, key: str | None, reset: bool = False) -> schemas.SealStatusOut:
        return self._call(
            "POST",
            "/v1/sys/unseal",
            schemas.SealStatusOut,
            json={"key": key, "reset": reset},
            auth=False,
        )

    def seal(self) -> schemas.SealStatusOut:
        return self._call("POST", "/v1/sys/seal", schemas.SealStatusOut)

    def rotate(self) -> schemas.RotateOut:
        return self._call("POST", "/v1/sys/rotate", schemas.RotateOut)

    # -- tokens -----------------------------------------------------------------------------
    def token_create(self, body: schemas.TokenCreateIn) -> schemas.TokenCreatedOut:
        return self._call(
            "POST",
            "/v1/auth/token/create",
            schemas.TokenCreatedOut,
            json=body.model_dump(exclude_none=True),
        )

    def token_lookup_self(self) -> schemas.TokenOut:
        return self._call("GET", "/v1/auth/token/lookup-self", schemas.TokenOut)

    def token_lookup(
        self, token: str | None = None, accessor: str | None = None
    ) -> schemas.TokenOut:
        if accessor is not None:
            return self._call(
                "POST",
                "/v1/auth/token/lookup-accessor",
                schemas.TokenOut,
                json={"accessor": accessor},
            )
        return self._call("POST", "/v1/auth/token/lookup", schemas.TokenOut, json={"token": token})

    def token_renew(
        self, token: str | None, accessor: str | None, increment: str | None
    ) -> schemas.TokenOut:
        if token is None and accessor is None:
            return self._call(
                "POST", "/v1/auth/token/renew-self", schemas.TokenOut, json={"increment": increment}
            )
        body = {"token": token, "accessor": accessor, "increment": increment}
        return self._call(
            "POST",
            "/v1/auth/token/renew",
            schemas.TokenOut,
            json={k: v for k, v in body.items() if v is not None},
        )

    def token_revoke(self, token: str | None, accessor: str | None) -> schemas.RevokedOut:
        if accessor is not None:
            return self._call(
                "POST",
                "/v1/auth/token/revoke-accessor",
                schemas.RevokedOut,
                json={"accessor": accessor},
            )
        if token is not None:
            return self._call(
                "POST", "/v1/auth/token/revoke", schemas.RevokedOut, json={"token": token}
            )
        return self._call("POST", "/v1/auth/token/revoke-self", schemas.RevokedOut)

    # -- policies ---------------------------------------------------------------------------
    def policy_write(self, name: str, doc: dict[str, Any]) -> schemas.PolicyOut:
        return self._call("PUT", f"/v1/sys/policies/{_seg(name)}", schemas.PolicyOut, json=doc)

    def policy_read(self, name: str) -> schemas.PolicyOut:
        return self._call("GET", f"/v1/sys/policies/{_seg(name)}", schemas.PolicyOut)

    def policy_list(self) -> schemas.NamesOut:
        return self._call("GET", "/v1/sys/policies", schemas.NamesOut)

    def policy_delete(self, name: str) -> None:
        self._send("DELETE", f"/v1/sys/policies/{_seg(name)}")

    # -- identities and inventory -----------------------------------------------------------
    def identity_create(self, body: schemas.IdentityIn) -> schemas.IdentityOut:
        return self._call("POST", "/v1/identities", schemas.IdentityOut, json=body.model_dump())

    def identity_list(self, **params: Any) -> schemas.IdentityPageOut:
        return self._call("GET", "/v1/identities", schemas.IdentityPageOut, params=params)

    def identity_show(self, name: str) -> schemas.IdentityOut:
        return self._call("GET", f"/v1/identities/{_seg(name)}", schemas.IdentityOut)

    def identity_update(self, name: str, body: schemas.IdentityPatch) -> schemas.IdentityOut:
        return self._call(
            "PATCH",
            f"/v1/identities/{_seg(name)}",
            schemas.IdentityOut,
            json=body.model_dump(exclude_none=True),
        )

    def identity_decommission(self, name: str) -> schemas.DecommissionOut:
        return self._call(
            "POST", f"/v1/identities/{_seg(name)}/decommission", schemas.DecommissionOut
        )

    def credentials(self, **params: Any) -> schemas.CredentialPageOut:
        return self._call(
            "GET", "/v1/inventory/credentials", schemas.CredentialPageOut, params=params
        )

    # -- pki: CAs ---------------------------------------------------------------------------
    def ca_create(self, body: schemas_pki.CACreateIn) -> schemas_pki.CAOut:
        return self._call("POST", "/v1/pki/cas", schemas_pki.CAOut, json=body.model_dump())

    def ca_list(self) -> schemas_pki.CAListOut:
        return self._call("GET", "/v1/pki/cas", schemas_pki.CAListOut)

    def ca_show(self, name: str) -> schemas_pki.CAOut:
        return self._call("GET", f"/v1/pki/cas/{_seg(name)}", schemas_pki.CAOut)

    def ca_import(self, name: str, body: schemas_pki.CAImportIn) -> schemas_pki.CAOut:
        return self._call(
            "POST", f"/v1/pki/cas/{_seg(name)}/import", schemas_pki.CAOut, json=body.model_dump()
        )

    def ca_rollover(self, name: str, body: schemas_pki.CARolloverIn) -> schemas_pki.CAOut:
        return self._call(
            "POST",
            f"/v1/pki/cas/{_seg(name)}/rollover",
            schemas_pki.CAOut,
            json=body.model_dump(exclude_none=True),
        )

    def ca_revoke(self, name: str, body: schemas_pki.CARevokeIn) -> schemas_pki.CAOut:
        return self._call(
            "POST", f"/v1/pki/cas/{_seg(name)}/revoke", schemas_pki.CAOut, json=body.model_dump()
        )

    def crl(self, crl_url: str, pem: bool = False) -> bytes:
        """The CA's public CRL (DER, or PEM from the sibling `crl.pem`); sent without a token."""
        if not crl_url.startswith(("http://", "https://")) or not crl_url.endswith("/crl.der"):
            raise ClientError(f"unexpected CRL URL from {self.addr}: {crl_url[:200]!r}")
        url = crl_url.removesuffix("crl.der") + "crl.pem" if pem else crl_url
        return self._send("GET", url, auth=False).content

    # -- pki: profiles ----------------------------------------------------------------------
    def profile_write(self, name: str, body: schemas_pki.ProfileIO) -> schemas_pki.ProfileOut:
        return self._call(
            "PUT",
            f"/v1/pki/profiles/{_seg(name)}",
            schemas_pki.ProfileOut,
            json=body.model_dump(mode="json", exclude_none=True),
        )

    def profile_read(self, name: str) -> schemas_pki.ProfileOut:
        return self._call("GET", f"/v1/pki/profiles/{_seg(name)}", schemas_pki.ProfileOut)

    def profile_list(self) -> schemas.NamesOut:
        return self._call("GET", "/v1/pki/profiles", schemas.NamesOut)

    def profile_delete(self, name: str) -> None:
        self._send("DELETE", f"/v1/pki/profiles/{_seg(name)}")

    # -- pki: certificates ------------------------------------------------------------------
    def cert_issue(self, profile: str, body: schemas_pki.IssueIn) -> schemas_pki.IssuedOut:
        return self._call(
            "POST",
            f"/v1/pki/issue/{_seg(profile)}",
            schemas_pki.IssuedOut,
            json=body.model_dump(exclude_none=True),
        )

    def cert_sign(self, profile: str, body: schemas_pki.SignIn) -> schemas_pki.IssuedOut:
        return self._call(
            "POST",
            f"/v1/pki/sign/{_seg(profile)}",
            schemas_pki.IssuedOut,
            json=body.model_dump(exclude_none=True),
        )

    def cert_renew(self, cert_id: str, body: schemas_pki.RenewIn) -> schemas_pki.IssuedOut:
        return self._call(
            "POST",
            f"/v1/pki/certs/{_seg(cert_id)}/renew",
            schemas_pki.IssuedOut,
            json=body.model_dump(exclude_none=True),
        )

    def cert_revoke(self, body: schemas_pki.RevokeIn) -> schemas_pki.RevokeOut:
        return self._call(
            "POST", "/v1/pki/revoke", schemas_pki.RevokeOut, json=body.model_dump(exclude_none=True)
        )

    def cert_list(self, **params: Any) -> schemas_pki.CertPageOut:
        return self._call("GET", "/v1/pki/certs", schemas_pki.CertPageOut, params=params)

    def cert_show(self, cert_id: str) -> schemas_pki.CertOut:
        return self._call("GET", f"/v1/pki/certs/{_seg(cert_id)}", schemas_pki.CertOut)

    # -- ssh --------------------------------------------------------------------------------
    def ssh_ca_create(self, body: schemas_ssh.SshCaIn) -> schemas_ssh.SshCaOut:
        return self._call("POST", "/v1/ssh/cas", schemas_ssh.SshCaOut, json=body.model_dump())

    def ssh_ca_list(self) -> schemas_ssh.SshCaListOut:
        return self._call("GET", "/v1/ssh/cas", schemas_ssh.SshCaListOut)

    def ssh_ca_rotate(self, name: str) -> schemas_ssh.SshCaOut:
        return self._call("POST", f"/v1/ssh/cas/{_seg(name)}/rotate", schemas_ssh.SshCaOut, json={})

    def ssh_public_keys(self, name: str) -> list[str]:
        """Every trusted public key line of a CA, current first; sent without a token."""
        resp = self._send("GET", f"/v1/ssh/public/{_seg(name)}", auth=False)
        return [line.strip() for line in resp.text.splitlines() if line.strip()]

    def ssh_role_write(self, name: str, body: schemas_ssh.SshRoleIO) -> schemas_ssh.SshRoleOut:
        return self._call(
            "PUT",
            f"/v1/ssh/roles/{_seg(name)}",
            schemas_ssh.SshRoleOut,
            json=body.model_dump(mode="json", exclude_none=True),
        )

    def ssh_role_read(self, name: str) -> schemas_ssh.SshRoleOut:
        return self._call("GET", f"/v1/ssh/roles/{_seg(name)}", schemas_ssh.SshRoleOut)

    def ssh_role_list(self) -> schemas.NamesOut:
        return self._call("GET", "/v1/ssh/roles", schemas.NamesOut)

    def ssh_sign(self, role: str, body: schemas_ssh.SshSignIn) -> schemas_ssh.SshSignedOut:
        return self._call(
            "POST",
            f"/v1/ssh/sign/{_seg(role)}",
            schemas_ssh.SshSignedOut,
            json=body.model_dump(exclude_none=True),
        )

    def ssh_revoke(self, body: schemas_ssh.SshRevokeIn) -> schemas_ssh.SshRevokedOut:
        return self._call(
            "POST",
            "/v1/ssh/revoke",
            schemas_ssh.SshRevokedOut,
            json=body.model_dump(exclude_none=True),
        )

    def ssh_krl(self, ca: str | None = None) -> bytes:
        """The KRL (OpenSSH binary format) of one CA, or of every CA; sent without a token."""
        path = f"/v1/ssh/public/{_seg(ca)}/krl" if ca is not None else "/v1/ssh/krl"
        return self._send("GET", path, auth=False).content


def _seg(name: str) -> str:
    """One path segment, percent-encoded, so a name can never climb to another path."""
    return quote(name, safe="")


def _error(resp: httpx.Response) -> ClientError:
    try:
        body = resp.json()
        title, detail = body.get("title", ""), body.get("detail", "")
        message = str(detail or title)
        return ClientError(
            message or f"HTTP {resp.status_code}", resp.status_code, body.get("type")
        )
    except ValueError:
        return ClientError(f"HTTP {resp.status_code} from server", resp.status_code)
