"""SSH certificate authority: user and host CAs, roles, signing (OpenSSH certificates)."""

from tessera.ssh.models import CertType, SignedCertificate, SignRequest, SshCa, SshCaKeyType
from tessera.ssh.role import Role
from tessera.ssh.service import SshService

__all__ = [
    "CertType",
    "Role",
    "SignRequest",
    "SignedCertificate",
    "SshCa",
    "SshCaKeyType",
    "SshService",
]
