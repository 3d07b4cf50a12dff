"""A real OpenSSH server (Debian's openssh-server) and client for end-to-end tests.

`ensure_sshd()` installs openssh-server when `/usr/sbin/sshd` is missing (root only: CI and
the dev container run as root) and prepares the privilege separation directory. `Sshd` runs
one `sshd -D -e` on a free port of 127.0.0.1 with its own configuration file, host key and
log; nothing of the system's sshd configuration (/etc/ssh/sshd_config) is read. Every wait
is bounded."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import _on_ci, free_port

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
INSTALL_TIMEOUT = 600
START_TIMEOUT = 15.0
CLIENT_TIMEOUT = 30


def _sshd_present() -> bool:
    return SSHD.is_file() and os.access(SSHD, os.X_OK)


def ensure_sshd() -> Path:
    """The sshd binary, installed if missing; skips (or fails on CI) when that is impossible."""
    if os.geteuid() != 0:
        pytest.skip(
            "the sshd end-to-end test runs a real sshd and logs in as root over it: it needs "
            "root (CI and the dev container run as root)"
        )
    if not _sshd_present():
        _apt_install("openssh-server")
    if not _sshd_present():
        _unavailable(f"{SSHD} is still missing after installing openssh-server")
    # sshd refuses to start without its privilege separation directory (root-owned, 0755)
    PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    _check_root_not_locked()
    return SSHD


def _apt_install(package: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    outputs: list[str] = []
    for attempt in (install, ["apt-get", "update", "-qq"], install):
        try:
            r = subprocess.run(
                attempt, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"{' '.join(attempt)} did not run: {exc}")
        outputs.append(f"$ {' '.join(attempt)} -> {r.returncode}\n{r.stdout}{r.stderr}")
        if attempt is install and r.returncode == 0:
            return
    _unavailable(f"could not install {package}:\n" + "\n".join(outputs)[-4000:])


def _unavailable(reason: str) -> None:
    if _on_ci():
        pytest.fail(f"sshd end-to-end test cannot run on CI: {reason}")
    pytest.skip(f"sshd end-to-end test: {reason}")


def _check_root_not_locked() -> None:
    """With `UsePAM no`, sshd refuses accounts whose password field starts with '!'."""
    try:
        for line in Path("/etc/shadow").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == "root" and rest.startswith("!"):
                _unavailable(
                    "root's password field in /etc/shadow starts with '!' (locked), and sshd "
                    "with UsePAM no refuses locked accounts even for public keys"
                )
    except OSError:
        pass


def keygen(path: Path, comment: str = "tessera-e2e") -> str:
    """A new unencrypted Ed25519 key pair at `path` (0600); returns the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=CLIENT_TIMEOUT,
    )
    return path.with_name(path.name + ".pub").read_text().strip()


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Replace `path` in one rename, so sshd never reads a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
    return path


@dataclass
class Sshd:
    """One foreground sshd on 127.0.0.1; `log_since(mark())` gives what one attempt logged."""

    workdir: Path
    port: int
    config: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        host_key: Path,
        host_certificate: Path,
        trusted_user_ca_keys: Path,
        revoked_keys: Path,
        principals: dict[str, list[str]],
    ) -> Sshd:
        sshd = ensure_sshd()
        workdir.mkdir(parents=True, exist_ok=True)
        principals_dir = workdir / "principals"
        principals_dir.mkdir(exist_ok=True)
        for user, names in principals.items():
            (principals_dir / user).write_text("".join(n + "\n" for n in names))
        port = free_port()
        config = workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    f"ListenAddress 127.0.0.1:{port}",
                    f"PidFile {workdir / 'sshd.pid'}",
                    f"HostKey {host_key}",
                    f"HostCertificate {host_certificate}",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "HostbasedAuthentication no",
                    "PubkeyAuthentication yes",
                    "AuthenticationMethods publickey",
                    # only certificates: no authorized_keys of any user counts
                    "AuthorizedKeysFile none",
                    f"TrustedUserCAKeys {trusted_user_ca_keys}",
                    f"RevokedKeys {revoked_keys}",
                    f"AuthorizedPrincipalsFile {principals_dir}/%u",
                    "UseDNS no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "X11Forwarding no",
                    "AllowTcpForwarding no",
                    "AllowAgentForwarding no",
                    "PermitTunnel no",
                    "MaxAuthTries 3",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        log_path = workdir / "sshd.log"
        test = subprocess.run(
            [str(sshd), "-t", "-f", str(config)],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
        )
        if test.returncode != 0:
            raise AssertionError(
                f"sshd -t refused the config:\n{test.stderr}\n{config.read_text()}"
            )
        server = cls(workdir, port, config, log_path)
        with open(log_path, "wb") as log:
            server.proc = subprocess.Popen(
                [str(sshd), "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server._wait_listening()
        return server

    def _wait_listening(self) -> None:
        assert self.proc is not None
        needle = f"Server listening on 127.0.0.1 port {self.port}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sshd exited ({self.proc.returncode}):\n{self.log()}")
            if needle in self.log():
                return
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"sshd did not listen within {START_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # let the last connections' sshd processes finish first (they are the listener's
            # children; orphaned, they would outlive the test), then stop the listener
            deadline = time.monotonic() + 5
            while _children(self.proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def mark(self) -> int:
        return len(self.log())

    def log_since(self, mark: int, settle: float = 2.0) -> str:
        """The log from `mark` on. The per-connection sshd child writes its last lines as the
        client goes away: wait (bounded) until the log stops growing."""
        deadline = time.monotonic() + settle
        last = self.log()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.log()
            if now == last and ("Connection closed" in now[mark:] or "Disconnected" in now[mark:]):
                break
            last = now
        return self.log()[mark:]


def _children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def ssh(
    port: int,
    key: Path,
    known_hosts: Path,
    *,
    certificate: Path | None = None,
    user: str = "root",
    command: str = "echo ok",
) -> subprocess.CompletedProcess[str]:
    """One non-interactive `ssh` to 127.0.0.1 that never prompts: an unknown or unverifiable
    host key fails (StrictHostKeyChecking=yes, BatchMode=yes)."""
    cert = certificate or key.with_name(key.name + "-cert.pub")
    cmd = [
        "ssh",
        "-F",
        "/dev/null",
        "-p",
        str(port),
        "-i",
        str(key),
        "-o",
        f"CertificateFile={cert}",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        "BatchMode=yes",
        "-o",
        "PreferredAuthentications=publickey",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "UpdateHostKeys=no",
        "-o",
        "CheckHostIP=no",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "LogLevel=VERBOSE",
        f"{user}@127.0.0.1",
        command,
    ]
    return subprocess.run(
        cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=CLIENT_TIMEOUT
    )


def krl_query(krl: Path, *certificates: Path) -> subprocess.CompletedProcess[str]:
    """`ssh-keygen -Q -f krl cert…`: one '<file>: ok' or '<file>: REVOKED' line per file."""
    return subprocess.run(
        ["ssh-keygen", "-Q", "-f", str(krl), *map(str, certificates)],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )
