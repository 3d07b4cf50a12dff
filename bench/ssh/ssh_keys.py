"""What every signer is sent: distinct Ed25519 public keys as OpenSSH lines, `.pub` files for
ssh-keygen and JSON bodies for wrk.

Contract: `make_keys(n)` returns n OpenSSH public key lines, each of a new Ed25519 key
(`ssh-ed25519 AAAA... bench-<i>`; the private halves are discarded). `write_pubs(dir, keys)`
writes `dir/key-<i>.pub` per key and returns the paths. `sign_body(line)` is the JSON body of
`POST /v1/ssh/sign/<role>`. `fingerprint(line)` is a key's OpenSSH SHA-256 fingerprint as
`ssh-keygen -l` and `-L` print it (`SHA256:` + unpadded base64).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

PRINCIPAL = "deploy"


def make_keys(n: int) -> list[str]:
    out: list[str] = []
    for i in range(n):
        line = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        out.append(f"{line} bench-{i}")
    return out


def write_pubs(directory: Path, keys: Sequence[str]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, line in enumerate(keys):
        path = directory / f"key-{i}.pub"
        path.write_text(line + "\n")
        paths.append(path)
    return paths


def sign_body(line: str) -> bytes:
    return json.dumps({"principals": [PRINCIPAL], "public_key": line}).encode()


def fingerprint(line: str) -> str:
    blob = base64.b64decode(line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
