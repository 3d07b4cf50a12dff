"""Tessera's SSH CA end to end with a real OpenSSH server and client.

Needs root: it installs Debian's openssh-server when /usr/sbin/sshd is missing and logs in as
root (skipped with the reason otherwise; CI and the dev container run as root). One sshd runs
for the module on a free port of 127.0.0.1, with its own config: `TrustedUserCAKeys` is the
file served by `GET /v1/ssh/public/users`, `RevokedKeys` the KRL served by
`GET /v1/ssh/public/users/krl`, `AuthorizedPrincipalsFile` lets root in as "deploy" only, and
`HostCertificate` is a Tessera host certificate, so `ssh` with `StrictHostKeyChecking=yes` and
only an `@cert-authority` known_hosts line connects without a prompt.

sshd reads TrustedUserCAKeys and RevokedKeys at each authentication, so a refreshed KRL takes
effect without restarting it. The expired certificate is a real Tessera certificate asked for
with a 1-second TTL (the sign request's ttl only has to be positive and within the role's
max_ttl) from a role with `backdate: 0s`: the test waits about two seconds, not a minute."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.sshd_harness import Sshd, ensure_sshd, keygen, krl_query, ssh, write_atomic

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="runs a real sshd (openssh-server) on 127.0.0.1 and logs in as root: needs root",
    ),
    pytest.mark.timeout(600),  # the first test may install openssh-server
]

USER_CA, HOST_CA = "users", "hosts"
LOGIN_ROLE, HOST_ROLE = "e2e-login", "e2e-host"
ALLOWED, DISALLOWED = "deploy", "intruder"


@dataclass
class E2E:
    """Tessera (server and client), the running sshd and the files both sides read."""

    srv: ServerProcess
    api: httpx.Client
    sshd: Sshd
    dir: Path
    known_hosts: Path
    krl: Path

    def user_cert(self, name: str, principals: list[str], **extra: Any) -> tuple[Path, Any]:
        """A new key `name` in the work dir with its Tessera certificate beside it."""
        key = self.dir / name
        signed = sign(self.api, LOGIN_ROLE, principals, keygen(key, name), **extra)
        write_atomic(key.with_name(name + "-cert.pub"), signed["certificate"] + "\n")
        return key, signed

    def refresh_krl(self) -> bytes:
        r = httpx.get(f"{self.srv.addr}/v1/ssh/public/{USER_CA}/krl", timeout=30)
        assert r.status_code == 200, r.text
        write_atomic(self.krl, r.content)
        return r.content

    def login(
        self, key: Path, known_hosts: Path | None = None
    ) -> tuple[subprocess.CompletedProcess[str], str]:
        """`ssh root@127.0.0.1 echo ok` with the key's certificate; the result and what sshd
        logged meanwhile."""
        mark = self.sshd.mark()
        result = ssh(self.sshd.port, key, known_hosts or self.known_hosts)
        return result, self.sshd.log_since(mark)


def sign(api: httpx.Client, role: str, principals: list[str], public_key: str, **extra: Any) -> Any:
    r = api.post(
        f"/v1/ssh/sign/{role}", json={"principals": principals, "public_key": public_key, **extra}
    )
    assert r.status_code == 200, r.text
    return r.json()


def explain(result: subprocess.CompletedProcess[str], sshd_log: str) -> str:
    return (
        f"ssh exit {result.returncode}\n--- ssh stdout\n{result.stdout}"
        f"--- ssh stderr\n{result.stderr}--- sshd log\n{sshd_log}"
    )


def refused(result: subprocess.CompletedProcess[str], sshd_log: str) -> None:
    """Authentication failed (not a host key or connection problem) and nothing ran."""
    why = explain(result, sshd_log)
    assert result.returncode == 255, why
    assert "ok" not in result.stdout, why
    assert "Permission denied (publickey)" in result.stderr, why
    assert "Accepted publickey" not in sshd_log, why


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    ensure_sshd()
    work = tmp_path_factory.mktemp("sshd-e2e")
    srv = start_server(work / "tessera", "--dev")
    sshd: Sshd | None = None
    try:
        with srv.client(dev_root_token(srv)) as api:
            for name, kind in ((USER_CA, "user"), (HOST_CA, "host")):
                r = api.post(
                    "/v1/ssh/cas", json={"name": name, "cert_type": kind, "key_type": "ed25519"}
                )
                assert r.status_code == 201, r.text
            r = api.put(
                f"/v1/ssh/roles/{LOGIN_ROLE}",
                json={
                    "ca": USER_CA,
                    "cert_type": "user",
                    "allowed_principals": [ALLOWED, DISALLOWED],
                    "ttl": "1h",
                    "max_ttl": "24h",
                    "allowed_extensions": ["permit-pty"],
                    "backdate": "0s",
                },
            )
            assert r.status_code == 200, r.text
            r = api.put(
                f"/v1/ssh/roles/{HOST_ROLE}",
                json={
                    "ca": HOST_CA,
                    "cert_type": "host",
                    "allowed_principals": ["127.0.0.1"],
                    "ttl": "1h",
                },
            )
            assert r.status_code == 200, r.text
            # what sshd trusts comes from Tessera's public (token-less) endpoints
            trusted = httpx.get(f"{srv.addr}/v1/ssh/public/{USER_CA}", timeout=30)
            assert trusted.status_code == 200, trusted.text
            assert trusted.headers["content-type"].startswith("text/plain")
            ca_keys = write_atomic(work / "trusted_user_ca_keys", trusted.text)
            host_key = work / "ssh_host_ed25519_key"
            host = sign(api, HOST_ROLE, ["127.0.0.1"], keygen(host_key, "tessera-e2e-host"))
            host_cert = write_atomic(work / "ssh_host_ed25519_key-cert.pub", host["certificate"])
            krl = work / "revoked.krl"
            r = httpx.get(f"{srv.addr}/v1/ssh/public/{USER_CA}/krl", timeout=30)
            assert r.status_code == 200, r.text
            write_atomic(krl, r.content)
            sshd = Sshd.start(
                work / "sshd",
                host_key=host_key,
                host_certificate=host_cert,
                trusted_user_ca_keys=ca_keys,
                revoked_keys=krl,
                principals={"root": [ALLOWED]},
            )
            host_ca = httpx.get(f"{srv.addr}/v1/ssh/public/{HOST_CA}", timeout=30).text
            known_hosts = write_atomic(
                work / "known_hosts",
                "".join(
                    f"@cert-authority [127.0.0.1]:{sshd.port} {line}\n"
                    for line in host_ca.splitlines()
                    if line.strip()
                ),
            )
            yield E2E(srv, api, sshd, work, known_hosts, krl)
    finally:
        if sshd is not None:
            sshd.stop()
        srv.stop()


def test_allowed_principal_logs_in_and_host_certificate_needs_no_prompt(e2e: E2E) -> None:
    key, signed = e2e.user_cert("deploy-key", [ALLOWED])
    result, log = e2e.login(key)
    why = explain(result, log)
    assert result.returncode == 0 and result.stdout == "ok\n", why
    # sshd accepted the Tessera certificate (its serial and key id are in the log) ...
    assert "Accepted publickey for root from 127.0.0.1" in log, why
    assert f"ID {signed['key_id']} (serial {signed['serial']})" in log, why
    # ... and the client verified the Tessera host certificate: with StrictHostKeyChecking=yes,
    # BatchMode and a known_hosts holding only the @cert-authority line, anything else fails
    assert "Host key verification failed" not in result.stderr, why


def test_host_certificate_from_another_ca_is_not_trusted(e2e: E2E) -> None:
    """The control for the test above: the same login against a known_hosts that trusts a
    different CA (the user CA) fails on the host key, before any authentication."""
    key, _ = e2e.user_cert("deploy-key-2", [ALLOWED])
    other = e2e.dir / "known_hosts_other_ca"
    user_ca = (e2e.dir / "trusted_user_ca_keys").read_text().split("\n")[0]
    write_atomic(other, f"@cert-authority [127.0.0.1]:{e2e.sshd.port} {user_ca}\n")
    result, log = e2e.login(key, other)
    why = explain(result, log)
    assert result.returncode == 255 and "ok" not in result.stdout, why
    assert "Host key verification failed" in result.stderr, why
    assert "Accepted publickey" not in log, why


def test_principal_not_in_principals_file_is_refused(e2e: E2E) -> None:
    key, signed = e2e.user_cert("intruder-key", [DISALLOWED])
    assert signed["principals"] == [DISALLOWED]
    result, log = e2e.login(key)
    refused(result, log)
    assert "does not contain an authorized principal" in log, explain(result, log)


def test_expired_certificate_is_refused(e2e: E2E) -> None:
    key, signed = e2e.user_cert("expired-key", [ALLOWED], ttl="1s")
    valid_before = datetime.fromisoformat(signed["valid_before"]).timestamp()
    assert valid_before - datetime.fromisoformat(signed["valid_after"]).timestamp() <= 1
    # the certificate carries whole seconds; one more second of margin and it is expired
    while time.time() < valid_before + 1.5:
        time.sleep(0.1)
    shown = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(key) + "-cert.pub"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert f"Serial: {signed['serial']}" in shown
    result, log = e2e.login(key)
    refused(result, log)
    assert "Certificate invalid: expired" in log, explain(result, log)


def test_revoked_certificate_is_refused_and_ssh_keygen_agrees(e2e: E2E) -> None:
    revoked_key, revoked = e2e.user_cert("revoked-key", [ALLOWED])
    kept_key, kept = e2e.user_cert("kept-key", [ALLOWED])
    # both log in before the revocation: the KRL is what changes the outcome
    for key in (revoked_key, kept_key):
        result, log = e2e.login(key)
        assert result.returncode == 0 and result.stdout == "ok\n", explain(result, log)

    r = e2e.api.post("/v1/ssh/revoke", json={"ca": USER_CA, "serial": revoked["serial"]})
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] == 1
    e2e.refresh_krl()  # no sshd restart: it reads RevokedKeys at each authentication

    result, log = e2e.login(revoked_key)
    refused(result, log)
    assert "revoked by file" in log, explain(result, log)
    result, log = e2e.login(kept_key)
    assert result.returncode == 0 and result.stdout == "ok\n", explain(result, log)
    assert f"(serial {kept['serial']})" in log, explain(result, log)

    revoked_cert = Path(str(revoked_key) + "-cert.pub")
    kept_cert = Path(str(kept_key) + "-cert.pub")
    q = krl_query(e2e.krl, revoked_cert, kept_cert)
    lines = q.stdout.splitlines()
    assert q.returncode != 0, q.stdout + q.stderr
    assert len(lines) == 2, q.stdout + q.stderr
    assert lines[0].startswith(str(revoked_cert)) and lines[0].endswith(": REVOKED"), q.stdout
    assert lines[1].startswith(str(kept_cert)) and lines[1].endswith(": ok"), q.stdout
    q = krl_query(e2e.krl, kept_cert)
    assert q.returncode == 0 and q.stdout.endswith(": ok\n"), q.stdout + q.stderr
    # the KRL of every CA (GET /v1/ssh/krl) says the same
    r = httpx.get(f"{e2e.srv.addr}/v1/ssh/krl", timeout=30)
    assert r.status_code == 200, r.text
    every = write_atomic(e2e.dir / "all.krl", r.content)
    q = krl_query(every, revoked_cert, kept_cert)
    assert q.stdout.splitlines()[0].endswith(": REVOKED"), q.stdout + q.stderr
    assert q.stdout.splitlines()[1].endswith(": ok"), q.stdout + q.stderr
