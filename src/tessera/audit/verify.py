"""Offline check of one audit file's hash chain (`tessera audit verify FILE`).

`verify_file` walks the lines (numbered from 1) and reports the first one that betrays a change:
- edited: not valid JSON, missing or malformed fields, not in canonical form, or its own `hash`
  does not match its contents → that line;
- edited with its own `hash` recomputed: the next line's `prev` disagrees → the edited line
  (the one whose hash the next line does not accept);
- removed: `seq` jumps forward and the missing numbers never show up later → the line after the
  gap; reordered: `seq` jumps forward but a skipped number shows up later, or `seq` goes
  backwards → that line;
- a last line without its newline (a torn write) → that line.
Limits of any hash chain without an outside anchor: removing lines at the end, or editing the
last line and recomputing its hash, cannot be seen; compare the last `hash` with one recorded
elsewhere to cover that. A file that continues a chain (rotated logs) verifies when the files
are concatenated in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.audit.models import (
    GENESIS_HASH,
    LINE_KEYS,
    canonical_json,
    is_chain_hash,
    line_hash,
)
from tessera.core.errors import InvalidRequest, NotFound


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """`lines` counts every line of the file; `first_bad_line` is 1-based, None when `ok`."""

    ok: bool
    lines: int
    first_bad_line: int | None
    reason: str


def verify_file(path: Path) -> VerifyResult:
    """Verify the hash chain of the audit file at `path`.

    Raises `NotFound` when the file does not exist and `InvalidRequest` when it cannot be read.
    """
    try:
        with Path(path).open("rb") as lines:
            return _verify(iter(lines))
    except FileNotFoundError:
        raise NotFound(f"audit file {path} does not exist") from None
    except OSError as exc:
        raise InvalidRequest(f"cannot read audit file {path}: {exc.strerror or exc}") from None


def _verify(lines: Iterator[bytes]) -> VerifyResult:
    prev_seq, prev_hash, number = 0, GENESIS_HASH, 0
    for number, raw in enumerate(lines, 1):
        record, problem = _check_line(raw)
        if record is None:
            return _bad(number, f"line {number} {problem}", number, lines)
        seq, expected = record["seq"], prev_seq + 1
        if seq == expected and record["prev"] != prev_hash:
            if number == 1:
                return _bad(1, "line 1 was edited (it does not start the chain)", 1, lines)
            reason = f"line {number - 1} was edited (line {number} does not chain to it)"
            return _bad(number - 1, reason, number, lines)
        if seq > expected:
            return _gap(number, expected, seq, lines)
        if seq < expected:
            reason = f"line {number} is out of order (seq {seq} after seq {prev_seq})"
            return _bad(number, reason, number, lines)
        prev_seq, prev_hash = seq, record["hash"]
    if number == 0:
        return VerifyResult(True, 0, None, "the file is empty")
    return VerifyResult(True, number, None, f"{number} lines verified, the hash chain is intact")


def _check_line(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """The parsed record, or None and what is wrong with the line."""
    complete = raw.endswith(b"\n")
    body = raw[:-1] if complete else raw
    try:
        text = body.decode("utf-8")
        record = json.loads(text)
    except ValueError:
        return None, "was edited or truncated (not valid JSON)"
    if not isinstance(record, dict):
        return None, "was edited (not a JSON object)"
    missing = sorted(LINE_KEYS - record.keys())
    if missing:
        return None, f"was edited (missing fields: {', '.join(missing)})"
    malformed = _malformed(record)
    if malformed:
        return None, f"was edited (malformed fields: {', '.join(malformed)})"
    if canonical_json(record) != text:
        return None, "was edited (not in canonical form)"
    unhashed = {key: value for key, value in record.items() if key != "hash"}
    if line_hash(canonical_json(unhashed)) != record["hash"]:
        return None, "was edited (hash mismatch)"
    if not complete:
        return None, "is incomplete (no newline at the end of the file)"
    return record, ""


def _malformed(record: dict[str, Any]) -> list[str]:
    bad = []
    seq = record["seq"]
    if type(seq) is not int or seq < 1:
        bad.append("seq")
    for key in ("prev", "hash"):
        if not is_chain_hash(record[key]):
            bad.append(key)
    bad.extend(key for key in ("time", "type", "request_id") if not isinstance(record[key], str))
    if not isinstance(record["data"], dict):
        bad.append("data")
    return bad


def _gap(number: int, expected: int, seq: int, rest: Iterator[bytes]) -> VerifyResult:
    """`seq` jumped forward at line `number`: out of order if a skipped seq appears later."""
    total, reordered = number, False
    for raw in rest:
        total += 1
        if not reordered:
            later = _seq_of(raw)
            reordered = later is not None and expected <= later < seq
    if reordered:
        reason = f"line {number} is out of order (expected seq {expected}, found {seq})"
    elif seq - expected == 1:
        reason = f"a line before line {number} was removed (expected seq {expected}, found {seq})"
    else:
        reason = (
            f"{seq - expected} lines before line {number} were removed "
            f"(expected seq {expected}, found {seq})"
        )
    return VerifyResult(False, total, number, reason)


def _seq_of(raw: bytes) -> int | None:
    try:
        seq = json.loads(raw).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if type(seq) is int else None


def _bad(line: int, reason: str, seen: int, rest: Iterator[bytes]) -> VerifyResult:
    total = seen + sum(1 for _ in rest)
    return VerifyResult(False, total, line, reason)
