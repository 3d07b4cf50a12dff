"""The peer, OpenSSH's `ssh-keygen -s`, and the checks every signed certificate goes through.

Contract: `ensure_tools()` returns the versions of `wrk` and OpenSSH, installing the Debian
packages `wrk` and `openssh-client` with apt-get when a command is missing (the installer of
bench/pki/pki_tools.py); raises `pki_tools.ToolError` when one is still missing.
`KeygenCA(dir)` writes an Ed25519 CA key pair (`dir/ca`, mode 0600, OpenSSH format, and
`dir/ca.pub`). `keygen_rate(ca, pubs, workers, count, cap)` runs
`ssh-keygen -q -s ca -I bench-<i> -n deploy -V +1h -z <i+1> key-<i>.pub`, one process per
certificate, from `workers` threads (keys in a cycle), `count` in all or until `cap` seconds
have passed, and returns a `pki_inproc.Rate` whose CPU time includes the ssh-keygen processes.
`check_cert(path, ca_line, key_line)` raises `AssertionError` unless the certificate file
`path` is a user certificate for `key_line`'s key with the only principal `deploy`, signed by
the CA `ca_line`: both as `ssh-keygen -L` reads it and by pyca/cryptography's signature check.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pki_inproc import Rate, _timed
from pki_tools import ToolError, _install, _version
from ssh_keys import PRINCIPAL, fingerprint

PACKAGES = {"wrk": "wrk", "ssh-keygen": "openssh-client"}  # command -> Debian package


@dataclass
class SshTools:
    wrk_version: str
    openssh_version: str


def _missing() -> list[str]:
    return [cmd for cmd in PACKAGES if shutil.which(cmd) is None]


def ensure_tools() -> SshTools:
    if _missing():
        log = _install(sorted({PACKAGES[cmd] for cmd in _missing()}))
        still = _missing()
        if still:
            need = " ".join(sorted({PACKAGES[cmd] for cmd in still}))
            raise ToolError(
                f"{', '.join(still)} not found and could not be installed "
                f"(run as root: apt-get update && apt-get install -y {need}).\n{log}"
            )
    openssh = "unknown"
    if shutil.which("ssh"):
        openssh = _version(["ssh", "-V"])  # `ssh -V` prints to stderr
    else:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "openssh-client"],
            capture_output=True,
            text=True,
            check=False,
        )
        openssh = f"openssh-client {out.stdout.strip() or 'unknown'}"
    return SshTools(wrk_version=_version(["wrk", "--version"]), openssh_version=openssh)


class KeygenCA:
    """An Ed25519 CA key for ssh-keygen, the same key type as Tessera's CA."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        key = ed25519.Ed25519PrivateKey.generate()
        self.key_path = directory / "ca"
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.OpenSSH,
                    serialization.NoEncryption(),
                )
            )
        self.public_line = (
            key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        (directory / "ca.pub").write_text(self.public_line + " bench-keygen-ca\n")


def cert_path(pub: Path) -> Path:
    """Where `ssh-keygen -s` writes the certificate of `key-<i>.pub`: `key-<i>-cert.pub`."""
    return pub.with_name(pub.name.removesuffix(".pub") + "-cert.pub")


def keygen_rate(ca: KeygenCA, pubs: Sequence[Path], workers: int, count: int, cap: float) -> Rate:
    def sign(i: int) -> None:
        out = subprocess.run(
            ["ssh-keygen", "-q", "-s", str(ca.key_path), "-I", f"bench-{i}", "-n", PRINCIPAL,
             "-V", "+1h", "-z", str(i + 1), str(pubs[i % len(pubs)])],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"ssh-keygen exit {out.returncode}: {out.stderr.strip()[:200]}")

    before = os.times()
    rate = _timed(f"ssh-keygen -s, {workers} worker(s)", workers, count, cap, sign)
    after = os.times()
    children = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    # this process (spawning, waiting) plus the ssh-keygen processes it waited for
    cpu = rate.cpu_s + children
    rate.cpu_s = round(cpu, 2)
    rate.cpu_us_per_op = round(cpu * 1e6 / rate.ok, 1) if rate.ok else 0.0
    rate.cores_busy = round(cpu / rate.duration_s, 2) if rate.duration_s > 0 else 0.0
    return rate


@dataclass
class CertInfo:
    """What `ssh-keygen -L` says about a certificate."""

    type: str
    public_key: str
    signing_ca: str
    key_id: str
    principals: list[str]
    valid: str


def describe(path: Path) -> CertInfo:
    out = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, f"ssh-keygen -L {path.name}: {out.stderr.strip()}"
    fields: dict[str, str] = {}
    principals: list[str] = []
    section = ""
    for line in out.stdout.splitlines():
        if line.startswith("                "):  # an item of the list above
            if section == "Principals":
                principals.append(line.strip())
        elif ":" in line and line.startswith("        "):
            section, _, value = line.strip().partition(":")
            fields[section] = value.strip()
    return CertInfo(
        type=fields.get("Type", ""),
        public_key=fields.get("Public key", ""),
        signing_ca=fields.get("Signing CA", ""),
        key_id=fields.get("Key ID", ""),
        principals=principals,
        valid=fields.get("Valid", ""),
    )


def check_cert(path: Path, ca_line: str, key_line: str) -> CertInfo:
    info = describe(path)
    assert info.type.endswith(" user certificate"), info.type
    assert info.public_key.split() == ["ED25519-CERT", fingerprint(key_line)], info.public_key
    assert info.signing_ca.split()[:2] == ["ED25519", fingerprint(ca_line)], info.signing_ca
    assert info.principals == [PRINCIPAL], info.principals
    cert = serialization.load_ssh_public_identity(path.read_bytes().strip())
    assert isinstance(cert, serialization.SSHCertificate), type(cert)
    cert.verify_cert_signature()  # raises InvalidSignature
    ca_key = serialization.load_ssh_public_key(ca_line.encode())
    assert cert.signature_key() == ca_key, "signed by another CA"
    return info
