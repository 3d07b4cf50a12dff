"""Audit sinks: where audit lines go, each with its own SHA-256 hash chain.

Contract of the `AuditSink` port:
- `name` is stable and unique within an `Auditor` (it keys the sink's HMAC salt and its failure
  counter); `write(fields)` gets the line object without `seq`, `prev` and `hash` (already
  JSON-native, `Sensitive` values already replaced), appends exactly one line or raises
  `AuditWriteError` (whose message never contains event contents). It must be thread-safe.
- The built-in sinks write `models.canonical_json` of the line plus `\\n`, with `seq` 1, 2, 3…,
  `prev` = the previous line's `hash` (`GENESIS_HASH` first) and `hash` = SHA-256 hex of the
  line without `hash`. The chain advances only when a line was written completely.
- `FileSink` appends (O_APPEND, one `write(2)` per line, so nothing sits in a userspace buffer),
  creates the file 0600 and its parent directories, continues the chain of an existing file,
  and checks before each write that its path still names the file it holds open: a file
  removed or rotated away is reopened (recreated) and the chain continues there; a path that
  cannot be opened (a directory, no permission) fails the write. One process per file.
  With `fsync=True` a failed fsync raises after the line was appended (the chain moved on).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO

from tessera.audit.models import GENESIS_HASH, canonical_json, is_chain_hash, line_hash

_log = logging.getLogger("tessera.audit")
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_TAIL_CHUNK = 64 * 1024
_TAIL_LIMIT = 16 * 1024 * 1024


class AuditWriteError(Exception):
    """A sink could not record a line. The message names the sink, never the event."""


class AuditSink(Protocol):
    """Port for an audit destination; see the module docstring for the contract."""

    @property
    def name(self) -> str: ...

    def write(self, fields: Mapping[str, Any]) -> None: ...


class HashChain:
    """The `seq`/`prev` state of one sink. Not thread-safe: the owning sink holds its lock."""

    __slots__ = ("last_hash", "seq")

    def __init__(self, seq: int = 0, last_hash: str = GENESIS_HASH) -> None:
        self.seq = seq
        self.last_hash = last_hash

    def build(self, fields: Mapping[str, Any]) -> tuple[str, str]:
        """The canonical JSON line for `fields` as the next link, and its hash (not committed)."""
        if "seq" in fields or "prev" in fields or "hash" in fields:
            raise ValueError("audit fields must not contain seq, prev or hash")
        # canonical_json(line), built so that the payload is encoded once: the sorted members
        # are those with keys below "hash" (data), then "hash", then the rest (prev, seq, …).
        low = {key: value for key, value in fields.items() if key < "hash"}
        high = {key: value for key, value in fields.items() if key > "hash"}
        high["prev"], high["seq"] = self.last_hash, self.seq + 1
        low_members, high_members = canonical_json(low)[1:-1], canonical_json(high)[1:-1]
        head = "{" + low_members + "," if low_members else "{"
        digest = line_hash(head + high_members + "}")
        return f'{head}"hash":"{digest}",{high_members}}}', digest

    def commit(self, digest: str) -> None:
        self.seq += 1
        self.last_hash = digest


class _ChainedSink:
    """Shared machinery: one lock, one chain; subclasses implement `_emit` (one line, no `\\n`)."""

    def __init__(self, name: str, chain: HashChain | None = None) -> None:
        if not name:
            raise ValueError("audit sink name must not be empty")
        self._name = name
        self._lock = threading.Lock()
        self._chain = chain or HashChain()

    @property
    def name(self) -> str:
        return self._name

    @property
    def last_seq(self) -> int:
        """`seq` of the last line written (0 before the first)."""
        return self._chain.seq

    @property
    def last_hash(self) -> str:
        """`hash` of the last line written; worth recording elsewhere as an anchor."""
        return self._chain.last_hash

    def write(self, fields: Mapping[str, Any]) -> None:
        with self._lock:
            line, digest = self._chain.build(fields)
            self._emit(line)
            self._chain.commit(digest)
            self._after_commit()

    def _emit(self, line: str) -> None:
        raise NotImplementedError

    def _after_commit(self) -> None:
        """Hook for work after the line is in the sink (fsync)."""


class FakeSink(_ChainedSink):
    """In-memory sink for tests: `lines` holds what was written; set `failing` to make it fail."""

    def __init__(self, name: str = "fake") -> None:
        super().__init__(name)
        self.lines: list[str] = []
        self.failing = False

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def _emit(self, line: str) -> None:
        if self.failing:
            raise AuditWriteError(f"audit sink {self.name} is set to fail")
        self.lines.append(line)


class StreamSink(_ChainedSink):
    """Writes lines to a text stream (stdout by default name) and flushes after each line."""

    def __init__(self, stream: TextIO, name: str = "stdout") -> None:
        super().__init__(name)
        self._stream = stream

    def _emit(self, line: str) -> None:
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "stream closed"
            raise AuditWriteError(f"cannot write audit stream {self.name}: {reason}") from exc


class FileSink(_ChainedSink):
    """Append-only audit file; see the module docstring. Raises `AuditWriteError` when the file
    cannot be opened or its last complete line is not an audit record (run `verify_file`)."""

    def __init__(self, path: Path, *, fsync: bool = False, name: str = "file") -> None:
        super().__init__(name)
        self._path = Path(path)
        self._fsync = fsync
        self._fd: int | None = None
        self._ident = (0, 0)
        self._prefix = b""  # "\n" when the file ends with a partial line (crash)
        try:
            fd = self._open()
            self._chain = self._read_chain(fd)
        except OSError as exc:
            self._close()
            raise self._error("cannot open", exc) from exc

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        """Release the file descriptor; a later write reopens the file."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _error(self, action: str, exc: OSError) -> AuditWriteError:
        return AuditWriteError(f"{action} audit file {self._path}: {exc.strerror or exc}")

    def _open(self) -> int:
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._path, _OPEN_FLAGS, 0o600)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            self._ident = (st.st_dev, st.st_ino)
            ends_clean = st.st_size == 0 or os.pread(fd, 1, st.st_size - 1) == b"\n"
            self._prefix = b"" if ends_clean else b"\n"
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return fd

    def _current_fd(self) -> int:
        if self._fd is not None:
            try:
                st: os.stat_result | None = os.stat(self._path)
            except FileNotFoundError:
                st = None
            if st is None or (st.st_dev, st.st_ino) != self._ident:
                _log.warning("audit file %s was removed or replaced; reopening it", self._path)
                self._close()
        return self._fd if self._fd is not None else self._open()

    def _emit(self, line: str) -> None:
        try:
            fd = self._current_fd()
            view = memoryview(self._prefix + line.encode("utf-8") + b"\n")
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(errno.EIO, "short write")
                view = view[written:]
            self._prefix = b""
        except OSError as exc:
            self._close()  # the next write reopens and re-checks for a partial line
            raise self._error("cannot write", exc) from exc

    def _after_commit(self) -> None:
        if self._fsync and self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise self._error("cannot fsync", exc) from exc

    def _read_chain(self, fd: int) -> HashChain:
        """Chain state from the last complete line (a trailing partial line is skipped)."""
        size = os.fstat(fd).st_size
        buf, pos = b"", size
        while pos > 0 and len(buf) <= _TAIL_LIMIT:
            step = min(_TAIL_CHUNK, pos)
            pos -= step
            buf = os.pread(fd, step, pos) + buf
            end = buf.rfind(b"\n")
            if end == -1:
                continue
            start = buf.rfind(b"\n", 0, end) + 1
            if start > 0 or pos == 0:
                return self._parse_link(buf[start:end])
        if pos > 0:
            raise OSError(errno.EFBIG, "last line too long")
        return HashChain()  # empty, or only a partial line

    def _parse_link(self, raw: bytes) -> HashChain:
        try:
            obj = json.loads(raw)
            seq, digest = obj["seq"], obj["hash"]
        except (ValueError, TypeError, KeyError):
            seq, digest = None, None
        valid_seq = type(seq) is int and seq >= 1
        if not (valid_seq and is_chain_hash(digest)):
            raise OSError(errno.EINVAL, "last line is not an audit record (run audit verify)")
        return HashChain(seq, str(digest))
