"""Key and certificate discovery on file systems: walk, read regular files within bounds, sniff
their content, and report each certificate and key once with every place it was seen."""

from __future__ import annotations

import errno
import os
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.utils import CryptographyDeprecationWarning

from tessera.core.errors import InvalidRequest
from tessera.discovery.keyfiles import MAX_DER, parse_der, parse_pem
from tessera.discovery.keyinfo import Finding, Parsed
from tessera.discovery.keylinks import merge
from tessera.discovery.models import DiscoveredCredential, Location, Progress, ScanError
from tessera.discovery.sshfiles import KEY_TYPES, SshFileStyle, ssh_lines
from tessera.inventory.models import LocationKind

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
_DER_SUFFIXES = frozenset({".der", ".cer", ".crt", ".key", ".p12", ".pfx", ".p7b", ".p7c", ".pk8"})
_BINARY_ONLY_SUFFIXES = frozenset({".der", ".p12", ".pfx", ".pk8"})
_KEY_TYPE_BYTES = tuple(t.encode() for t in KEY_TYPES)
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileScanRequest:
    """What to scan: files or directories (followed through symlinks, each inode once), the
    passwords to try on PKCS#12 and encrypted keys, and the largest file read."""

    paths: tuple[str, ...]
    passwords: tuple[bytes, ...] = field(default=(), repr=False)
    max_file_size: int = DEFAULT_MAX_FILE_SIZE

    def __post_init__(self) -> None:
        if not self.paths:
            raise InvalidRequest("give at least one file or directory to scan")
        if self.max_file_size < 1:
            raise InvalidRequest("the maximum file size must be at least 1 byte")


@dataclass
class FileScanResult:
    """Credentials (one per kind and fingerprint) and what could not be read."""

    credentials: list[DiscoveredCredential]
    errors: list[ScanError]
    files_scanned: int


@dataclass(frozen=True)
class _Candidate:
    path: str
    size: int


class _Skip(Exception):
    """The file turned out not to be a regular file when opened (swapped after the walk)."""


def scan_files(request: FileScanRequest, progress: Progress | None = None) -> FileScanResult:
    """Walk `request.paths`, parse every regular file, merge and link what was found.
    `progress` is told the number of files once the walk is done, then each file read."""
    errors: list[ScanError] = []
    candidates = _walk(request.paths, errors)
    if progress is not None:
        progress.total(len(candidates))
    found: list[tuple[Finding, Location]] = []
    scanned = 0
    for candidate in candidates:
        try:
            scanned += _scan_one(candidate, request, found, errors)
        finally:
            if progress is not None:
                progress.advance(1)
    return FileScanResult(merge(found), errors, scanned)


def parse_file(data: bytes, filename: str, passwords: Sequence[bytes]) -> Parsed:
    """Every certificate and key in the bytes of one file, by content; `filename` only tells
    which SSH line layout applies and whether a binary file claims to be DER."""
    with warnings.catch_warnings():
        # Real trees hold old certificates (negative serials…) that cryptography warns about
        # on every access: they are reported, not printed as warnings.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return _parse_file(data, filename, passwords)


def _parse_file(data: bytes, filename: str, passwords: Sequence[bytes]) -> Parsed:
    out = Parsed()
    base = os.path.basename(filename)
    suffix = os.path.splitext(base)[1].lower()
    expected_der = suffix in _DER_SUFFIXES
    if data[:1] == b"\x30":
        if len(data) <= MAX_DER:
            out.extend(parse_der(data, base, passwords, expected_der))
        elif expected_der:
            out.problem(None, f"larger than {MAX_DER} bytes: too large for a DER file")
    elif suffix in _BINARY_ONLY_SUFFIXES and b"-----BEGIN " not in data:
        out.problem(None, "not a DER certificate, key or PKCS#12 file")
    if b"-----BEGIN " in data:
        out.extend(parse_pem(data, base, passwords))
    style = _ssh_style(base)
    if style is not None or (b"AAAA" in data and any(t in data for t in _KEY_TYPE_BYTES)):
        out.extend(ssh_lines(data, style or SshFileStyle.EMBEDDED, base))
    return out


def _ssh_style(base: str) -> SshFileStyle | None:
    if base.startswith("authorized_keys"):
        return SshFileStyle.AUTHORIZED_KEYS
    if base.startswith(("known_hosts", "ssh_known_hosts")):
        return SshFileStyle.KNOWN_HOSTS
    if base.endswith(".pub"):
        return SshFileStyle.PUBLIC_KEY
    return None


def _scan_one(
    candidate: _Candidate,
    request: FileScanRequest,
    found: list[tuple[Finding, Location]],
    errors: list[ScanError],
) -> int:
    path = candidate.path
    if candidate.size > request.max_file_size:
        errors.append(ScanError(path, f"larger than {request.max_file_size} bytes, skipped"))
        return 0
    try:
        data = _read(path, request.max_file_size)
    except _Skip:
        return 0
    except OSError as exc:
        errors.append(ScanError(path, f"cannot read: {_reason(exc)}"))
        return 0
    if data is None:
        errors.append(ScanError(path, f"larger than {request.max_file_size} bytes, skipped"))
        return 0
    parsed = parse_file(data, path, request.passwords)
    numbered = len(parsed.findings) + len(parsed.problems) > 1
    for finding in parsed.findings:
        where = _where(path, finding.line if numbered else None)
        found.append((finding, Location(LocationKind.FILE, where)))
    for problem in parsed.problems:
        errors.append(ScanError(_where(path, problem.line), problem.message))
    return 1


def _where(path: str, line: int | None) -> str:
    return path if line is None else f"{path}:{line}"


def _read(path: str, limit: int) -> bytes | None:
    """The bytes of a regular file, or None when it holds more than `limit`. Opened without
    blocking and checked after opening, so a FIFO or device swapped in is never read."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _Skip
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(_READ_CHUNK, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                return None
        return b"".join(chunks)
    finally:
        os.close(fd)


def _walk(roots: Sequence[str], errors: list[ScanError]) -> list[_Candidate]:
    """Regular files under `roots` in a stable order. Symlinks are followed, but each
    directory and file (by device and inode) once, so loops end; FIFOs, sockets and devices
    are passed over without being opened."""
    seen: set[tuple[int, int]] = set()
    files: list[_Candidate] = []
    for root in roots:
        path = os.path.abspath(root)
        st = _stat(path, errors, is_link=False)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            _walk_dir(path, st, seen, files, errors)
        elif stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            files.append(_Candidate(path, st.st_size))
        elif not stat.S_ISREG(st.st_mode):
            errors.append(ScanError(path, "not a regular file or directory, skipped"))
    return files


def _walk_dir(
    top: str,
    top_stat: os.stat_result,
    seen: set[tuple[int, int]],
    files: list[_Candidate],
    errors: list[ScanError],
) -> None:
    if (top_stat.st_dev, top_stat.st_ino) in seen:
        return
    seen.add((top_stat.st_dev, top_stat.st_ino))
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append(ScanError(directory, f"cannot list: {_reason(exc)}"))
            continue
        subdirs: list[str] = []
        for entry in entries:
            st = _stat(entry.path, errors, is_link=_is_link(entry))
            if st is None:
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in seen or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                continue
            seen.add(ident)
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(entry.path)
            else:
                files.append(_Candidate(entry.path, st.st_size))
        stack.extend(reversed(subdirs))


def _is_link(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _stat(path: str, errors: list[ScanError], is_link: bool) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            errors.append(ScanError(path, "symlink loop, not followed"))
        elif not (is_link and exc.errno == errno.ENOENT):  # a dangling link holds nothing
            errors.append(ScanError(path, f"cannot read: {_reason(exc)}"))
        return None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
