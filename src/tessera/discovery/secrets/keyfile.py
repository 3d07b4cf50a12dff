"""The key that fingerprints found secrets: from `TESSERA_SCAN_KEY` (hex), or a 0600 key file
created on first use (default `~/.config/tessera/scan.key`). The same key gives the same
fingerprints across scans, which baselines and the inventory rely on."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from tessera.core.errors import InvalidRequest
from tessera.core.randomness import Randomness
from tessera.discovery.secrets.hashing import MIN_KEY_BYTES

ENV = "TESSERA_SCAN_KEY"
KEY_BYTES = 32


def default_key_file(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "tessera" / "scan.key"


def load_scan_key(key_file: Path | None, env: Mapping[str, str], rng: Randomness) -> bytes:
    """The scan key: env var first, then `key_file` (or the default), created when missing."""
    if env.get(ENV):
        return _decode(env[ENV], ENV)
    path = key_file or default_key_file(env)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another scan created it a moment ago
        return _read(path)
    except OSError as exc:
        raise InvalidRequest(f"cannot create scan key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(rng.token_bytes(KEY_BYTES).hex() + "\n")
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        st = path.stat()
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not hex text"
        raise InvalidRequest(f"cannot read scan key file {path}: {reason}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidRequest(f"scan key file {path} is accessible to others: chmod 600 it")
    return _decode(text.strip(), str(path))


def _decode(value: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(value.strip())
    except ValueError:
        raise InvalidRequest(f"{where}: the scan key must be hex") from None
    if len(key) < MIN_KEY_BYTES:
        raise InvalidRequest(f"{where}: the scan key must be at least {MIN_KEY_BYTES} bytes")
    return key
