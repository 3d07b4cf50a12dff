"""End to end: `tessera ssh …` as a subprocess against a real dev server, checked with ssh-keygen.

One dev-mode server for the module; a user CA, a host CA and a role for each are made once
through the CLI by the `ssh` fixture. Runner and assertions are shared with `test_cli.py`;
independent calls run concurrently because each CLI start costs ~1 s.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.integration.test_cli import Cli, failed, ok, parallel

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")

USER_ROLE = {
    "ca": "cli-user",
    "allowed_principals": ["alice", "bob", "svc-*"],
    "allowed_critical_options": ["force-command"],
    "allowed_extensions": ["permit-pty", "permit-port-forwarding"],
    "ttl": "1h",
    "max_ttl": "8h",
    "description": "developers",
}
HOST_ROLE = {"ca": "cli-host", "cert_type": "host", "allowed_principals": ["*.example.com"]}


def ssh_keygen(*args: str, cwd: Path, check: bool = True) -> str:
    done = subprocess.run(
        ["ssh-keygen", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    if check:
        assert done.returncode == 0, f"ssh-keygen {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def new_key(home: Path, name: str) -> None:
    ssh_keygen("-q", "-t", "ed25519", "-N", "", "-C", name, "-f", name, cwd=home)


@dataclass(frozen=True)
class Ssh:
    cli: Cli
    user_ca: dict[str, Any]
    host_ca: dict[str, Any]
    rot_ca: dict[str, Any]  # a host CA of its own for the rotation test


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("cli-ssh"), "--dev")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def ssh(dev: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Ssh:
    """A user CA, two host CAs (one ECDSA) and their roles, made with `ssh ca create` and
    `ssh role write`."""
    home = tmp_path_factory.mktemp("ssh-home")
    cli = Cli(dev.addr, home, dev_root_token(dev))
    (home / "dev.json").write_text(json.dumps(USER_ROLE))
    (home / "hosts.json").write_text(json.dumps(HOST_ROLE))
    (home / "rot.json").write_text(json.dumps({**HOST_ROLE, "ca": "cli-rot"}))
    user, host, rot, identity = parallel(
        cli.spawn("ssh", "ca", "create", "cli-user", "--type", "user", "-o", "json"),
        cli.spawn("ssh", "ca", "create", "cli-host", "--type", "host", "--key-type", "ec-p256",
                  "-o", "json"),
        cli.spawn("ssh", "ca", "create", "cli-rot", "--type", "host", "-o", "json"),
        cli.spawn("identity", "create", "ssh-svc", "--owner", "team-ssh"),
    )  # fmt: skip
    user_ca, host_ca, rot_ca = ok(user).json(), ok(host).json(), ok(rot).json()
    ok(identity)
    assert (user_ca["cert_type"], user_ca["key_type"]) == ("user", "ed25519")
    assert user_ca["public_key"].startswith("ssh-ed25519 ")
    assert host_ca["public_key"].startswith("ecdsa-sha2-nistp256 ")
    assert user_ca["previous_public_keys"] == []
    for written in parallel(
        cli.spawn("ssh", "role", "write", "dev", "dev.json"),
        cli.spawn("ssh", "role", "write", "hosts", "hosts.json"),
        cli.spawn("ssh", "role", "write", "rot", "rot.json"),
    ):
        assert "written" in ok(written).out
    return Ssh(cli, user_ca, host_ca, rot_ca)


# -- CAs and roles -------------------------------------------------------------------------------
def test_ca_list_pubkey_and_role_read_list(ssh: Ssh) -> None:
    cli, home = ssh.cli, ssh.cli.home
    anonymous = cli.as_(None)  # the public keys need no token
    listed, table, user_pub, host_pub, host_file, read, names = parallel(
        cli.spawn("ssh", "ca", "list", "-o", "json"),
        cli.spawn("ssh", "ca", "list"),
        anonymous.spawn("ssh", "ca", "pubkey", "cli-user"),
        anonymous.spawn("ssh", "ca", "pubkey", "cli-host", "--known-hosts"),
        anonymous.spawn("ssh", "ca", "pubkey", "cli-host", "--known-hosts", "--out", "kh"),
        cli.spawn("ssh", "role", "read", "dev", "-o", "json"),
        cli.spawn("ssh", "role", "list", "-o", "json"),
    )
    assert {"cli-user", "cli-host"} <= {c["name"] for c in ok(listed).json()["items"]}
    assert "cli-user" in ok(table).out and "cli-host" in table.out
    assert ok(user_pub).out == ssh.user_ca["public_key"] + "\n"
    assert ok(host_pub).out == ssh.host_ca["known_hosts"] + "\n"
    assert "written to kh" in ok(host_file).out
    assert (home / "kh").read_text() == ssh.host_ca["known_hosts"] + "\n"
    role = ok(read).json()
    assert role["name"] == "dev" and role["ca"] == "cli-user"
    assert (role["ttl"], role["max_ttl"]) == (3600, 8 * 3600)
    assert role["allowed_principals"] == ["alice", "bob", "svc-*"]
    assert {"dev", "hosts"} <= set(ok(names).json()["names"])

    # what `read -o json` prints can be written back unchanged; another name is refused
    (home / "back.json").write_text(read.out)
    back, renamed = parallel(
        cli.spawn("ssh", "role", "write", "dev", "back.json"),
        cli.spawn("ssh", "role", "write", "other", "back.json"),
    )
    assert "SSH role 'dev' written." in ok(back).out
    failed(renamed, "names role 'dev', not 'other'", one_line=True)


def test_rotate_publishes_both_keys_while_old_certificates_live(ssh: Ssh) -> None:
    cli, created = ssh.cli, ssh.rot_ca
    cli.ok("ssh", "sign", "rot", "--principal", "old.example.com", "--key-out", "old.key")
    rotated = cli.json("ssh", "ca", "rotate", "cli-rot")
    assert rotated["public_key"] != created["public_key"]
    assert rotated["previous_public_keys"] == [created["public_key"]]
    missing, pub, table = parallel(
        cli.spawn("ssh", "ca", "rotate", "no-such-ca"),
        cli.spawn("ssh", "ca", "pubkey", "cli-rot", "--known-hosts"),
        cli.spawn("ssh", "ca", "list"),
    )
    failed(missing, "no-such-ca", one_line=True)
    assert "cli-rot" in ok(table).out
    keys = (rotated["public_key"], created["public_key"])
    assert ok(pub).out.splitlines() == [f"@cert-authority * {k}" for k in keys]


# -- signing -------------------------------------------------------------------------------------
def test_sign_submitted_and_generated_keys(ssh: Ssh) -> None:
    cli, home = ssh.cli, ssh.cli.home
    new_key(home, "alice")
    new_key(home, "web1")
    (home / "gen.key").write_text("stale\n")
    (home / "gen.key").chmod(0o644)  # an existing key file is tightened, not left readable
    beside, generated, printed, host, private = parallel(
        cli.spawn("ssh", "sign", "dev", "--principal", "alice", "--principal", "svc-deploy",
                  "--public-key", "alice.pub", "--ttl", "2h", "--option", "force-command=/bin/true",
                  "--extension", "permit-pty", "--identity", "ssh-svc"),
        cli.spawn("ssh", "sign", "dev", "--principal", "bob", "--key-out", "gen.key",
                  "--cert-out", "gen-cert.pub", "-o", "json"),
        cli.spawn("ssh", "sign", "dev", "--principal", "bob", "--key-type", "ec-p384"),
        cli.spawn("ssh", "sign", "hosts", "--principal", "web1.example.com",
                  "--public-key", "web1.pub", "-o", "json"),
        cli.spawn("ssh", "sign", "dev", "--principal", "alice", "--public-key", "alice"),
    )  # fmt: skip
    # a submitted key: the certificate lands where ssh looks for it, and says so
    assert "alice-cert.pub" in ok(beside).out and "beside the public key" in beside.out
    shown = ssh_keygen("-L", "-f", "alice-cert.pub", cwd=home)
    assert "Type: ssh-ed25519-cert-v01@openssh.com user certificate" in shown
    principals = shown.split("Principals:")[1].split("Critical Options:")[0].split()
    assert principals == ["alice", "svc-deploy"]
    assert "force-command /bin/true" in shown and "permit-pty" in shown
    # a generated key: only in the file, mode 0600, and it is the certified key
    signed = ok(generated).json()
    assert signed["private_key"] is None and signed["principals"] == ["bob"]
    assert stat.S_IMODE((home / "gen.key").stat().st_mode) == 0o600
    assert (home / "gen.key").read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert (home / "gen-cert.pub").read_text() == signed["certificate"] + "\n"
    key_fp = ssh_keygen("-l", "-f", "gen.key", cwd=home).split()[1]
    assert f"Public key: ED25519-CERT {key_fp}" in ssh_keygen("-L", "-f", "gen-cert.pub", cwd=home)
    # no --key-out: certificate and key printed, the key exactly once
    assert ok(printed).out.count("-----BEGIN OPENSSH PRIVATE KEY-----") == 1
    assert "ecdsa-sha2-nistp384-cert-v01@openssh.com " in printed.out
    # a host certificate, from the host CA
    host_cert = ok(host).json()
    assert (host_cert["ca"], host_cert["cert_type"]) == ("cli-host", "host")
    assert "host certificate" in ssh_keygen("-L", "-f", "web1-cert.pub", cwd=home)
    # a private key is never sent
    failed(private, "alice is a private key", one_line=True)


# -- revocation and KRL --------------------------------------------------------------------------
def test_revoke_and_krl(ssh: Ssh) -> None:
    cli, home = ssh.cli, ssh.cli.home
    for name in ("carol", "dave", "erin", "web2"):
        new_key(home, name)
    carol, dave, erin = parallel(
        *(cli.spawn("ssh", "sign", "dev", "--principal", "svc-" + name, "--public-key",
                    f"{name}.pub", "-o", "json") for name in ("carol", "dave", "erin"))
    )  # fmt: skip
    serial = str(ok(carol).json()["serial"])
    erin_key_id = ok(erin).json()["key_id"]
    ok(dave)
    by_serial, by_key_id, by_key = parallel(
        cli.spawn("ssh", "revoke", "--ca", "cli-user", "--serial", serial),
        cli.spawn("ssh", "revoke", "--ca", "cli-user", "--key-id", erin_key_id, "-o", "json"),
        cli.spawn("ssh", "revoke", "--ca", "cli-host", "--public-key", "web2.pub"),
    )
    assert "Revoked 1 certificate(s) of 'cli-user'." in ok(by_serial).out
    assert ok(by_key_id).json() == {"revoked": 1}
    assert "Revoked 0 certificate(s)" in ok(by_key).out  # none yet; the key is listed anyway

    anonymous = cli.as_(None)  # KRLs need no token
    one, every, again, as_json = parallel(
        anonymous.spawn("ssh", "krl", "--ca", "cli-user", "--out", "user.krl"),
        anonymous.spawn("ssh", "krl", "--out", "all.krl"),
        cli.spawn("ssh", "revoke", "--ca", "cli-user", "--serial", serial, "-o", "json"),
        anonymous.spawn("ssh", "krl", "--ca", "cli-user", "-o", "json"),
    )
    assert "KRL of 'cli-user' written to user.krl" in ok(one).out
    assert "KRL of every SSH CA written to all.krl" in ok(every).out
    assert ok(again).json() == {"revoked": 0}  # repeating revokes nothing more
    assert ok(as_json).json()["krl"]
    for krl in ("user.krl", "all.krl"):
        out = ssh_keygen("-Q", "-f", krl, "carol-cert.pub", "dave-cert.pub", "erin-cert.pub",
                         cwd=home, check=False)  # fmt: skip
        status = {line.split(":")[0].split()[0]: line.rsplit(":", 1)[1].strip()
                  for line in out.splitlines() if ":" in line}  # fmt: skip
        assert status == {"carol-cert.pub": "REVOKED", "dave-cert.pub": "ok",
                          "erin-cert.pub": "REVOKED"}, out  # fmt: skip
    # the host key revoked by public key is on the KRL of every CA before any certificate
    out = ssh_keygen("-Q", "-f", "all.krl", "web2.pub", cwd=home, check=False)
    assert "REVOKED" in out, out


# -- errors --------------------------------------------------------------------------------------
def test_errors_are_one_clean_line(ssh: Ssh) -> None:
    cli = ssh.cli
    (cli.home / "not.json").write_text("ssh-ed25519 AAAA\n")
    unknown_role, outside, no_selector, two, unknown_ca, bad_type, bad_option, bad_json = parallel(
        cli.spawn("ssh", "sign", "no-such-role", "--principal", "alice", "--key-type", "ed25519"),
        cli.spawn("ssh", "sign", "dev", "--principal", "root"),
        cli.spawn("ssh", "revoke", "--ca", "cli-user"),
        cli.spawn("ssh", "revoke", "--ca", "cli-user", "--serial", "1", "--key-id", "x"),
        cli.as_(None).spawn("ssh", "ca", "pubkey", "no-such-ca"),
        cli.spawn("ssh", "ca", "create", "cli-bad", "--type", "both"),
        cli.spawn("ssh", "sign", "dev", "--principal", "alice", "--option", "force-command"),
        cli.spawn("ssh", "role", "write", "broken", "not.json"),
    )
    failed(unknown_role, "no-such-role", one_line=True)
    assert unknown_role.err.startswith("Error: ")
    failed(outside, "root", one_line=True)
    failed(no_selector, "give one of --serial, --key-id or --public-key", one_line=True)
    failed(two, "give one of --serial, --key-id or --public-key", one_line=True)
    failed(unknown_ca, "no-such-ca", one_line=True)
    failed(bad_type, "cert_type", one_line=True)
    failed(bad_option, "--option takes key=value", one_line=True)
    failed(bad_json, "not.json is not valid JSON", one_line=True)
