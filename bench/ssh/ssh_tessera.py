"""The Tessera side: SSH CA, role and bench token (over HTTP or in-process), signing rates, the
counts of stored certificates, and what pyca/cryptography alone costs per certificate.

Contract: `setup_http(addr, root_token)` creates the user CA `bench-users` (Ed25519), the role
`bench` (CA `bench-users`, principal `deploy`, ttl 1h) and the policy `bench-ssh`
(`ssh/sign/bench`: create), and returns a `TesseraSsh` with a non-root token holding only that
policy and the CA's public key line. `setup_inproc(container, root)` does the same through the
services and also returns the bench `Principal`. `sign_rate(c, principal, keys, threads, count,
cap)` calls `c.ssh.sign(principal, SignRequest(role="bench", principals=("deploy",),
public_key=key))` `count` times in all from `threads` threads (keys in a cycle), or until
`cap` seconds have passed. `count_rows(c, status)` is `SELECT count(*) FROM ssh_certificates
WHERE status = :status`; `count_credentials_http(addr, root_token)` pages through
`GET /v1/inventory/credentials?kind=ssh_certificate&limit=1000`. `pyca_rate(keys, count,
threads)` loads each OpenSSH key and builds and signs the certificate Tessera builds (user,
serial, key id, one principal, validity, permit-pty) with an Ed25519 key: nothing stored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pki_inproc import Rate, _timed
from sqlalchemy import text
from ssh_keys import PRINCIPAL

from tessera.app import Container
from tessera.auth.models import CreateTokenRequest, Principal
from tessera.ssh import CertType, SignRequest, SshCaKeyType

CA_NAME = "bench-users"
ROLE = "bench"
ROLE_DOC: dict[str, object] = {"ca": CA_NAME, "allowed_principals": [PRINCIPAL], "ttl": "1h"}
POLICY_NAME = "bench-ssh"
POLICY = {
    "description": "SSH benchmark: sign keys with role bench",
    "rules": [{"path": f"ssh/sign/{ROLE}", "capabilities": ["create"]}],
}
SIGN_PATH = f"/v1/ssh/sign/{ROLE}"
TOKEN_HEADER = "X-Tessera-Token"


@dataclass
class TesseraSsh:
    token: str  # non-root, holds POLICY only
    ca_public_key: str  # OpenSSH line


def setup_http(addr: str, root_token: str) -> TesseraSsh:
    with httpx.Client(base_url=addr, headers={TOKEN_HEADER: root_token}, timeout=60) as c:
        ca = c.post(
            "/v1/ssh/cas", json={"name": CA_NAME, "cert_type": "user", "key_type": "ed25519"}
        )
        ca.raise_for_status()
        c.put(f"/v1/ssh/roles/{ROLE}", json=ROLE_DOC).raise_for_status()
        c.put(f"/v1/sys/policies/{POLICY_NAME}", json=POLICY).raise_for_status()
        made = c.post(
            "/v1/auth/token/create",
            json={"policies": [POLICY_NAME], "ttl": "24h", "display_name": "bench-ssh"},
        )
        made.raise_for_status()
        token = str(made.json()["token"])
    info = httpx.get(f"{addr}/v1/auth/token/lookup-self", headers={TOKEN_HEADER: token})
    info.raise_for_status()
    policies = info.json()["policies"]
    if "root" in policies or POLICY_NAME not in policies:
        raise RuntimeError(f"unexpected bench token policies: {policies}")
    return TesseraSsh(token=token, ca_public_key=str(ca.json()["public_key"]))


def setup_inproc(c: Container, root: Principal) -> tuple[TesseraSsh, Principal]:
    ca = c.ssh.create_ca(root, CA_NAME, CertType.USER, SshCaKeyType.ED25519)
    c.ssh.write_role(root, ROLE, dict(ROLE_DOC))
    c.policies.write(root, POLICY_NAME, POLICY)
    token = c.tokens.create(
        root, CreateTokenRequest(policies=(POLICY_NAME,), display_name="bench-ssh")
    ).token
    principal = c.tokens.authenticate(token)
    assert not principal.is_root and POLICY_NAME in principal.policy_names
    return TesseraSsh(token=token, ca_public_key=ca.public_key), principal


def sign_request(key: str) -> SignRequest:
    return SignRequest(role=ROLE, principals=(PRINCIPAL,), public_key=key)


def sign_rate(
    c: Container, principal: Principal, keys: Sequence[str], threads: int, count: int, cap: float
) -> Rate:
    def sign(i: int) -> object:
        return c.ssh.sign(principal, sign_request(keys[i % len(keys)]))

    return _timed(f"ssh.sign, {threads} thread(s), stored", threads, count, cap, sign)


def count_rows(c: Container, status: str = "issued") -> int:
    with c.db.session() as s:
        query = text("SELECT count(*) FROM ssh_certificates WHERE status = :status")
        return int(s.execute(query, {"status": status}).scalar_one())


def count_credentials_http(addr: str, root_token: str) -> int:
    total, cursor = 0, None
    with httpx.Client(base_url=addr, headers={TOKEN_HEADER: root_token}, timeout=60) as c:
        while True:
            params = {"kind": "ssh_certificate", "limit": "1000"}
            if cursor:
                params["cursor"] = cursor
            r = c.get("/v1/inventory/credentials", params=params)
            r.raise_for_status()
            page = r.json()
            total += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return total


def pyca_rate(keys: Sequence[str], count: int, threads: int = 1, cap: float = 30.0) -> Rate:
    ca_key = ed25519.Ed25519PrivateKey.generate()

    def sign(i: int) -> bytes:
        public = serialization.load_ssh_public_key(keys[i % len(keys)].encode())
        now = int(time.time())
        cert = (
            serialization.SSHCertificateBuilder()
            .public_key(public)  # type: ignore[arg-type]
            .serial(int.from_bytes(os.urandom(8), "big") or 1)
            .type(serialization.SSHCertificateType.USER)
            .key_id(f"bench-ssh@{ROLE}#{i}".encode())
            .valid_principals([PRINCIPAL.encode()])
            .valid_after(now - 30)
            .valid_before(now + 3600)
            .add_extension(b"permit-pty", b"")
            .sign(ca_key)
        )
        return cert.public_bytes()

    name = f"pyca/cryptography only: key -> signed certificate, {threads} thread(s)"
    return _timed(name, threads, count, cap, sign)
