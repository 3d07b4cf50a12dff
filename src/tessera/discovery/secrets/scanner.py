"""Scan a file or a directory tree for secrets, with bounded memory per file.

Directories are walked without following a symlink into a directory already on the path (a
loop, reported) or already scanned; `.git` directories are skipped. Each file is read in chunks;
binary files (NUL in the first 8 KiB) are skipped; what cannot be read becomes a ScanError."""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tessera.discovery.models import Progress, ProgressFactory, ScanError
from tessera.discovery.secrets.hashing import SecretHasher
from tessera.discovery.secrets.matching import Matcher, path_excluded, rules_for_path
from tessera.discovery.secrets.models import (
    CommitInfo,
    Finding,
    Rule,
    RuleSet,
    ScanOptions,
    ScanReport,
)
from tessera.discovery.secrets.stream import BINARY_SNIFF, LocatedHit, is_binary, scan_chunks

SKIP_DIRS = frozenset({".git"})


@dataclass(frozen=True)
class _Entry:
    path: Path
    rel: str


class _NoProgress:
    def total(self, units: int) -> None:
        pass

    def advance(self, units: int = 1) -> None:
        pass


def make_finding(lh: LocatedHit, path: str, commit: CommitInfo | None = None) -> Finding:
    """The reportable form of a hit: where, which rule, fingerprint and preview."""
    rule = lh.hit.rule
    return Finding(
        rule_id=rule.id,
        description=rule.description,
        severity=rule.severity,
        path=path,
        line=lh.line,
        column=lh.column,
        fingerprint=lh.hit.fingerprint,
        preview=lh.hit.preview,
        tags=rule.tags,
        commit=commit,
    )


class SecretScanner:
    """Finds secrets in files, directories (here) and git history (`git.scan_history`)."""

    def __init__(
        self,
        ruleset: RuleSet,
        hasher: SecretHasher,
        options: ScanOptions | None = None,
        progress: ProgressFactory | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.options = options or ScanOptions()
        self.matcher = Matcher(ruleset, hasher)
        self._progress = progress

    def progress(self, label: str) -> Progress:
        return self._progress(label) if self._progress else _NoProgress()

    def applicable(self, path: str, commit: str | None = None) -> tuple[Rule, ...]:
        """The rules to run on `path`; none when a global allowlist excludes it."""
        if path_excluded(self.ruleset.allowlists, path, commit):
            return ()
        return rules_for_path(self.ruleset, path)

    def path_findings(self, rules: tuple[Rule, ...], path: str) -> Iterator[LocatedHit]:
        """Hits of path-only rules (no regex) whose `path` matches this file."""
        for rule in rules:
            if rule.regex is None and rule.path is not None:
                yield LocatedHit(self.matcher.path_hit(rule, path), 1, 1)

    def scan_path(self, target: Path) -> ScanReport:
        """Scan one file or every file under a directory; paths reported relative to it."""
        report = ScanReport(root=str(target))
        try:
            st = target.stat()
        except OSError as exc:
            report.errors.append(ScanError(str(target), _reason(exc)))
            return report
        if stat.S_ISDIR(st.st_mode):
            entries = list(self._walk(target, report))
        else:
            entries = [_Entry(target, target.name)]
        bar = self.progress("files")
        bar.total(len(entries))
        for entry in entries:
            self._scan_file(entry, report)
            bar.advance()
        return report

    def _walk(self, root: Path, report: ScanReport) -> Iterator[_Entry]:
        seen_dirs: set[tuple[int, int]] = set()
        seen_files: set[tuple[int, int]] = set()
        root_st = root.stat()
        # each stack item: directory, its path relative to root, the (dev, ino) chain above it
        stack: list[tuple[Path, str, tuple[tuple[int, int], ...]]] = []
        seen_dirs.add((root_st.st_dev, root_st.st_ino))
        stack.append((root, "", ((root_st.st_dev, root_st.st_ino),)))
        while stack:
            directory, rel_dir, ancestors = stack.pop()
            try:
                children = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                report.errors.append(ScanError(rel_dir or ".", _reason(exc)))
                continue
            for child in children:
                rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
                try:
                    st = os.stat(child.path)  # follows symlinks: loops are caught below
                except OSError as exc:
                    kind = "broken symlink" if child.is_symlink() else "cannot stat"
                    report.errors.append(ScanError(rel, f"{kind}: {_reason(exc)}"))
                    continue
                ident = (st.st_dev, st.st_ino)
                if stat.S_ISDIR(st.st_mode):
                    if child.name in SKIP_DIRS:
                        continue
                    if ident in ancestors:
                        report.errors.append(ScanError(rel, "symlink loop: not followed"))
                    elif ident not in seen_dirs:
                        seen_dirs.add(ident)
                        stack.append((Path(child.path), rel, (*ancestors, ident)))
                elif ident not in seen_files or not stat.S_ISREG(st.st_mode):
                    seen_files.add(ident)
                    yield _Entry(Path(child.path), rel)

    def _scan_file(self, entry: _Entry, report: ScanReport) -> None:
        rules = self.applicable(entry.rel)
        if not rules:
            return
        # path-only rules judge the name, so they fire for binary and oversized files too
        report.findings.extend(
            make_finding(lh, entry.rel) for lh in self.path_findings(rules, entry.rel)
        )
        opts = self.options
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        except OSError as exc:
            report.errors.append(ScanError(entry.rel, _reason(exc)))
            return
        with os.fdopen(fd, "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                report.errors.append(ScanError(entry.rel, "not a regular file: skipped"))
                return
            if opts.max_file_size and st.st_size > opts.max_file_size:
                report.errors.append(
                    ScanError(
                        entry.rel,
                        f"{st.st_size} bytes exceeds the {opts.max_file_size}-byte limit: skipped",
                    )
                )
                return
            try:
                head = fh.read(max(opts.chunk_size, BINARY_SNIFF))
                if is_binary(head):
                    report.skipped_binary += 1
                    return
                hits = scan_chunks(
                    _chunks(fh, head, opts.chunk_size, report),
                    self.matcher,
                    rules,
                    entry.rel,
                    overlap=opts.overlap,
                )
                found = [make_finding(lh, entry.rel) for lh in hits]
            except OSError as exc:
                report.errors.append(ScanError(entry.rel, _reason(exc)))
                return
        report.files_scanned += 1
        report.findings.extend(found)


def _chunks(fh: io.FileIO, head: bytes, size: int, report: ScanReport) -> Iterator[bytes]:
    report.bytes_scanned += len(head)
    yield head
    while True:
        chunk = fh.read(size)
        if not chunk:
            return
        report.bytes_scanned += len(chunk)
        yield chunk


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return exc.strerror or str(exc)
