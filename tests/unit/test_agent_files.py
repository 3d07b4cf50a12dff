"""Agent files: atomic replacement (no partial file after a failure mid-write, no temporary
left behind), private key mode set before the first byte, combined and full-chain layouts."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tessera.agent import files
from tessera.agent.files import FileWrite, file_writes, read_existing, write_files
from tests.unit.test_agent_runner import config, make_issued

NOW = datetime(2031, 5, 1, tzinfo=UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def issue_into(tmp: Path, **cert: Any) -> tuple[Any, Any]:
    spec = config(tmp, **cert).certificates[0]
    issued = make_issued(spec, NOW, timedelta(hours=1))
    write_files(file_writes(spec, issued.certificate_pem, issued.private_key_pem, issued.chain_pem))
    return spec, issued


def test_writes_cert_key_chain_with_modes(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # a permissive umask must not widen the key's mode
    try:
        spec, issued = issue_into(tmp_path)
    finally:
        os.umask(old_umask)
    assert (tmp_path / "web.crt").read_text() == issued.certificate_pem.strip() + "\n"
    assert (tmp_path / "web.key").read_text() == issued.private_key_pem.strip() + "\n"
    assert (tmp_path / "web.chain").read_text() == issued.chain_pem.strip() + "\n"
    assert mode(tmp_path / "web.key") == 0o600
    assert mode(tmp_path / "web.crt") == mode(tmp_path / "web.chain") == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web.chain", "web.crt", "web.key"]
    found = read_existing(spec)
    assert found is not None and found.serial == issued.serial


def test_key_mode_is_set_before_any_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    real = os.fdopen

    def spy(fd: int, *args: Any, **kwargs: Any) -> Any:
        st = os.fstat(fd)
        seen.append((stat.S_IMODE(st.st_mode), st.st_size))
        return real(fd, *args, **kwargs)

    monkeypatch.setattr(files.os, "fdopen", spy)
    issue_into(tmp_path, key_mode="0640", mode="0644")
    assert seen[0] == (0o640, 0)  # the key: already its final mode while still empty
    assert seen[1] == (0o644, 0)


def test_failure_mid_write_leaves_old_files_and_no_temporaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue_into(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = {"n": 0}
    real = os.fsync

    def crash_on_second(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the key is staged, the certificate is half way
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(files.os, "fsync", crash_on_second)
    spec = config(tmp_path).certificates[0]
    fresh = make_issued(spec, NOW, timedelta(hours=2))
    with pytest.raises(OSError, match="No space"):
        write_files(
            file_writes(spec, fresh.certificate_pem, fresh.private_key_pem, fresh.chain_pem)
        )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_interrupted_single_write_never_leaves_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "status.json"
    files.atomic_write(target, b"old")

    class Boom(Exception):
        pass

    def die(fd: int) -> None:
        raise Boom

    monkeypatch.setattr(files.os, "fsync", die)
    with pytest.raises(Boom):
        files.atomic_write(target, b"new content that never lands")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_combined_and_full_chain_layouts(tmp_path: Path) -> None:
    _, issued = issue_into(
        tmp_path, cert_includes_chain=True, combined_file=str(tmp_path / "all.pem")
    )
    crt = (tmp_path / "web.crt").read_text()
    assert crt.count("BEGIN CERTIFICATE") == 2
    combined = (tmp_path / "all.pem").read_text()
    assert combined.index("BEGIN CERTIFICATE") < combined.index("BEGIN PRIVATE KEY")
    assert mode(tmp_path / "all.pem") == 0o600
    combined_only = config(tmp_path, cert_file=None, key_file=None, chain_file=None,
                           combined_file=str(tmp_path / "all.pem")).certificates[0]  # fmt: skip
    found = read_existing(combined_only)
    assert found is not None and found.serial == issued.serial


def test_owner_and_group_applied(tmp_path: Path) -> None:
    uid, gid = os.getuid(), os.getgid()
    issue_into(tmp_path, owner=uid, group=gid)
    st = (tmp_path / "web.key").stat()
    assert (st.st_uid, st.st_gid) == (uid, gid)


def test_write_files_stages_everything_before_renaming(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"old-a")
    missing_dir = tmp_path / "nope" / "b"
    with pytest.raises(FileNotFoundError):
        write_files(
            [FileWrite(tmp_path / "a", b"new-a", 0o600), FileWrite(missing_dir, b"b", 0o600)]
        )
    assert (tmp_path / "a").read_bytes() == b"old-a"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]
