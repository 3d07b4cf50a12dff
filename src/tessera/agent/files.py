"""Certificate files on disk: atomic replacement and reading back what is already there.

A file is written to a temporary file in its own directory (mode and owner set before the
first byte, so a key is never readable by others even for a moment), fsynced, then renamed
over the old one: a reader sees the old file or the new one, never a torn one. All files of
one certificate are staged first and renamed together.
"""

from __future__ import annotations

import contextlib
import grp
import ipaddress
import os
import pwd
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tessera.agent.config import CertificateConfig

MAX_FILE = 256 * 1024
_KEY_MARK = b"-----BEGIN PRIVATE KEY-----"


@dataclass(frozen=True)
class FileWrite:
    """One file to (re)place: its bytes, mode and optional owner and group ids."""

    path: Path
    data: bytes
    mode: int
    uid: int = -1
    gid: int = -1


@dataclass(frozen=True)
class OnDisk:
    """A certificate found on disk whose key matches it."""

    serial: str
    not_before: datetime
    not_after: datetime
    written_at: datetime


def _stage(item: FileWrite) -> Path:
    fd, name = tempfile.mkstemp(dir=item.path.parent, prefix=f".{item.path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        # mode and owner first: the bytes land in a file that is already private
        os.fchmod(fd, item.mode)
        if item.uid != -1 or item.gid != -1:
            os.fchown(fd, item.uid, item.gid)
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(item.data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_files(items: Sequence[FileWrite]) -> None:
    """Replace every file atomically; on any failure before the renames nothing is replaced
    and no temporary file is left behind."""
    staged: list[tuple[Path, Path]] = []
    try:
        for item in items:
            staged.append((_stage(item), item.path))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    for directory in {final.parent for _, final in staged}:
        _fsync_dir(directory)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace one file atomically."""
    write_files([FileWrite(path, data, mode)])


def file_writes(
    spec: CertificateConfig, cert_pem: str, key_pem: str, chain_pem: str
) -> list[FileWrite]:
    """The files one issued certificate becomes, as the configuration asks."""
    uid, gid = _ids(spec)
    cert = cert_pem.strip() + "\n"
    chain = chain_pem.strip() + "\n" if chain_pem.strip() else ""
    key = key_pem.strip() + "\n"
    out = []
    if spec.cert_file is not None and spec.key_file is not None:
        leaf = cert + chain if spec.cert_includes_chain else cert
        out.append(FileWrite(spec.key_file, key.encode(), spec.key_mode, uid, gid))
        out.append(FileWrite(spec.cert_file, leaf.encode(), spec.mode, uid, gid))
        if spec.chain_file is not None:
            out.append(FileWrite(spec.chain_file, chain.encode(), spec.mode, uid, gid))
    if spec.combined_file is not None:
        data = (cert + chain + key).encode()
        out.append(FileWrite(spec.combined_file, data, spec.key_mode, uid, gid))
    return out


def _ids(spec: CertificateConfig) -> tuple[int, int]:
    uid = gid = -1
    if isinstance(spec.owner, int):
        uid = spec.owner
    elif spec.owner is not None:
        uid = pwd.getpwnam(spec.owner).pw_uid
    if isinstance(spec.group, int):
        gid = spec.group
    elif spec.group is not None:
        gid = grp.getgrnam(spec.group).gr_gid
    return uid, gid


def read_existing(spec: CertificateConfig) -> OnDisk | None:
    """The certificate already on disk, if it parses, its key matches, and it carries the
    configured names; None otherwise (the agent then issues a new one)."""
    if spec.cert_file is not None and spec.key_file is not None:
        cert_bytes, key_bytes = _read(spec.cert_file), _read(spec.key_file)
        source = spec.cert_file
    elif spec.combined_file is not None:
        cert_bytes = key_bytes = _read(spec.combined_file)
        source = spec.combined_file
    else:
        return None
    if cert_bytes is None or key_bytes is None:
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_bytes)
        start = key_bytes.find(_KEY_MARK)
        key = serialization.load_pem_private_key(key_bytes[max(start, 0) :], password=None)
    except (ValueError, TypeError):
        return None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, spki) != cert.public_key().public_bytes(enc, spki):
        return None
    if not _names_match(spec, cert):
        return None
    written = datetime.fromtimestamp(source.stat().st_mtime, tz=UTC)
    return OnDisk(
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        written_at=written,
    )


def _read(path: Path) -> bytes | None:
    with contextlib.suppress(OSError), path.open("rb") as fh:
        return fh.read(MAX_FILE)
    return None


def _names_match(spec: CertificateConfig, cert: x509.Certificate) -> bool:
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None
    if spec.common_name is not None and cn != spec.common_name:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return not (spec.alt_names or spec.ip_sans or spec.uri_sans)
    dns = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    uris = set(san.get_values_for_type(x509.UniformResourceIdentifier))
    return (
        {n.lower() for n in spec.alt_names} <= dns
        and {_canon_ip(i) for i in spec.ip_sans} <= ips
        and set(spec.uri_sans) <= uris
    )


def _canon_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value
