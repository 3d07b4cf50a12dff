"""SSH CA domain objects (OpenSSH PROTOCOL.certkeys names)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class CertType(StrEnum):
    """User certificates log users in; host certificates prove a server's identity."""

    USER = "user"
    HOST = "host"


class SshCaKeyType(StrEnum):
    """CA key algorithms (RSA signs with SHA-2; below 3072 bits is not offered)."""

    ED25519 = "ed25519"
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"


# critical options and extensions OpenSSH defines (PROTOCOL.certkeys)
CRITICAL_OPTIONS = frozenset({"force-command", "source-address", "verify-required"})
EXTENSIONS = frozenset(
    {
        "no-touch-required",
        "permit-X11-forwarding",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
    }
)


@dataclass(frozen=True)
class SshCa:
    """An SSH CA and its public key in OpenSSH form."""

    id: str
    name: str
    cert_type: CertType
    key_type: SshCaKeyType
    public_key: str
    status: str
    created_at: datetime
    previous_public_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignRequest:
    """Sign `public_key` (OpenSSH text), or generate a key pair of `key_type` when it is None."""

    role: str
    principals: tuple[str, ...] = ()
    public_key: str | None = None
    key_type: str = "ed25519"
    ttl: timedelta | None = None
    critical_options: Mapping[str, str] = field(default_factory=dict)
    extensions: tuple[str, ...] | None = None  # None: the role's defaults
    identity: str | None = None


@dataclass(frozen=True)
class SignedCertificate:
    """A signed certificate (OpenSSH one-line form) and, for a generated key, the private key
    (OpenSSH PEM), returned once and never stored."""

    id: str
    ca: str
    serial: int
    key_id: str
    cert_type: CertType
    principals: tuple[str, ...]
    valid_after: datetime
    valid_before: datetime
    certificate: str
    private_key: str | None
    credential_id: str | None
