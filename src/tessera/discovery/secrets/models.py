"""Value objects of the secret scanner: rules, allowlists, findings and the scan report.

A finding never holds the secret itself: only a keyed fingerprint and a redacted preview."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tessera.core.errors import InvalidRequest
from tessera.discovery.models import ScanError


class Severity(StrEnum):
    """How bad a leak of this kind of secret is; maps to SARIF `security-severity`."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def score(self) -> str:
        return {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}[self.value]

    @property
    def sarif_level(self) -> str:
        return {"critical": "error", "high": "error", "medium": "warning", "low": "note"}[
            self.value
        ]


class RegexTarget(StrEnum):
    """What an allowlist regex is matched against (gitleaks `regexTarget`)."""

    SECRET = "secret"
    MATCH = "match"
    LINE = "line"


class Condition(StrEnum):
    """How an allowlist's criteria combine (gitleaks `condition`)."""

    OR = "OR"
    AND = "AND"


@dataclass(frozen=True)
class Allowlist:
    """Criteria that excuse a match; with `OR` any configured criterion suffices, with `AND` all.

    `target_rules` (top-level allowlists only) limits it to those rule ids; empty means all."""

    description: str = ""
    regexes: tuple[re.Pattern[str], ...] = ()
    regex_target: RegexTarget = RegexTarget.SECRET
    paths: tuple[re.Pattern[str], ...] = ()
    stopwords: tuple[str, ...] = ()
    commits: frozenset[str] = frozenset()
    condition: Condition = Condition.OR
    target_rules: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rule:
    """One detector. `regex` may be None for a path-only rule (the file's name is the finding).

    `secret_group` 0 means the first non-empty capture group, or the whole match without groups.
    `keywords` (lower case) gate the regex: it only runs on text containing one of them.
    `validate` rejects candidates that have the shape but not the checksum."""

    id: str
    description: str
    regex: re.Pattern[str] | None
    secret_group: int = 0
    keywords: tuple[str, ...] = ()
    entropy: float | None = None
    path: re.Pattern[str] | None = None
    allowlists: tuple[Allowlist, ...] = ()
    severity: Severity = Severity.HIGH
    tags: tuple[str, ...] = ()
    validate: Callable[[str], bool] | None = field(default=None, compare=False)
    positive: str = field(default="", compare=False, repr=False)
    negative: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class RuleSet:
    """The rules a scan runs, the allowlists that apply to all of them, and load warnings
    (rules skipped because their regex cannot be translated)."""

    rules: tuple[Rule, ...]
    allowlists: tuple[Allowlist, ...] = ()
    warnings: tuple[str, ...] = ()

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


@dataclass(frozen=True)
class CommitInfo:
    """The commit that first introduced a secret into history."""

    sha: str
    author: str
    date: datetime


@dataclass(frozen=True)
class Finding:
    """One place a secret was seen. `path` is relative to the scan root, with `/` separators;
    `line` and `column` are 1-based (column counts characters)."""

    rule_id: str
    description: str
    severity: Severity
    path: str
    line: int
    column: int
    fingerprint: str
    preview: str
    tags: tuple[str, ...] = ()
    commit: CommitInfo | None = None

    @property
    def baseline_key(self) -> tuple[str, str, str]:
        return (self.rule_id, self.fingerprint, self.path)


@dataclass
class ScanReport:
    """What a scan found and what it could not read; `root` is what paths are relative to."""

    root: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped_binary: int = 0
    suppressed: int = 0


@dataclass(frozen=True)
class ScanOptions:
    """Limits of a scan. Files above `max_file_size` bytes (0: no limit) are skipped and reported;
    everything else is read `chunk_size` bytes at a time with `overlap` characters carried over."""

    max_file_size: int = 256 * 1024 * 1024
    chunk_size: int = 1024 * 1024
    overlap: int = 32 * 1024

    def __post_init__(self) -> None:
        if self.max_file_size < 0 or self.chunk_size < 1 or not 0 < self.overlap < self.chunk_size:
            raise InvalidRequest("scan options: sizes must be positive, overlap below chunk size")
