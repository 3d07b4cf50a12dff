"""Request paths and rule patterns: validation (raising `InvalidPath`) and compiled matchers.

A request path is concrete (`identities/web-1`); a pattern may use `+` (exactly one segment)
and a final `*` (any suffix, `/` included). Paths are never decoded here: any `%` is refused.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from tessera.core.errors import InvalidPath

MAX_PATH_LENGTH = 1024

# Control characters (C0, DEL, C1), backslash and percent are refused anywhere in a path.
_BAD_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f\\%]")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.{1,2}(?:/|$)")


class PatternKind(enum.IntEnum):
    """How specific a pattern is; lower sorts first (more specific)."""

    EXACT = 0
    SEGMENT = 1  # contains a `+` segment, no `*`
    PREFIX = 2  # ends with `*`


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    """A validated pattern, compiled once: `matches(path)` and a specificity `rank`."""

    pattern: str
    kind: PatternKind
    literal_prefix: str
    first_segment: str | None  # literal first segment (for indexing), None if it has a wildcard
    regex: re.Pattern[str] | None  # None when equality or a plain prefix test suffices

    def matches(self, path: str) -> bool:
        if self.regex is not None:
            return self.regex.fullmatch(path) is not None
        if self.kind is PatternKind.EXACT:
            return path == self.pattern
        return path.startswith(self.literal_prefix)

    @property
    def rank(self) -> tuple[int, int]:
        """Sort key: exact < `+` < `*`, then the longer literal prefix first."""
        return (int(self.kind), -len(self.literal_prefix))


def _show(text: str) -> str:
    return repr(text if len(text) <= 64 else text[:64] + "...")


def _check_common(text: str, what: str, *, pattern: bool = False) -> None:
    if not text:
        raise InvalidPath(f"{what} must not be empty")
    if len(text) > MAX_PATH_LENGTH:
        raise InvalidPath(f"{what} {_show(text)} is longer than {MAX_PATH_LENGTH} characters")
    bad = _BAD_CHAR.search(text)
    if bad is not None:
        char = bad.group()
        if char == "%":
            reason = "must not contain '%' (percent-encoding is not accepted)"
        elif char == "\\":
            reason = "must not contain a backslash"
        else:
            reason = f"must not contain control character {char!r}"
        raise InvalidPath(f"{what} {_show(text)} {reason}")
    if text.startswith("/"):
        raise InvalidPath(f"{what} {_show(text)} must not start with '/'")
    if "//" in text:
        raise InvalidPath(f"{what} {_show(text)} must not contain empty segments ('//')")
    # In a pattern, `/*` may end the text (`secret/*`); the rest must be a clean path.
    body = text[:-2] if pattern and text.endswith("/*") else text
    if body.endswith("/"):
        raise InvalidPath(f"{what} {_show(text)} must not end with '/'")
    if _DOT_SEGMENT.search(body) is not None:
        raise InvalidPath(f"{what} {_show(text)} must not contain '.' or '..' segments")


def validate_request_path(path: str) -> str:
    """Return `path` unchanged if it is a well-formed concrete request path, else `InvalidPath`."""
    _check_common(path, "path")
    return path


def validate_pattern(pattern: str) -> str:
    """Return `pattern` unchanged if it is a well-formed rule pattern, else `InvalidPath`."""
    if pattern == "*":
        return pattern
    _check_common(pattern, "pattern", pattern=True)
    segments = pattern.split("/")
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if segment == "+":
            continue
        if "+" in segment:
            raise InvalidPath(
                f"pattern {_show(pattern)}: '+' must be a whole segment, not part of {segment!r}"
            )
        if "*" in segment and (i != last or segment.index("*") != len(segment) - 1):
            raise InvalidPath(
                f"pattern {_show(pattern)}: '*' is only allowed as the last character"
            )
    return pattern


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> CompiledPattern:
    """Validate and compile `pattern` (cached: each distinct pattern is compiled once)."""
    validate_pattern(pattern)
    segments = pattern.split("/")
    has_plus = "+" in segments
    has_star = pattern.endswith("*")
    first = segments[0]
    first_literal = None if (first == "+" or first.endswith("*")) else first
    if not has_plus and not has_star:
        return CompiledPattern(pattern, PatternKind.EXACT, pattern, first_literal, None)
    if not has_plus:
        return CompiledPattern(pattern, PatternKind.PREFIX, pattern[:-1], first_literal, None)
    parts: list[str] = []
    for segment in segments:
        if segment == "+":
            parts.append("[^/]+")
        elif segment.endswith("*"):
            parts.append(re.escape(segment[:-1]) + ".*")
        else:
            parts.append(re.escape(segment))
    regex = re.compile("/".join(parts), re.DOTALL)
    cut = [i for i in (pattern.find("+"), pattern.find("*")) if i >= 0]
    literal_prefix = pattern[: min(cut)]
    kind = PatternKind.PREFIX if has_star else PatternKind.SEGMENT
    return CompiledPattern(pattern, kind, literal_prefix, first_literal, regex)
