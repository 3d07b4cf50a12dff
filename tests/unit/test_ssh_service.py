"""SSH CA through the service: roles, signing rules and refusals, inventory rows, and what
`ssh-keygen -L` shows for a signed certificate."""

from __future__ import annotations

import subprocess
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from sqlalchemy import text

from tessera.core.errors import InvalidRequest, PermissionDenied
from tessera.inventory.models import CreateIdentityRequest, CredentialKind, CredentialStatus
from tessera.ssh import CertType, SignRequest, SshCaKeyType
from tessera.ssh.errors import (
    OptionNotAllowed,
    PrincipalNotAllowed,
    SshKeyNotAllowed,
    SshTTLTooLong,
)
from tests.helpers import make_container, root_principal

USER_ROLE: dict[str, Any] = {
    "ca": "users",
    "cert_type": "user",
    "allowed_principals": ["deploy", "web-*"],
    "ttl": "1h",
    "max_ttl": "8h",
    "allowed_critical_options": ["force-command", "source-address"],
    "allowed_extensions": ["permit-pty", "permit-port-forwarding"],
}


def _openssh(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


@pytest.fixture
def env(tmp_path: Path) -> Any:
    c, _, token = make_container(tmp_path)
    root = root_principal(c, token)
    c.ssh.create_ca(root, "users", CertType.USER, SshCaKeyType.ED25519)
    c.ssh.create_ca(root, "hosts", CertType.HOST, SshCaKeyType.EC_P256)
    c.ssh.write_role(root, "ops", dict(USER_ROLE))
    c.ssh.write_role(root, "web-hosts", {"ca": "hosts", "cert_type": "host",
                                         "allowed_principals": ["*.example.com"]})  # fmt: skip
    return c, root, tmp_path


def test_user_certificate_shows_exactly_what_was_asked(env: Any) -> None:
    c, root, tmp = env
    c.inventory.create_identity(root, CreateIdentityRequest(name="ci-bot", owner="team-ci"))
    key = ed25519.Ed25519PrivateKey.generate()
    out = c.ssh.sign(
        root,
        SignRequest(
            role="ops", principals=("deploy", "web-1"), public_key=_openssh(key),
            ttl=timedelta(hours=2), critical_options={"force-command": "/usr/bin/true",
                                                      "source-address": "10.0.0.0/8"},
            extensions=("permit-pty",), identity="ci-bot",
        ),
    )  # fmt: skip
    cert_file = tmp / "id-cert.pub"
    cert_file.write_text(out.certificate + "\n")
    shown = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(cert_file)], capture_output=True, text=True, check=True
    ).stdout
    assert "Type: ssh-ed25519-cert-v01@openssh.com user certificate" in shown
    assert f"Serial: {out.serial}" in shown
    assert f'Key ID: "{out.key_id}"' in shown and "@ops#" in out.key_id
    principals = shown.split("Principals:")[1].split("Critical Options:")[0].split()
    assert principals == ["deploy", "web-1"]
    options = shown.split("Critical Options:")[1].split("Extensions:")[0]
    assert "force-command /usr/bin/true" in options and "source-address 10.0.0.0/8" in options
    assert shown.split("Extensions:")[1].split() == ["permit-pty"]
    assert out.valid_before - out.valid_after == timedelta(hours=2, seconds=30)
    cred = c.inventory.get_credential(root, out.credential_id)
    assert cred.kind is CredentialKind.SSH_CERTIFICATE and cred.owner == "team-ci"
    assert cred.attributes["principals"] == ["deploy", "web-1"]


def test_host_certificate_and_generated_key(env: Any) -> None:
    c, root, tmp = env
    out = c.ssh.sign(root, SignRequest(role="web-hosts", principals=("a.example.com",)))
    assert out.private_key and "OPENSSH PRIVATE KEY" in out.private_key
    (tmp / "h-cert.pub").write_text(out.certificate + "\n")
    shown = subprocess.run(["ssh-keygen", "-L", "-f", str(tmp / "h-cert.pub")],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "host certificate" in shown and "a.example.com" in shown
    assert c.ssh.public_ca("hosts").public_key.startswith("ecdsa-sha2-nistp256 ")


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"principals": ("root",)}, PrincipalNotAllowed),
        ({"principals": ()}, InvalidRequest),
        ({"principals": ("web-*",)}, InvalidRequest),  # no globs in requests
        ({"ttl": timedelta(hours=9)}, SshTTLTooLong),
        ({"critical_options": {"permit-everything": "yes"}}, OptionNotAllowed),
        ({"critical_options": {"source-address": "not-a-cidr"}}, OptionNotAllowed),
        ({"extensions": ("permit-agent-forwarding",)}, OptionNotAllowed),
        ({"public_key": "ssh-ed25519 AAAAgarbage"}, SshKeyNotAllowed),
        ({"public_key": "x" * 20000}, SshKeyNotAllowed),
        ({"public_key": "rsa-2048"}, SshKeyNotAllowed),
        ({"public_key": "dsa"}, SshKeyNotAllowed),
    ],
)
def test_refusals_record_nothing(env: Any, kw: dict[str, Any], error: type) -> None:
    c, root, _ = env
    if kw.get("public_key") == "rsa-2048":
        kw["public_key"] = _openssh(rsa.generate_private_key(65537, 2048))
    elif kw.get("public_key") == "dsa":
        with warnings.catch_warnings():  # cryptography deprecates SSH DSA, as OpenSSH did
            warnings.simplefilter("ignore")
            kw["public_key"] = _openssh(dsa.generate_private_key(1024))
    args = {"role": "ops", "principals": ("deploy",),
            "public_key": _openssh(ec.generate_private_key(ec.SECP256R1())), **kw}  # fmt: skip
    with pytest.raises(error):
        c.ssh.sign(root, SignRequest(**args))
    with c.db.session() as s:
        assert s.execute(text("SELECT count(*) FROM ssh_certificates")).scalar_one() == 0


def test_role_rules_and_least_privilege(env: Any) -> None:
    c, root, _ = env
    with pytest.raises(InvalidRequest):  # a role with no principals issues nothing
        c.ssh.write_role(root, "empty", {"ca": "users", "allowed_principals": []})
    host_with_pty = {"ca": "hosts", "cert_type": "host", "allowed_principals": ["h"],
                     "allowed_extensions": ["permit-pty"]}  # fmt: skip
    with pytest.raises(InvalidRequest):  # host certificates carry no extensions
        c.ssh.write_role(root, "bad", host_with_pty)
    with pytest.raises(InvalidRequest):  # a user role on a host CA
        c.ssh.write_role(root, "mixed", {"ca": "hosts", "allowed_principals": ["u"]})
    from tessera.auth.models import CreateTokenRequest

    rule = {"path": "ssh/sign/ops", "capabilities": ["create"], "constraints": {"max_ttl": "30m"}}
    c.policies.write(root, "ssh-ops", {"rules": [rule]})
    p = c.tokens.authenticate(
        c.tokens.create(root, CreateTokenRequest(policies=("ssh-ops",))).token
    )
    out = c.ssh.sign(p, SignRequest(role="ops", principals=("deploy",)))
    assert out.valid_before - out.valid_after == timedelta(minutes=30, seconds=30)
    with pytest.raises(SshTTLTooLong):
        c.ssh.sign(p, SignRequest(role="ops", principals=("deploy",), ttl=timedelta(hours=1)))
    with pytest.raises(PermissionDenied):
        c.ssh.sign(p, SignRequest(role="web-hosts", principals=("a.example.com",)))


def test_decommission_revokes_ssh_certificates(env: Any) -> None:
    c, root, _ = env
    c.inventory.create_identity(root, CreateIdentityRequest(name="bot", owner="t"))
    out = c.ssh.sign(root, SignRequest(role="ops", principals=("deploy",), identity="bot"))
    _, revoked = c.inventory.decommission(root, "bot")
    assert revoked >= 1
    cred = c.inventory.get_credential(root, out.credential_id)
    assert cred.status is CredentialStatus.REVOKED


def _check_krl(tmp: Path, krl: bytes, cert_line: str) -> str:
    (tmp / "krl").write_bytes(krl)
    (tmp / "q-cert.pub").write_text(cert_line + "\n")
    done = subprocess.run(["ssh-keygen", "-Q", "-f", str(tmp / "krl"), str(tmp / "q-cert.pub")],
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout + done.stderr


def test_revocation_by_serial_key_id_and_key_is_what_ssh_keygen_reads(env: Any) -> None:
    c, root, tmp = env
    rev = c.ssh_revocations
    a, b, k = (ed25519.Ed25519PrivateKey.generate() for _ in range(3))
    cert_a = c.ssh.sign(
        root, SignRequest(role="ops", principals=("deploy",), public_key=_openssh(a))
    )
    cert_b = c.ssh.sign(
        root, SignRequest(role="ops", principals=("deploy",), public_key=_openssh(b))
    )
    cert_k = c.ssh.sign(
        root, SignRequest(role="ops", principals=("deploy",), public_key=_openssh(k))
    )
    assert "ok" in _check_krl(tmp, rev.krl("users"), cert_a.certificate)
    assert rev.revoke(root, "users", serial=cert_a.serial) == 1
    assert rev.revoke(root, "users", serial=cert_a.serial) == 0  # idempotent
    assert rev.revoke(root, "users", key_id=cert_b.key_id) == 1
    assert rev.revoke(root, "users", public_key=_openssh(k)) == 1
    krl = rev.krl("users")
    for cert in (cert_a, cert_b, cert_k):
        assert "REVOKED" in _check_krl(tmp, krl, cert.certificate)
        cred = c.inventory.get_credential(root, cert.credential_id)
        assert cred.status is CredentialStatus.REVOKED
    fresh = c.ssh.sign(root, SignRequest(role="ops", principals=("deploy",)))
    assert "ok" in _check_krl(tmp, rev.krl(None), fresh.certificate)
    # a later certificate for the revoked key is revoked by the KRL too
    again = c.ssh.sign(
        root, SignRequest(role="ops", principals=("deploy",), public_key=_openssh(k))
    )
    assert "REVOKED" in _check_krl(tmp, rev.krl(None), again.certificate)
    from tessera.core.errors import NotFound

    with pytest.raises(NotFound):
        rev.revoke(root, "users", serial=12345)
    with pytest.raises(InvalidRequest):
        rev.revoke(root, "users")


def test_rotation_publishes_both_keys_until_old_certificates_expire(env: Any) -> None:
    c, root, tmp = env
    old = c.ssh.sign(root, SignRequest(role="ops", principals=("deploy",), ttl=timedelta(hours=2)))
    before = c.ssh.public_ca("users").public_key
    c.ssh_revocations.rotate(root, "users")
    ca = c.ssh.public_ca("users")
    assert ca.public_key != before and ca.previous_public_keys == (before,)
    new = c.ssh.sign(root, SignRequest(role="ops", principals=("deploy",)))
    (tmp / "n-cert.pub").write_text(new.certificate + "\n")
    shown = subprocess.run(["ssh-keygen", "-L", "-f", str(tmp / "n-cert.pub")],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    new_fp = subprocess.run(
        ["ssh-keygen", "-lf", "/dev/stdin"],
        input=ca.public_key,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert new_fp in shown  # signed by the new key
    # the old key signed `old`: a revocation must reach sshds that still trust it
    c.ssh_revocations.revoke(root, "users", serial=old.serial)
    assert "REVOKED" in _check_krl(tmp, c.ssh_revocations.krl("users"), old.certificate)
    c.clock.advance(timedelta(hours=3))  # `old` has expired: the old key is no longer published
    assert not c.ssh.public_ca("users").previous_public_keys
