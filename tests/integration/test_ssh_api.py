"""SSH CA over real HTTP: create CAs, write roles, sign, fetch the public key without a token,
and typed refusals that record nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.conftest import ServerProcess, dev_root_token, start_server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("ssh") / "d", "--dev")
    yield server
    server.stop()


def _key(key: object) -> str:
    return (
        key.public_key()
        .public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        .decode()
    )


def _count(c: httpx.Client) -> int:
    page = c.get("/v1/inventory/credentials", params={"kind": "ssh_certificate", "limit": 1000})
    return len(page.json()["items"])


def test_sign_over_http_and_public_key_without_token(srv: ServerProcess, tmp_path: Path) -> None:
    with srv.client(dev_root_token(srv)) as c:
        r = c.post("/v1/ssh/cas", json={"name": "u", "cert_type": "user", "key_type": "rsa-3072"})
        assert r.status_code == 201, r.text
        ca = r.json()
        assert ca["known_hosts"].startswith("@cert-authority * ssh-rsa ")
        r = c.put("/v1/ssh/roles/dev", json={"ca": "u", "allowed_principals": ["alice"]})
        assert r.status_code == 200, r.text
        r = c.post(
            "/v1/ssh/sign/dev",
            json={
                "principals": ["alice"],
                "public_key": _key(ed25519.Ed25519PrivateKey.generate()),
            },
        )
        assert r.status_code == 200, r.text
        signed = r.json()
    anon = httpx.get(f"{srv.addr}/v1/ssh/public/u")
    assert anon.status_code == 200 and anon.text.strip() == ca["public_key"]
    (tmp_path / "ca.pub").write_text(anon.text)
    (tmp_path / "c-cert.pub").write_text(signed["certificate"] + "\n")
    shown = subprocess.run(["ssh-keygen", "-L", "-f", str(tmp_path / "c-cert.pub")],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    # signed by the published CA key, with an RSA SHA-2 signature
    fp = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "ca.pub")],
                        capture_output=True, text=True, check=True).stdout.split()[1]  # fmt: skip
    assert f"Signing CA: RSA {fp} (using rsa-sha2-512)" in shown


@pytest.mark.parametrize(
    ("path", "body", "status", "slug"),
    [
        ("/v1/ssh/roles/r0", {"ca": "u2", "allowed_principals": []}, 400, "invalid-request"),
        ("/v1/ssh/sign/dev2", {"principals": ["root"]}, 400, "ssh-principal-not-allowed"),
        ("/v1/ssh/sign/dev2", {"principals": ["bob"], "ttl": "30d"}, 400, "ssh-ttl-too-long"),
        ("/v1/ssh/sign/dev2", {"principals": ["bob"], "public_key": "garbage"}, 400,
         "ssh-key-not-allowed"),
        ("/v1/ssh/sign/dev2", {"principals": ["bob"], "public_key": "RSA2048"}, 400,
         "ssh-key-not-allowed"),
        ("/v1/ssh/sign/dev2", {"principals": ["bob"], "critical_options": {"x": "y"}}, 400,
         "ssh-option-not-allowed"),
        ("/v1/ssh/sign/nope", {"principals": ["bob"]}, 404, "not-found"),
        ("/v1/ssh/sign/dev2", {"principals": ["bob"], "surprise": 1}, 400, "invalid-request"),
    ],
)  # fmt: skip
def test_bad_input_is_typed_and_records_nothing(
    srv: ServerProcess, path: str, body: dict[str, object], status: int, slug: str
) -> None:
    with srv.client(dev_root_token(srv)) as c:
        if c.get("/v1/ssh/roles/dev2").status_code == 404:
            c.post("/v1/ssh/cas", json={"name": "u2", "cert_type": "user"})
            c.put("/v1/ssh/roles/dev2", json={"ca": "u2", "allowed_principals": ["bob"]})
        if body.get("public_key") == "RSA2048":
            body = {**body, "public_key": _key(rsa.generate_private_key(65537, 2048))}
        before = _count(c)
        r = c.post(path, json=body) if "sign" in path else c.put(path, json=body)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == f"urn:tessera:problem:{slug}"
        assert _count(c) == before
