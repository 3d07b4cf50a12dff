"""End to end: `tessera agent` keeps a real nginx on loopback served with certificates from a
real dev server. Certificates live 6 s and renew at half their life; `openssl s_client` sees
each new certificate without the test touching nginx (the agent's reload command does).

Also: the server going down across a renewal point (old files kept and served, failure in
health, renewal by itself once the server is back on the same data dir; that agent logs in
with AppRole), and a profile that refuses the names, then is fixed, after which renewal
completes by itself.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from tests import conftest
from tests.conftest import ServerProcess, dev_root_token, free_port, start_server
from tests.pki_helpers import create_ca, ok, put_profile

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NAME = "web.example.test"
pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None or not Path(NGINX).exists(), reason="needs nginx and openssl"
)

NGINX_CONF = """daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp-body;
    proxy_temp_path {d}/tmp-proxy;
    fastcgi_temp_path {d}/tmp-fastcgi;
    uwsgi_temp_path {d}/tmp-uwsgi;
    scgi_temp_path {d}/tmp-scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {name};
        ssl_certificate {d}/certs/web.crt;
        ssl_certificate_key {d}/certs/web.key;
        location / {{ return 200 "ok"; }}
    }}
}}
"""


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 30.0) -> Any:
    """Fetch until `done` or the deadline; the caller asserts on the value returned."""
    deadline = time.monotonic() + seconds
    value = fetch()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = fetch()
    return value


def agent_argv() -> list[str]:
    """`tessera agent`, or the command function directly until it is registered in main."""
    from tessera.cli.agent import command
    from tessera.cli.main import app

    if any(c.callback is command for c in app.registered_commands):
        return [sys.executable, "-m", "tessera", "agent"]
    code = "import typer; from tessera.cli.agent import command; typer.run(command)"
    return [sys.executable, "-c", code]


@dataclass
class Stack:
    srv: ServerProcess
    root: str
    secret: str  # the agent's login secret: token or AppRole secret id
    home: Path
    port: int
    health_port: int
    nginx: subprocess.Popen[bytes]
    agent: subprocess.Popen[bytes] | None = None

    def served_serial(self) -> str | None:
        """Serial of the certificate nginx presents for NAME, as openssl s_client sees it."""
        done = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-servername", NAME],
            input=b"", capture_output=True, timeout=15, check=False,
        )  # fmt: skip
        pem = re.search(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", done.stdout,
                        re.S)  # fmt: skip
        return (
            format(x509.load_pem_x509_certificate(pem.group(0)).serial_number, "x") if pem else None
        )

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.health_port}/healthz", timeout=5)
        except httpx.HTTPError:
            return 0, {}
        return r.status_code, r.json()

    def failures(self) -> int:
        body = self.health()[1]
        return int(body["certificates"][0]["consecutive_failures"]) if body else -1

    def agent_log(self) -> str:
        return (self.home / "agent.log").read_text(errors="replace")


def write_config(
    home: Path, srv: ServerProcess, health_port: int, reload: list[str], name: str,
    auth: dict[str, Any],
) -> Path:  # fmt: skip
    certs = home / "certs"
    cfg = {
        "server": srv.addr,
        "auth": auth,
        "health": {"listen": f"127.0.0.1:{health_port}", "status_file": str(home / "status.json")},
        "retry": {"initial": 0.5, "max": 2, "jitter": 0.1},
        "certificates": [{
            "name": "web", "profile": "web", "common_name": NAME, "alt_names": [NAME],
            "ttl": "6s", "renew_at": 0.5, "key_type": "ec-p256",
            "cert_file": str(certs / "web.crt"), "key_file": str(certs / "web.key"),
            "chain_file": str(certs / "chain.pem"), "reload": reload, "reload_timeout": "20s",
        }],
    }  # fmt: skip
    path = home / name
    path.write_text(json.dumps(cfg))  # JSON is valid YAML: exercises the YAML reader
    return path


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """Server, CA, profile, a least-privilege login (`token` file, or `approle` when the test
    is parametrised so), certificate files from `tessera agent --once`, nginx, the agent."""
    srv = start_server(tmp_path / "data", "--dev")
    home = tmp_path / "agent"
    (home / "certs").mkdir(parents=True)
    root = dev_root_token(srv)
    with srv.client(root) as c:
        create_ca(c, "agent-root", ttl="30d")
        put_profile(c, "web", "agent-root", allowed_domains=[NAME], ttl="1m", max_ttl="1h")
        rules = [{"path": "pki/issue/web", "capabilities": ["create"]}]  # least privilege
        ok(c.put("/v1/sys/policies/agent-web", json={"rules": rules}))
        if getattr(request, "param", "token") == "approle":
            ok(c.put("/v1/auth/approle/roles/agent", json={"policies": ["agent-web"]}))
            role_id = ok(c.get("/v1/auth/approle/roles/agent/role-id"))["role_id"]
            secret = ok(c.post("/v1/auth/approle/roles/agent/secret-id", json={}))["secret_id"]
            (home / "secret-id").write_text(secret + "\n")
            auth = {"approle": {"role_id": role_id, "secret_id_file": str(home / "secret-id")}}
        else:
            secret = ok(c.post("/v1/auth/token/create", json={"policies": ["agent-web"]}))["token"]
            (home / "token").write_text(secret + "\n")
            auth = {"token_file": str(home / "token")}
    port, health_port = free_port(), free_port()
    conf = home / "nginx.conf"
    conf.write_text(NGINX_CONF.format(d=home, port=port, name=NAME))
    reload = [NGINX, "-s", "reload", "-p", str(home), "-c", str(conf)]
    config = write_config(home, srv, health_port, reload, "agent.yaml", auth)
    bootstrap = write_config(home, srv, health_port, [], "bootstrap.yaml", auth)

    # nginx refuses to start without its certificate: one pass of the agent provides it
    once = subprocess.run([*agent_argv(), "--config", str(bootstrap), "--once"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert once.returncode == 0, once.stdout + once.stderr
    assert oct((home / "certs" / "web.key").stat().st_mode & 0o777) == "0o600"
    nginx_log = (home / "nginx.out").open("wb")
    nginx = subprocess.Popen([NGINX, "-p", str(home), "-c", str(conf)], stdout=nginx_log,
                             stderr=subprocess.STDOUT)  # fmt: skip
    s = Stack(srv, root, secret, home, port, health_port, nginx)
    try:
        assert poll(s.served_serial, lambda v: v is not None, 15), "nginx never served TLS"
        with (home / "agent.log").open("wb") as log:
            s.agent = subprocess.Popen([*agent_argv(), "--config", str(config)], stdout=log,
                                       stderr=subprocess.STDOUT)  # fmt: skip
        yield s
    finally:
        for proc in (s.agent, nginx):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        nginx_log.close()
        s.srv.stop()
    # whatever happened, no login secret nor key material reached the agent's output
    text = s.agent_log() + once.stdout + once.stderr
    assert secret not in text and root not in text and "PRIVATE KEY" not in text


def test_nginx_serves_each_renewed_certificate(stack: Stack) -> None:
    first = stack.served_serial()
    on_disk = format(x509.load_pem_x509_certificate(
        (stack.home / "certs" / "web.crt").read_bytes()).serial_number, "x")  # fmt: skip
    assert first == on_disk
    status, body = poll(stack.health, lambda h: h[0] == 200, 15)
    assert status == 200 and body["certificates"][0]["serial"] == first  # kept, not reissued
    second = poll(stack.served_serial, lambda v: v not in (None, first))
    assert second not in (None, first), stack.agent_log()
    third = poll(stack.served_serial, lambda v: v not in (None, first, second))
    assert third not in (None, first, second), stack.agent_log()

    # the operator breaks the profile: renewals are refused, the agent reports and keeps trying
    with stack.srv.client(stack.root) as c:
        put_profile(c, "web", "agent-root", allowed_domains=["other.example.test"], ttl="1m")
        failing = poll(stack.failures, lambda n: n > 0)
        assert failing > 0, stack.agent_log()
        assert "HTTP 400" in stack.health()[1]["certificates"][0]["last_error"]
        stuck = stack.served_serial()
        put_profile(c, "web", "agent-root", allowed_domains=[NAME], ttl="1m")
    fixed = poll(stack.served_serial, lambda v: v not in (None, stuck))
    assert fixed not in (None, stuck), stack.agent_log()
    assert poll(stack.failures, lambda n: n == 0) == 0


@pytest.mark.parametrize("stack", ["approle"], indirect=True)
def test_server_down_across_renewal_then_back(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = poll(stack.served_serial, lambda v: v is not None)
    assert poll(stack.failures, lambda n: n == 0, 15) == 0
    stack.srv.stop()
    before = (stack.home / "certs" / "web.crt").read_bytes()
    failures = poll(stack.failures, lambda n: n >= 2)
    assert failures >= 2, stack.agent_log()
    status, body = stack.health()
    cert = body["certificates"][0]
    assert "cannot reach the server" in cert["last_error"]
    assert body["status"] in ("degraded", "failing") and status in (200, 503)
    status_file = json.loads((stack.home / "status.json").read_text())
    assert status_file["certificates"][0]["consecutive_failures"] >= 1
    # the old files stay and nginx keeps serving the certificate it had
    assert (stack.home / "certs" / "web.crt").read_bytes() == before
    assert stack.served_serial() == cert["serial"]
    assert served is not None

    # same data dir, same address: the agent needs no change to find it again
    port = int(stack.srv.addr.rsplit(":", 1)[1])
    monkeypatch.setattr(conftest, "free_port", lambda: port)
    stack.srv = start_server(stack.srv.data_dir, "--dev")
    renewed = poll(stack.served_serial, lambda v: v not in (None, cert["serial"]))
    assert renewed not in (None, cert["serial"]), stack.agent_log()
    status, body = poll(stack.health, lambda h: h[0] == 200 and h[1]["status"] == "ok")
    assert (status, body["certificates"][0]["consecutive_failures"]) == (200, 0)
