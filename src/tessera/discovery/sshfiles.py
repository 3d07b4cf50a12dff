"""SSH key files: OpenSSH private keys (public part read without the passphrase, PROTOCOL.key),
`authorized_keys` (sshd(8) AUTHORIZED_KEYS FILE FORMAT), `known_hosts` (SSH_KNOWN_HOSTS FILE
FORMAT, hashed hosts and markers) and public key lines anywhere else."""

from __future__ import annotations

import base64
import binascii
import re
import struct
import warnings
from enum import StrEnum
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from tessera.discovery.keyinfo import Finding, Parsed, key_facts, spki_fingerprint, ssh_fingerprint
from tessera.inventory.models import CredentialKind

OPENSSH_MAGIC = b"openssh-key-v1\x00"
_MAX_KEYS = 16
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
)
_TYPE_ALT = "|".join(re.escape(t) for t in KEY_TYPES)
# A key type token, then base64 that starts like an SSH blob ("AAAA": a 32-bit length).
_KEY_RE = re.compile(rf"(?<![\w@.-])({_TYPE_ALT})[ \t]+(AAAA[A-Za-z0-9+/]+={{0,2}})(?![\w+/=])")
_MARKERS = ("@cert-authority", "@revoked")


class SshFileStyle(StrEnum):
    """How the lines of a file are laid out, which decides what a prefix before a key means."""

    AUTHORIZED_KEYS = "authorized_keys"
    KNOWN_HOSTS = "known_hosts"
    PUBLIC_KEY = "public_key_file"
    EMBEDDED = "embedded"


class _Truncated(Exception):
    pass


class _Reader:
    """SSH wire format (RFC 4251 §5): uint32 and length-prefixed strings."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _Truncated
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())


def openssh_private(der: bytes, name: str, line: int | None) -> Parsed:
    """The public key(s) of an `OPENSSH PRIVATE KEY` body; `unencrypted` is cipher "none".
    The private section is never decrypted or decoded."""
    out = Parsed()
    if not der.startswith(OPENSSH_MAGIC):
        out.problem(line, "OpenSSH private key without the openssh-key-v1 header")
        return out
    reader = _Reader(der[len(OPENSSH_MAGIC) :])
    try:
        cipher = reader.string().decode("ascii", "replace")
        reader.string()  # kdf name
        reader.string()  # kdf options
        count = reader.uint32()
        if not 1 <= count <= _MAX_KEYS:
            out.problem(line, f"OpenSSH private key declares {count} keys")
            return out
        blobs = [reader.string() for _ in range(count)]
    except _Truncated:
        out.problem(line, "OpenSSH private key is truncated")
        return out
    for blob in blobs:
        key = _load_blob(blob)
        if key is None:
            out.problem(line, "OpenSSH private key holds an unsupported or malformed public key")
            continue
        finding = _ssh_finding(key, blob, name, line, CredentialKind.PRIVATE_KEY)
        finding.attributes.update(
            {"format": "openssh", "unencrypted": cipher == "none", "cipher": cipher}
        )
        out.findings.append(finding)
    return out


def ssh_lines(data: bytes, style: SshFileStyle, name: str) -> Parsed:
    """Every SSH public key of a text file. In authorized_keys and known_hosts a line that is
    neither blank, a comment nor a key is a problem; in a *.pub file a malformed key is; other
    text (certificates, PEM public keys, prose) is passed over."""
    out = Parsed()
    for number, raw in enumerate(data.split(b"\n"), start=1):
        text = raw.decode("utf-8", "replace").strip()
        if not text or text.startswith("#"):
            continue
        if style is SshFileStyle.AUTHORIZED_KEYS:
            _authorized_line(text, number, out)
        elif style is SshFileStyle.KNOWN_HOSTS:
            _known_hosts_line(text, number, out)
        else:
            _free_line(text, number, style, name, out)
    return out


def _authorized_line(text: str, number: int, out: Parsed) -> None:
    options, rest = _split_options(text)
    finding = _typed_key(rest, number)
    if finding is None:
        out.problem(number, "not an SSH public key line")
        return
    finding.attributes["source"] = SshFileStyle.AUTHORIZED_KEYS.value
    # Option values (forced commands, environment) may hold secrets: only their names are kept.
    finding.attributes["options"] = [opt.split("=", 1)[0] for opt in _split_commas(options)]
    out.findings.append(finding)


def _known_hosts_line(text: str, number: int, out: Parsed) -> None:
    fields = text.split(None, 1)
    marker = None
    if fields[0] in _MARKERS and len(fields) == 2:
        marker = fields[0][1:]
        fields = fields[1].split(None, 1)
    if len(fields) != 2:
        out.problem(number, "not a known_hosts line")
        return
    hosts = fields[0].split(",")
    finding = _typed_key(fields[1], number)
    if finding is None:
        out.problem(number, "not a known_hosts line")
        return
    finding.attributes.update(
        {
            "source": SshFileStyle.KNOWN_HOSTS.value,
            "hosts": hosts,
            "hashed_hosts": any(h.startswith("|1|") for h in hosts),
        }
    )
    if marker:
        finding.attributes["marker"] = marker
    out.findings.append(finding)


def _free_line(text: str, number: int, style: SshFileStyle, name: str, out: Parsed) -> None:
    matches = list(_KEY_RE.finditer(text))
    for match in matches:
        blob = _decode_blob(match.group(1), match.group(2))
        key = None if blob is None else _load_blob(blob)
        if blob is None or key is None:
            if style is SshFileStyle.PUBLIC_KEY:
                out.problem(number, f"malformed {match.group(1)} public key")
            continue
        comment = text[match.end() :].strip() if len(matches) == 1 else ""
        finding = _ssh_finding(key, blob, comment or name, number, CredentialKind.SSH_KEY)
        finding.attributes["source"] = style.value
        if comment:
            finding.attributes["comment"] = comment
        out.findings.append(finding)


def _typed_key(text: str, number: int) -> Finding | None:
    """`type base64 [comment]` at the start of `text`."""
    parts = text.split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        return None
    blob = _decode_blob(parts[0], parts[1])
    key = None if blob is None else _load_blob(blob)
    if blob is None or key is None:
        return None
    comment = parts[2].strip() if len(parts) == 3 else ""
    finding = _ssh_finding(key, blob, comment or f"{parts[0]} key", number, CredentialKind.SSH_KEY)
    if comment:
        finding.attributes["comment"] = comment
    return finding


def _ssh_finding(
    key: Any, blob: bytes, name: str, line: int | None, kind: CredentialKind
) -> Finding:
    attributes: dict[str, Any] = {
        "ssh_key_type": _blob_type(blob),
        "ssh_fingerprint": ssh_fingerprint(blob),
    }
    attributes.update(key_facts(key))
    return Finding(kind, spki_fingerprint(key), name, line, attributes=attributes)


def _decode_blob(key_type: str, b64: str) -> bytes | None:
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return blob if _blob_type(blob) == key_type else None


def _blob_type(blob: bytes) -> str:
    try:
        return _Reader(blob).string().decode("ascii")
    except (_Truncated, UnicodeDecodeError):
        return ""


def _load_blob(blob: bytes) -> Any:
    """The public key of an SSH blob, or None when it is malformed or of an unknown type."""
    key_type = _blob_type(blob)
    if not key_type:
        return None
    line = key_type.encode() + b" " + base64.b64encode(blob)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DSA is deprecated but still found on disk
            return serialization.load_ssh_public_key(line)
    except (ValueError, UnsupportedAlgorithm):
        return None


def _split_options(text: str) -> tuple[str, str]:
    """(options, rest) of an authorized_keys line: options end at the first unquoted blank."""
    first = text.split(None, 1)[0]
    if first in KEY_TYPES:
        return "", text
    quoted = escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            return text[:i], text[i:].lstrip()
    return text, ""


def _split_commas(options: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in options:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if current:
        parts.append("".join(current))
    return [p for p in parts if p]
