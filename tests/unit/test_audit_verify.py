"""verify_file: finds the first edited, removed or reordered line of an audit file."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tessera.audit import AuditEvent, Auditor, FileSink, Sensitive, VerifyResult, verify_file
from tessera.audit.models import canonical_json
from tessera.core.clock import FakeClock
from tessera.core.errors import NotFound

T0 = datetime(2030, 1, 1, tzinfo=UTC)
LINES = 6


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit.log"
    auditor = Auditor([FileSink(path)], FakeClock(T0))
    auditor.set_audit_key(bytes(32))
    for n in range(LINES):
        data = {"n": n, "path": f"/v1/kv/é{n}", "token": Sensitive(f"tok-{n}"), "ok": n % 2 == 0}
        auditor.log(AuditEvent("request" if n % 2 else "response", T0, f"req-{n}", data))
    return path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, lines: list[bytes]) -> VerifyResult:
    path.write_bytes(b"".join(lines))
    return verify_file(path)


def rehash(record: dict[str, Any]) -> bytes:
    """The line an attacker who recomputes the line's own hash would write."""
    unhashed = {k: v for k, v in record.items() if k != "hash"}
    record = {**unhashed, "hash": hashlib.sha256(canonical_json(unhashed).encode()).hexdigest()}
    return canonical_json(record).encode() + b"\n"


def test_clean_file_is_ok(log_file: Path) -> None:
    result = verify_file(log_file)
    assert result == VerifyResult(True, LINES, None, result.reason)
    assert "intact" in result.reason


def test_empty_file_is_ok(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    assert verify_file(path) == VerifyResult(True, 0, None, "the file is empty")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        verify_file(tmp_path / "nope.log")


@pytest.mark.parametrize("replace", [lambda b: b ^ 0x01, lambda b: ord("x") if b != 120 else 121])
def test_every_one_byte_edit_is_caught_at_its_line(log_file: Path, replace: Any) -> None:
    original = log_file.read_bytes()
    for offset, byte in enumerate(original):
        edited = bytearray(original)
        edited[offset] = replace(byte)
        log_file.write_bytes(bytes(edited))
        result = verify_file(log_file)
        expected_line = original.count(b"\n", 0, offset) + 1
        assert not result.ok, f"edit at byte {offset} not caught"
        assert result.first_bad_line == expected_line, (offset, result)
        assert result.reason.startswith(f"line {expected_line} ")


def test_edit_reason(log_file: Path) -> None:
    lines = lines_of(log_file)
    lines[6 - 1] = lines[5].replace(b'"n":5', b'"n":7')
    assert rewrite(log_file, lines).reason == "line 6 was edited (hash mismatch)"


def test_non_canonical_line_is_an_edit(log_file: Path) -> None:
    lines = lines_of(log_file)
    lines[1] = lines[1].replace(b'{"data":', b'{ "data":', 1)
    result = rewrite(log_file, lines)
    assert result.first_bad_line == 2 and "canonical" in result.reason


@pytest.mark.parametrize("removed", [1, 3, LINES])
def test_removed_line(log_file: Path, removed: int) -> None:
    lines = lines_of(log_file)
    del lines[removed - 1]
    result = rewrite(log_file, lines)
    if removed == LINES:  # removing the tail cannot be seen without an outside anchor
        assert result.ok
        return
    assert (result.ok, result.first_bad_line, result.lines) == (False, removed, LINES - 1)
    expected = f"expected seq {removed}, found {removed + 1}"
    assert result.reason == f"a line before line {removed} was removed ({expected})"


def test_several_removed_lines(log_file: Path) -> None:
    lines = lines_of(log_file)
    del lines[1:4]
    result = rewrite(log_file, lines)
    assert result.first_bad_line == 2
    assert result.reason == "3 lines before line 2 were removed (expected seq 2, found 5)"


@pytest.mark.parametrize("first", [1, 3, LINES - 1])
def test_swapped_lines(log_file: Path, first: int) -> None:
    lines = lines_of(log_file)
    lines[first - 1], lines[first] = lines[first], lines[first - 1]
    result = rewrite(log_file, lines)
    assert (result.ok, result.first_bad_line, result.lines) == (False, first, LINES)
    assert result.reason.startswith(f"line {first} is out of order")


def test_line_moved_to_the_end(log_file: Path) -> None:
    lines = lines_of(log_file)
    lines.append(lines.pop(1))
    result = rewrite(log_file, lines)
    assert result.first_bad_line == 2 and "out of order" in result.reason


def test_duplicated_line(log_file: Path) -> None:
    lines = lines_of(log_file)
    lines.insert(3, lines[2])
    result = rewrite(log_file, lines)
    assert result.first_bad_line == 4 and "out of order" in result.reason


@pytest.mark.parametrize("edited", [1, 2, LINES - 1])
def test_edit_with_recomputed_hash(log_file: Path, edited: int) -> None:
    lines = lines_of(log_file)
    record = json.loads(lines[edited - 1])
    record["data"]["path"] = "/v1/innocent"
    lines[edited - 1] = rehash(record)
    result = rewrite(log_file, lines)
    assert (result.ok, result.first_bad_line) == (False, edited)
    assert result.reason == f"line {edited} was edited (line {edited + 1} does not chain to it)"


def test_first_line_must_start_the_chain(log_file: Path) -> None:
    lines = lines_of(log_file)
    record = json.loads(lines[0])
    record["prev"] = "1" * 64
    lines[0] = rehash(record)
    result = rewrite(log_file, lines)
    assert result.first_bad_line == 1 and "edited" in result.reason


def test_torn_last_line(log_file: Path) -> None:
    data = log_file.read_bytes()
    log_file.write_bytes(data[:-40])
    result = verify_file(log_file)
    assert (result.first_bad_line, result.lines) == (LINES, LINES)
    assert "not valid JSON" in result.reason


def test_last_line_without_newline(log_file: Path) -> None:
    log_file.write_bytes(log_file.read_bytes()[:-1])
    result = verify_file(log_file)
    assert result.first_bad_line == LINES and "incomplete" in result.reason


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"seq": 1}\n', "missing fields"),
        (b"\n", "not valid JSON"),
        (b"\xff\xfe\n", "not valid JSON"),
    ],
)
def test_garbage_lines(log_file: Path, line: bytes, why: str) -> None:
    lines = lines_of(log_file)
    lines.insert(2, line)
    result = rewrite(log_file, lines)
    assert result.first_bad_line == 3 and why in result.reason and result.lines == LINES + 1


def test_malformed_fields(log_file: Path) -> None:
    lines = lines_of(log_file)
    record = json.loads(lines[2])
    record["seq"] = "3"
    lines[2] = rehash(record)
    result = rewrite(log_file, lines)
    assert result.first_bad_line == 3 and "malformed fields: seq" in result.reason


def test_rotated_files_verify_when_concatenated(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    auditor = Auditor([FileSink(path)], FakeClock(T0))
    for _ in range(3):
        auditor.log(AuditEvent("system", T0, "", {}))
    rotated = tmp_path / "audit.log.1"
    path.rename(rotated)
    for _ in range(2):
        auditor.log(AuditEvent("system", T0, "", {}))
    assert verify_file(path).first_bad_line == 1
    joined = tmp_path / "joined.log"
    joined.write_bytes(rotated.read_bytes() + path.read_bytes())
    assert verify_file(joined) == VerifyResult(True, 5, None, verify_file(joined).reason)
