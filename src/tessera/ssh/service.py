"""SSH certificate authority use cases: CAs, roles, signing (OpenSSH PROTOCOL.certkeys).

Signing keeps the write order of every issued credential: the serial is reserved in a
committed intent row, the certificate is signed, then recorded with its inventory row."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import warnings
from datetime import datetime, timedelta

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import SSHPublicKeyTypes
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness
from tessera.core.text import check_text
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    CredentialStatus,
    LocationKind,
    RecordCredential,
)
from tessera.inventory.service import InventoryService
from tessera.pki import keys
from tessera.pki.models import KeyType
from tessera.pki.ports import Authorizer, KeyHandle, KeyStore
from tessera.pki.profile import validate_profile_name
from tessera.policy.models import Capability
from tessera.ssh.errors import (
    OptionNotAllowed,
    PrincipalNotAllowed,
    SshKeyNotAllowed,
    SshTTLTooLong,
)
from tessera.ssh.models import CertType, SignedCertificate, SignRequest, SshCa, SshCaKeyType
from tessera.ssh.role import PRINCIPAL_RE, Role
from tessera.storage.db import Database
from tessera.storage.models import SshCaRow, SshCertificateRow, SshRoleRow

MAX_KEY_TEXT = 16 * 1024
CACHE_TTL = 1.0  # seconds a role and its CA are served from memory
MAX_PRINCIPALS = 256
MIN_RSA_BITS = 3072
_KEY_TYPES = {
    "ed25519": KeyType.ED25519,
    "ec-p256": KeyType.EC_P256,
    "ec-p384": KeyType.EC_P384,
    "rsa-3072": KeyType.RSA_3072,
    "rsa-4096": KeyType.RSA_4096,
}


class SshService:
    """SSH CAs (`ssh/cas/<name>`), roles (`ssh/roles/<name>`) and signing (`ssh/sign/<role>`)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        keystore: KeyStore,
        authz: Authorizer,
        inventory: InventoryService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._keys = keystore
        self._authz = authz
        self._inventory = inventory
        self._cache: dict[str, tuple[Role, SshCaRow, float]] = {}

    # -- CAs ---------------------------------------------------------------------------------
    def create_ca(
        self, principal: Principal, name: str, cert_type: CertType, key_type: SshCaKeyType
    ) -> SshCa:
        name = validate_profile_name(name)
        self._authz.authorize(principal, f"ssh/cas/{name}", Capability.CREATE, sudo=True)
        with self._db.session(write=True) as s:
            if s.execute(select(SshCaRow.id).where(SshCaRow.name == name)).first():
                raise Conflict(f"an SSH CA named {name!r} already exists")
            handle = self.new_ca_key(s, key_type.value)
            row = SshCaRow(
                id=new_ulid(self._clock, self._rng),
                name=name,
                cert_type=cert_type.value,
                key_type=key_type.value,
                key_ref=handle.ref,
                public_key=public_line(handle.public_key, name),
                status="active",
                created_at=self._clock.now(),
            )
            s.add(row)
            result = _ca(row, self._clock.now())
        self.forget()
        return result

    def new_ca_key(self, s: Session, key_type: str) -> KeyHandle:
        """A new CA key in the KeyStore (in the caller's transaction)."""
        return self._keys.create(s, _KEY_TYPES[key_type])

    def list_cas(self, principal: Principal) -> list[SshCa]:
        self._authz.authorize(principal, "ssh/cas", Capability.LIST)
        with self._db.session() as s:
            now = self._clock.now()
            return [
                _ca(r, now) for r in s.execute(select(SshCaRow).order_by(SshCaRow.name)).scalars()
            ]

    def public_ca(self, name: str) -> SshCa:
        """The CA's public half, for anyone (sshd's TrustedUserCAKeys, known_hosts)."""
        with self._db.session() as s:
            return _ca(self.ca_row(s, name), self._clock.now())

    # -- roles -------------------------------------------------------------------------------
    def write_role(self, principal: Principal, name: str, document: dict[str, object]) -> Role:
        role = Role.from_document(name, document)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            ca = self.ca_row(s, role.ca)
            if ca.cert_type != role.cert_type.value:
                raise InvalidRequest(f"SSH CA {ca.name!r} signs {ca.cert_type} certificates")
            row = s.get(SshRoleRow, role.name)
            cap = Capability.CREATE if row is None else Capability.UPDATE
            self._authz.authorize(principal, f"ssh/roles/{role.name}", cap)
            self._authz.authorize(principal, f"ssh/cas/{role.ca}", Capability.UPDATE)
            if row is None:
                s.add(
                    SshRoleRow(
                        name=role.name, document=role.to_document(), created_at=now, updated_at=now
                    )
                )
            else:
                row.document, row.updated_at = role.to_document(), now
        self.forget()
        return role

    def read_role(self, principal: Principal, name: str) -> Role:
        validate_profile_name(name)
        self._authz.authorize(principal, f"ssh/roles/{name}", Capability.READ)
        with self._db.session() as s:
            return self._role(s, name)

    def list_roles(self, principal: Principal) -> list[str]:
        self._authz.authorize(principal, "ssh/roles", Capability.LIST)
        with self._db.session() as s:
            names = s.execute(select(SshRoleRow.name).order_by(SshRoleRow.name)).scalars()
            return [
                n
                for n in names
                if self._authz.permits(principal, f"ssh/roles/{n}", Capability.READ)
            ]

    # -- signing -----------------------------------------------------------------------------
    def sign(self, principal: Principal, req: SignRequest) -> SignedCertificate:
        name = validate_profile_name(req.role)
        decision = self._authz.authorize(principal, f"ssh/sign/{name}", Capability.CREATE)
        if req.identity is not None:
            self._authz.authorize(principal, f"identities/{req.identity}", Capability.UPDATE)
        role, ca = self._role_and_ca(name)
        private = None
        public: SSHPublicKeyTypes
        if req.public_key is None:
            key_type = _KEY_TYPES.get(req.key_type)
            if key_type is None:
                raise SshKeyNotAllowed(f"key_type must be one of: {', '.join(_KEY_TYPES)}")
            private = keys.generate(key_type)
            public = keys.as_certificate_key(private.public_key())
        else:
            public = load_public_key(req.public_key)
        _check_key(role, public)
        principals = _check_principals(role, req.principals)
        options = _check_options(role, req.critical_options)
        extensions = _check_extensions(role, req.extensions)
        ttl = req.ttl or role.ttl
        limit = role.max_ttl
        policy_max = decision.constraints.get("max_ttl")
        if policy_max is not None:
            limit = min(limit, timedelta(seconds=int(policy_max)))
        if req.ttl is None:
            ttl = min(ttl, limit)
        elif ttl > limit or ttl.total_seconds() <= 0:
            raise SshTTLTooLong(f"ttl must be positive and at most {int(limit.total_seconds())}s")
        now = self._clock.now()
        valid_after, valid_before = now - role.backdate, now + ttl
        # 1. intent: the serial is reserved before anything is signed
        serial = _serial(self._rng)
        key_id = check_text(
            role.key_id_template.replace("{display_name}", principal.display_name)
            .replace("{identity}", req.identity or "-")
            .replace("{role}", role.name)
            .replace("{serial}", str(serial)),
            "key_id",
            512,
        )
        with self._db.session(write=True) as s:
            identity_id, owner = (
                self._inventory.bind_identity(s, req.identity) if req.identity else (None, None)
            )
            row = SshCertificateRow(
                id=new_ulid(self._clock, self._rng),
                ca_id=ca.id,
                serial=format(serial, "x"),
                status="pending",
                role=role.name,
                key_id=key_id,
                principals=list(principals),
                key_fingerprint=key_fingerprint(public),
                identity_id=identity_id,
                credential_id=None,
                valid_after=valid_after,
                valid_before=valid_before,
                certificate=None,
                revoked_at=None,
                created_at=now,
            )
            s.add(row)
        # 2. sign
        try:
            builder = (
                serialization.SSHCertificateBuilder()
                .public_key(public)  # type: ignore[arg-type]
                .serial(serial)
                .type(
                    serialization.SSHCertificateType.USER
                    if role.cert_type is CertType.USER
                    else serialization.SSHCertificateType.HOST
                )
                .key_id(key_id.encode())
                .valid_principals([p.encode() for p in principals])
                .valid_after(int(valid_after.timestamp()))
                .valid_before(int(valid_before.timestamp()))
            )
            for opt, value in sorted(options.items()):
                builder = builder.add_critical_option(opt.encode(), value.encode())
            for ext in sorted(extensions):
                builder = builder.add_extension(ext.encode(), b"")
            cert = builder.sign(self._keys.signing_key(ca.key_ref))  # type: ignore[arg-type]
        except BaseException:
            with self._db.session(write=True) as s:
                s.execute(
                    update(SshCertificateRow)
                    .where(SshCertificateRow.id == row.id)
                    .values(status="abandoned")
                )
            raise
        text = cert.public_bytes().decode()
        # 3. record, with the identity checked again (a decommission meanwhile wins)
        with self._db.session(write=True) as s:
            if req.identity:
                self._inventory.bind_identity(s, req.identity)
            stored = s.get(SshCertificateRow, row.id)
            assert stored is not None
            (stored.credential_id,) = self._inventory.record_issued(
                s,
                [
                    RecordCredential(
                        kind=CredentialKind.SSH_CERTIFICATE,
                        fingerprint=cert_fingerprint(text),
                        name=key_id,
                        source=CredentialSource.MANAGED,
                        identity_id=identity_id,
                        owner=owner,
                        issued_at=valid_after,
                        not_after=valid_before,
                        attributes={
                            "cert_type": role.cert_type.value,
                            "serial": serial,
                            "key_id": key_id,
                            "principals": list(principals),
                            "ca": ca.name,
                            "role": role.name,
                            "key_fingerprint": stored.key_fingerprint,
                            "critical_options": sorted(options),
                            "extensions": sorted(extensions),
                        },
                        location=(LocationKind.ISSUED, f"tessera:ssh/{ca.id}/{row.serial}"),
                    )
                ],
            )
            stored.status = "issued"
            stored.certificate = text
        return SignedCertificate(
            id=row.id,
            ca=ca.name,
            serial=serial,
            key_id=key_id,
            cert_type=role.cert_type,
            principals=principals,
            valid_after=valid_after,
            valid_before=valid_before,
            certificate=text,
            credential_id=stored.credential_id,
            private_key=(
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.OpenSSH,
                    serialization.NoEncryption(),
                ).decode()
                if private is not None
                else None
            ),
        )

    def revoke_for_identity(self, session: Session, identity_id: str, now: datetime) -> int:
        """CredentialRevoker port: the identity's SSH certificates are marked revoked (and
        their inventory rows follow) in the caller's transaction."""
        return self.revoke_where(session, SshCertificateRow.identity_id == identity_id, now)

    def revoke_where(self, session: Session, cond: ColumnElement[bool], now: datetime) -> int:
        """Revoke the issued certificates `cond` selects, with their inventory rows;
        idempotent. Returns how many were revoked now."""
        live = cond & (SshCertificateRow.status == "issued")
        texts = session.execute(select(SshCertificateRow.certificate).where(live)).scalars()
        fingerprints = [
            (CredentialKind.SSH_CERTIFICATE.value, cert_fingerprint(t)) for t in texts if t
        ]
        result = session.execute(
            update(SshCertificateRow).where(live).values(status="revoked", revoked_at=now)
        )
        self._inventory.set_status(session, fingerprints, CredentialStatus.REVOKED, now)
        return int(getattr(result, "rowcount", 0) or 0)

    def forget(self) -> None:
        """Drop cached roles and CAs (after a write, a CA creation or a key rotation here)."""
        self._cache = {}

    def _role_and_ca(self, name: str) -> tuple[Role, SshCaRow]:
        """The role and its CA, cached for a second (a change made on another node applies
        within that time; on this node at once)."""
        hit = self._cache.get(name)
        now = self._clock.monotonic()
        if hit is not None and now - hit[2] < CACHE_TTL:
            return hit[0], hit[1]
        with self._db.session() as s:
            role = self._role(s, name)
            ca = self.ca_row(s, role.ca)
        self._cache = {**self._cache, name: (role, ca, now)}
        return role, ca

    # -- helpers -----------------------------------------------------------------------------
    def ca_row(self, s: Session, name: str) -> SshCaRow:
        row = s.execute(
            select(SshCaRow).where(SshCaRow.name == validate_profile_name(name))
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no SSH CA named {name!r}")
        return row

    def _role(self, s: Session, name: str) -> Role:
        row = s.get(SshRoleRow, name)
        if row is None:
            raise NotFound(f"no SSH role named {name!r}")
        return Role.from_document(row.name, row.document)


def trusted_keys(row: SshCaRow, now: datetime) -> list[str]:
    """The public key lines to trust for this CA now: the current key, and the previous one
    while certificates it signed may still be valid."""
    lines = [row.public_key]
    if row.previous_public_key and row.previous_until and as_utc(row.previous_until) > now:
        lines.append(row.previous_public_key)
    return lines


def _ca(row: SshCaRow, now: datetime) -> SshCa:
    previous = tuple(trusted_keys(row, now)[1:])
    return SshCa(
        id=row.id,
        name=row.name,
        cert_type=CertType(row.cert_type),
        key_type=SshCaKeyType(row.key_type),
        public_key=row.public_key,
        status=row.status,
        created_at=as_utc(row.created_at),
        previous_public_keys=previous,
    )


def _serial(rng: Randomness) -> int:
    while True:
        value = int.from_bytes(rng.token_bytes(8), "big")
        if value:
            return value


def load_public_key(text: str) -> SSHPublicKeyTypes:
    if not isinstance(text, str) or len(text) > MAX_KEY_TEXT:
        raise SshKeyNotAllowed(
            f"public_key must be one OpenSSH line of at most {MAX_KEY_TEXT} bytes"
        )
    try:
        with warnings.catch_warnings():  # DSA parses with a deprecation warning; refused below
            warnings.simplefilter("ignore")
            return serialization.load_ssh_public_key(text.strip().encode())
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise SshKeyNotAllowed("public_key is not a valid OpenSSH public key") from None


def _check_key(role: Role, key: object) -> None:
    if isinstance(key, dsa.DSAPublicKey):
        raise SshKeyNotAllowed("DSA keys are refused (OpenSSH disabled them: too weak)")
    if isinstance(key, rsa.RSAPublicKey):
        family = "rsa"
        if key.key_size < MIN_RSA_BITS:
            raise SshKeyNotAllowed(
                f"RSA keys need at least {MIN_RSA_BITS} bits, this one has {key.key_size}"
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        family = "ecdsa"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        family = "ed25519"
    else:
        raise SshKeyNotAllowed(f"{type(key).__name__} keys are not supported")
    if family not in role.allowed_key_types:
        raise SshKeyNotAllowed(f"{family} keys are not allowed by role {role.name!r}")


def _check_principals(role: Role, requested: tuple[str, ...]) -> tuple[str, ...]:
    if not requested:
        raise InvalidRequest("at least one principal is required")
    if len(requested) > MAX_PRINCIPALS:
        raise InvalidRequest(f"at most {MAX_PRINCIPALS} principals")
    out: list[str] = []
    for p in requested:
        if not PRINCIPAL_RE.fullmatch(p) or "*" in p:
            raise InvalidRequest(f"{p[:64]!r} is not a principal name")
        if not role.allows_principal(p):
            raise PrincipalNotAllowed(f"principal {p!r} is not allowed by role {role.name!r}")
        if p not in out:
            out.append(p)
    return tuple(out)


def _check_options(role: Role, requested: object) -> dict[str, str]:
    assert isinstance(requested, dict) or hasattr(requested, "items")
    out: dict[str, str] = {}
    for name, value in dict(requested).items():  # type: ignore[call-overload]
        if name not in role.allowed_critical_options:
            raise OptionNotAllowed(f"critical option {name!r} is unknown or not allowed")
        check_text(value, f"critical option {name}", 1024)
        if name == "source-address":
            for cidr in value.split(","):
                try:
                    ipaddress.ip_network(cidr.strip(), strict=False)
                except ValueError:
                    raise OptionNotAllowed(f"source-address: {cidr!r} is not a CIDR") from None
        out[name] = value
    return out


def _check_extensions(role: Role, requested: tuple[str, ...] | None) -> tuple[str, ...]:
    if requested is None:
        return role.default_extensions
    for ext in requested:
        if ext not in role.allowed_extensions:
            raise OptionNotAllowed(f"extension {ext!r} is unknown or not allowed")
    return tuple(sorted(set(requested)))


def cert_fingerprint(text: str) -> str:
    """The inventory fingerprint of a certificate: SHA-256 (hex) of its wire blob."""
    return hashlib.sha256(base64.b64decode(text.split()[1])).hexdigest()


def public_line(key: object, ca_name: str) -> str:
    """The OpenSSH one-line public key of a CA key, commented with the CA's name."""
    public = keys.as_certificate_key(key)  # type: ignore[arg-type]
    line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} tessera-{ca_name}"


def key_blob_b64(key: object) -> str:
    """The base64 wire blob of a public key (as in an OpenSSH public key line)."""
    line = key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return str(line.split()[1].decode())


def key_fingerprint(key: object) -> str:
    """OpenSSH's SHA256 fingerprint of a public key, without the `SHA256:` prefix."""
    line = key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    blob = base64.b64decode(line.split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
