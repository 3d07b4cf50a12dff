"""OpenSSH Key Revocation Lists (PROTOCOL.krl): the binary file sshd reads as `RevokedKeys`
and `ssh-keygen -Q` checks against. Unsigned (sshd does not check KRL signatures)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

KRL_MAGIC = 0x5353484B524C0A00  # "SSHKRL\n\0"
KRL_FORMAT_VERSION = 1
SECTION_CERTIFICATES = 1
SECTION_EXPLICIT_KEY = 2
CERT_SERIAL_LIST = 0x20
CERT_KEY_ID = 0x23


@dataclass(frozen=True)
class CaRevocations:
    """What one CA key revoked: certificate serials and key ids."""

    ca_key_blob: bytes
    serials: Sequence[int] = ()
    key_ids: Sequence[str] = ()


@dataclass(frozen=True)
class Krl:
    """A whole KRL: certificate revocations per CA key, and plain keys revoked outright."""

    version: int
    generated: int  # seconds since the epoch
    cas: Sequence[CaRevocations] = ()
    keys: Sequence[bytes] = field(default_factory=tuple)  # public key blobs
    comment: str = "tessera"

    def encode(self) -> bytes:
        out = [
            struct.pack(">QIQQQ", KRL_MAGIC, KRL_FORMAT_VERSION, self.version, self.generated, 0),
            _string(b""),  # reserved
            _string(self.comment.encode()),
        ]
        for ca in self.cas:
            body = [_string(ca.ca_key_blob), _string(b"")]
            serials = sorted(set(s for s in ca.serials if s > 0))
            if serials:
                body.append(bytes([CERT_SERIAL_LIST]))
                body.append(_string(b"".join(struct.pack(">Q", s) for s in serials)))
            ids = sorted(set(ca.key_ids))
            if ids:
                body.append(bytes([CERT_KEY_ID]))
                body.append(_string(b"".join(_string(i.encode()) for i in ids)))
            if len(body) > 2:
                out.append(bytes([SECTION_CERTIFICATES]) + _string(b"".join(body)))
        if self.keys:
            blobs = b"".join(_string(k) for k in sorted(set(self.keys)))
            out.append(bytes([SECTION_EXPLICIT_KEY]) + _string(blobs))
        return b"".join(out)


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data
