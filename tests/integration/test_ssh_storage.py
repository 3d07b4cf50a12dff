"""The SSH CA on both storage engines: sign, revoke, KRL, rotation, decommission."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tessera.inventory.models import CreateIdentityRequest, CredentialStatus
from tessera.ssh import CertType, SignRequest, SshCaKeyType
from tests.helpers import make_container, root_principal


def test_ssh_lifecycle(db_url: str, tmp_path: Path) -> None:
    c, _, token = make_container(tmp_path, database_url=db_url)
    root = root_principal(c, token)
    c.ssh.create_ca(root, "users", CertType.USER, SshCaKeyType.EC_P384)
    c.ssh.write_role(root, "ops", {"ca": "users", "allowed_principals": ["deploy"]})
    c.inventory.create_identity(root, CreateIdentityRequest(name="bot", owner="team"))
    signed = [
        c.ssh.sign(root, SignRequest(role="ops", principals=("deploy",), identity="bot"))
        for _ in range(3)
    ]
    assert len({s.serial for s in signed}) == 3
    assert c.ssh_revocations.revoke(root, "users", serial=signed[0].serial) == 1
    c.ssh_revocations.rotate(root, "users")
    _, revoked = c.inventory.decommission(root, "bot")
    assert revoked == 2
    (tmp_path / "krl").write_bytes(c.ssh_revocations.krl(None))
    for s in signed:
        (tmp_path / "c-cert.pub").write_text(s.certificate + "\n")
        out = subprocess.run(
            ["ssh-keygen", "-Q", "-f", str(tmp_path / "krl"), str(tmp_path / "c-cert.pub")],
            capture_output=True,
            text=True,
        )
        # decommission marks certificates revoked in the inventory and on the KRL
        assert "REVOKED" in out.stdout + out.stderr
        cred = c.inventory.get_credential(root, s.credential_id or "")
        assert cred.status is CredentialStatus.REVOKED
    c.close()
