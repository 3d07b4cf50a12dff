"""Scan git history: every blob reachable from any ref is scanned once, and each finding is tied
to the first commit (oldest first, parents before children) and path that introduced the blob.

Uses plumbing only: `git log --raw -z` streams which blobs each commit adds, and one
`git cat-file --batch` process streams their contents in chunks, so memory stays bounded by the
chunk size plus the set of blob ids already seen."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

from tessera.core.errors import InvalidRequest
from tessera.discovery.models import ScanError
from tessera.discovery.secrets.models import CommitInfo, ScanReport
from tessera.discovery.secrets.scanner import SecretScanner, make_finding
from tessera.discovery.secrets.stream import BINARY_SNIFF, is_binary, scan_chunks

_LOG_FORMAT = "%x01%H%x00%an <%ae>%x00%aI%x00"
_SKIP_MODES = {"160000", "120000", "000000"}  # submodules, symlinks, deletions
_ZERO = "0" * 40


def _git(repo: Path, *args: str) -> list[str]:
    # argv list, no shell: the repository path is one argument whatever it contains
    return ["git", "-C", str(repo), "-c", "log.showSignature=false", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def scan_history(scanner: SecretScanner, repo: Path) -> ScanReport:
    """Findings across all refs' history of the repository at `repo`."""
    report = ScanReport(root=str(repo))
    try:
        probe = subprocess.run(  # noqa: S603
            _git(repo, "rev-parse", "--git-dir"), capture_output=True, env=_env(), check=False
        )
    except FileNotFoundError:
        raise InvalidRequest("git is not installed (needed for --git)") from None
    if probe.returncode != 0:
        raise InvalidRequest(f"{repo} is not a git repository")
    count = subprocess.run(  # noqa: S603
        _git(repo, "rev-list", "--all", "--count"), capture_output=True, env=_env(), check=False
    )
    bar = scanner.progress("commits")
    bar.total(int(count.stdout.strip() or 0) if count.returncode == 0 else 0)
    log = subprocess.Popen(  # noqa: S603
        _git(
            repo,
            "log",
            "--all",
            "--reverse",
            "--date-order",
            "-m",
            "--raw",
            "--no-renames",
            "--no-abbrev",
            "--no-color",
            "-z",
            f"--format={_LOG_FORMAT}",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    batch = subprocess.Popen(  # noqa: S603
        _git(repo, "cat-file", "--batch"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    assert log.stdout is not None and batch.stdin is not None and batch.stdout is not None
    seen: set[bytes] = set()
    try:
        for commit, blob, path in _new_blobs(_tokens(log.stdout), bar.advance):
            if bytes.fromhex(blob) in seen:
                continue
            seen.add(bytes.fromhex(blob))
            _scan_blob(scanner, report, batch.stdin, batch.stdout, blob, path, commit)
        if log.wait() != 0:
            report.errors.append(ScanError(str(repo), f"git log exited with {log.returncode}"))
    finally:
        batch.stdin.close()
        for proc in (log, batch):
            if proc.poll() is None:  # stopped early (an error): do not wait on a full pipe
                proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
    return report


def _tokens(stream: IO[bytes]) -> Iterator[bytes]:
    rest = b""
    while True:
        block = stream.read(65536)
        if not block:
            if rest:
                yield rest
            return
        parts = (rest + block).split(b"\0")
        rest = parts.pop()
        yield from parts


def _new_blobs(
    tokens: Iterator[bytes], advance: Callable[[], None]
) -> Iterator[tuple[CommitInfo, str, str]]:
    """(commit, blob id, path) for each blob a commit adds or changes, in log order."""
    commit: CommitInfo | None = None
    for raw in tokens:
        tok = raw.lstrip(b"\n")
        if tok.startswith(b"\x01"):
            sha = tok[1:].decode()
            author = next(tokens, b"").decode("utf-8", "replace")
            date = datetime.fromisoformat(next(tokens, b"").decode())
            if commit is None or commit.sha != sha:
                advance()
            commit = CommitInfo(sha=sha, author=author, date=date)
        elif tok.startswith(b":") and commit is not None:
            fields = tok[1:].decode().split(" ")
            path = next(tokens, b"").decode("utf-8", "replace")
            if len(fields) < 5 or fields[1] in _SKIP_MODES or fields[3] == _ZERO:
                continue
            if fields[4][:1] in ("A", "M", "T"):
                yield commit, fields[3], path


def _scan_blob(
    scanner: SecretScanner,
    report: ScanReport,
    stdin: IO[bytes],
    stdout: IO[bytes],
    blob: str,
    path: str,
    commit: CommitInfo,
) -> None:
    stdin.write(blob.encode() + b"\n")
    stdin.flush()
    header = stdout.readline().decode().split()
    where = f"{commit.sha[:12]}:{path}"
    if len(header) != 3 or header[1] != "blob":
        report.errors.append(ScanError(where, "blob missing from the object store"))
        return
    size = int(header[2])
    remaining = [size]

    def chunks(first: bytes) -> Iterator[bytes]:
        report.bytes_scanned += len(first)
        yield first
        while remaining[0]:
            chunk = stdout.read(min(scanner.options.chunk_size, remaining[0]))
            remaining[0] -= len(chunk)
            report.bytes_scanned += len(chunk)
            yield chunk

    def drain() -> None:
        while remaining[0]:
            remaining[0] -= len(stdout.read(min(1 << 20, remaining[0])))
        stdout.read(1)  # the newline cat-file puts after each object

    rules = scanner.applicable(path, commit.sha)
    opts = scanner.options
    report.findings.extend(
        make_finding(lh, path, commit) for lh in scanner.path_findings(rules, path)
    )
    if not rules or (opts.max_file_size and size > opts.max_file_size):
        if rules:
            report.errors.append(
                ScanError(where, f"{size} bytes exceeds the {opts.max_file_size}-byte limit")
            )
        drain()
        return
    first = stdout.read(min(max(opts.chunk_size, BINARY_SNIFF), size))
    remaining[0] -= len(first)
    if is_binary(first):
        report.skipped_binary += 1
        drain()
        return
    hits = scan_chunks(
        chunks(first), scanner.matcher, rules, path, overlap=opts.overlap, commit=commit.sha
    )
    found = [make_finding(lh, path, commit) for lh in hits]
    drain()
    report.files_scanned += 1
    report.findings.extend(found)
