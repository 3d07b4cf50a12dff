"""SSH CA request and response bodies; field descriptions become the OpenAPI documentation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from tessera.api.schemas import DURATION_DOC, TIME_DOC, Duration, Strict


class SshCaIn(Strict):
    """A new SSH CA that signs either user or host certificates."""

    name: str = Field(max_length=128, description="Unique name (a-z, 0-9, '_', '.', '-').")
    cert_type: str = Field(description="'user' or 'host'.")
    key_type: str = Field(
        "ed25519", description="ed25519, ec-p256, ec-p384, rsa-3072 or rsa-4096 (SHA-2)."
    )


class SshCaOut(BaseModel):
    """An SSH CA and the lines that make OpenSSH trust it."""

    id: str = Field(description="Stable id.")
    name: str = Field(description="Unique name.")
    cert_type: str = Field(description="'user' or 'host'.")
    key_type: str = Field(description="CA key type.")
    public_key: str = Field(description="OpenSSH public key line (TrustedUserCAKeys).")
    known_hosts: str = Field(description="'@cert-authority * <key>' line for known_hosts.")
    status: str = Field(description="'active'.")
    created_at: datetime = Field(description=TIME_DOC)
    previous_public_keys: list[str] = Field(
        description="Keys replaced by a rotation, still trusted until their last certificate "
        "expires (publish them beside public_key)."
    )


class SshCaListOut(BaseModel):
    """Every SSH CA."""

    items: list[SshCaOut] = Field(description="CAs ordered by name.")


class SshRoleIO(Strict):
    """What callers of `ssh/sign/<role>` may get; nothing is allowed unless listed."""

    ca: str = Field(max_length=128, description="SSH CA that signs.")
    cert_type: str = Field("user", description="'user' or 'host' (must match the CA).")
    allowed_principals: list[str] = Field(
        max_length=256, description="Required. Principal names or globs ('*' matches any run)."
    )
    ttl: Duration = Field("1h", description="Default validity. " + DURATION_DOC)
    max_ttl: Duration = Field("24h", description="Longest validity. " + DURATION_DOC)
    allowed_critical_options: list[str] = Field(
        default_factory=list, description="force-command, source-address, verify-required."
    )
    allowed_extensions: list[str] | None = Field(
        None,
        description="permit-pty, permit-port-forwarding, permit-agent-forwarding, "
        "permit-X11-forwarding, permit-user-rc, no-touch-required (user certificates only; "
        "default: permit-pty for user roles, none for host roles).",
    )
    default_extensions: list[str] | None = Field(
        None, description="Extensions given when a request names none (default: permit-pty)."
    )
    allowed_key_types: list[str] = Field(
        default_factory=lambda: ["ed25519", "ecdsa", "rsa"],
        description="Key families accepted (RSA needs 3072 bits or more; DSA never).",
    )
    key_id_template: str = Field(
        "{display_name}@{role}#{serial}",
        max_length=256,
        description="Key id; {display_name} (the caller), {identity}, {role}, {serial}.",
    )
    backdate: Duration = Field("30s", description="validAfter this far back (clock skew).")
    description: str = Field("", max_length=1024, description="Free text.")


class SshRoleOut(SshRoleIO):
    """A stored role (durations in seconds)."""

    name: str = Field(description="Role name.")


class SshSignIn(Strict):
    """Sign a public key, or (without one) generate a key pair returned once."""

    principals: list[str] = Field(max_length=256, description="Users or host names.")
    public_key: str | None = Field(
        None, max_length=16384, description="OpenSSH public key line to certify."
    )
    key_type: str = Field("ed25519", description="Key type to generate when no public_key.")
    ttl: Duration | None = Field(
        None, description="Validity (default: the role's). " + DURATION_DOC
    )
    critical_options: dict[str, str] = Field(
        default_factory=dict, description="e.g. {'force-command': '/bin/true'}."
    )
    extensions: list[str] | None = Field(None, description="Default: the role's defaults.")
    identity: str | None = Field(None, max_length=255, description="Identity it belongs to.")


class SshSignedOut(BaseModel):
    """A signed certificate; `private_key` only when the server generated the key."""

    id: str = Field(description="Certificate id.")
    ca: str = Field(description="CA name.")
    serial: int = Field(description="64-bit serial.")
    key_id: str = Field(description="Key id (logged by sshd).")
    cert_type: str = Field(description="'user' or 'host'.")
    principals: list[str] = Field(description="Valid principals.")
    valid_after: datetime = Field(description=TIME_DOC)
    valid_before: datetime = Field(description=TIME_DOC)
    certificate: str = Field(description="OpenSSH certificate line (…-cert.pub).")
    private_key: str | None = Field(description="OpenSSH private key; shown once, never stored.")
    credential_id: str | None = Field(description="Inventory credential id.")


class SshRevokeIn(Strict):
    """Revoke certificates of a CA by exactly one of serial, key id or public key; a key id
    or public key stays on the KRL for any certificate of this CA that carries it."""

    ca: str = Field(max_length=128, description="SSH CA name.")
    serial: int | None = Field(None, ge=1, lt=2**64, description="Certificate serial.")
    key_id: str | None = Field(None, max_length=512, description="Certificate key id.")
    public_key: str | None = Field(
        None, max_length=16384, description="OpenSSH public key line of the certified key."
    )

    @model_validator(mode="after")
    def _one(self) -> SshRevokeIn:
        if sum(x is not None for x in (self.serial, self.key_id, self.public_key)) != 1:
            raise ValueError("give exactly one of serial, key_id or public_key")
        return self


class SshRevokedOut(BaseModel):
    """What a revocation did; repeating it revokes nothing more."""

    revoked: int = Field(description="Certificates revoked by this call.")
