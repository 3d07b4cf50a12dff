"""The external tools the PKI benchmark drives: `wrk` (load generator) and `cfssl` (the peer).

Contract: `ensure_tools()` returns a `Tools` with the path and version of each, installing the
Debian packages `wrk` and `golang-cfssl` with `apt-get install -y` when a tool is missing (and
`apt-get update` once, only if that install fails). Raises `ToolError` with a message saying
what to install when a tool is still missing afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

# command -> Debian package that provides it
PACKAGES = {"wrk": "wrk", "cfssl": "golang-cfssl"}


class ToolError(RuntimeError):
    """A tool the benchmark needs is missing and could not be installed."""


@dataclass
class Tools:
    wrk: str
    wrk_version: str
    cfssl: str
    cfssl_version: str


def _missing() -> list[str]:
    return [cmd for cmd in PACKAGES if shutil.which(cmd) is None]


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def _install(packages: list[str]) -> str:
    """apt-get install; on failure apt-get update once and retry. Returns apt's last output."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available on this machine"
    print(f"installing {', '.join(packages)} with apt-get ...", flush=True)
    out = _apt("install", "-y", *packages)
    if out.returncode != 0:
        print("apt-get install failed; running apt-get update and retrying ...", flush=True)
        _apt("update")
        out = _apt("install", "-y", *packages)
    return (out.stdout + out.stderr)[-2000:]


def _version(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].split(" Copyright")[0].strip() if lines else "unknown"


def ensure_tools() -> Tools:
    missing = _missing()
    if missing:
        log = _install(sorted({PACKAGES[cmd] for cmd in missing}))
        still = _missing()
        if still:
            need = " ".join(sorted({PACKAGES[cmd] for cmd in still}))
            raise ToolError(
                f"{', '.join(still)} not found and could not be installed "
                f"(run as root: apt-get update && apt-get install -y {need}).\n{log}"
            )
    wrk = shutil.which("wrk") or "wrk"
    cfssl = shutil.which("cfssl") or "cfssl"
    return Tools(
        wrk=wrk,
        wrk_version=_version([wrk, "--version"]),
        cfssl=cfssl,
        cfssl_version=_version([cfssl, "version"]),
    )
