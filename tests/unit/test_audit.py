"""Audit sinks and the Auditor: line format, Sensitive handling, chains, failure handling."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import stat
import threading
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

import tessera.audit
from tessera.audit import (
    AuditEvent,
    Auditor,
    AuditWriteError,
    FakeSink,
    FileSink,
    Sensitive,
    StreamSink,
    verify_file,
)
from tessera.audit.models import GENESIS_HASH, canonical_json
from tessera.audit.sinks import HashChain
from tessera.core.clock import FakeClock
from tessera.core.errors import AuditUnavailable, NotFound, Sealed

KEY = bytes(range(32))
T0 = datetime(2030, 1, 1, tzinfo=UTC)
SECRETS = ["s.top-level-token", "nested-secret", "in-a-list", "in-a-tuple", "secret-key-name"]


def event(data: dict[str, Any] | None = None, type_: str = "request") -> AuditEvent:
    return AuditEvent(type_, T0, "req-1", data if data is not None else {"path": "/v1/sys"})


def sensitive_data() -> dict[str, Any]:
    return {
        "token": Sensitive(SECRETS[0]),
        "body": {"deep": {"password": Sensitive(SECRETS[1])}},
        "list": ["plain", Sensitive(SECRETS[2])],
        "tuple": (Sensitive(SECRETS[3]),),
        "keys": {Sensitive(SECRETS[4]): 1},
    }


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def unsealed(*sinks: Any) -> Auditor:
    auditor = Auditor(list(sinks), FakeClock(T0))
    auditor.set_audit_key(KEY)
    return auditor


def test_public_api() -> None:
    assert sorted(tessera.audit.__all__) == sorted(
        [
            "Auditor",
            "AuditEvent",
            "Sensitive",
            "AuditSink",
            "FileSink",
            "StreamSink",
            "FakeSink",
            "AuditWriteError",
            "verify_file",
            "VerifyResult",
        ]
    )


def test_line_format_and_chain() -> None:
    sink = FakeSink()
    auditor = unsealed(sink)
    auditor.log(event({"path": "/v1/pki/issue/web", "n": 1, "é": "ü"}))
    auditor.log(event({"status": 200}, "response"))
    first, second = sink.records
    assert set(first) == {"seq", "prev", "hash", "time", "type", "request_id", "data"}
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["prev"] == GENESIS_HASH and second["prev"] == first["hash"]
    assert first["time"] == "2030-01-01T00:00:00.000000Z"
    assert (first["type"], first["request_id"]) == ("request", "req-1")
    assert first["data"] == {"path": "/v1/pki/issue/web", "n": 1, "é": "ü"}
    for line, record in zip(sink.lines, sink.records, strict=True):
        assert line == json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        unhashed = {k: v for k, v in record.items() if k != "hash"}
        assert record["hash"] == hashlib.sha256(canonical_json(unhashed).encode()).hexdigest()
    assert sink.last_seq == 2 and sink.last_hash == second["hash"]


@pytest.mark.parametrize(
    "fields",
    [
        {"time": "t", "type": "x", "request_id": "r", "data": {"a": [1, {"b": None}]}},
        {"data": {}, "aardvark": "\u2028\"'\\", "zulu": 1.5},
        {"zz": "only-high-keys"},
        {},
    ],
)
def test_chain_build_equals_canonical_json(fields: dict[str, Any]) -> None:
    line, digest = HashChain(41, "b" * 64).build(fields)
    obj = {**fields, "seq": 42, "prev": "b" * 64}
    assert digest == hashlib.sha256(canonical_json(obj).encode()).hexdigest()
    assert line == canonical_json({**obj, "hash": digest})


def test_time_is_written_in_utc() -> None:
    sink = FakeSink()
    plus_two = datetime(2030, 6, 1, 14, 30, 5, 123, tzinfo=timezone(timedelta(hours=2)))
    unsealed(sink).log(AuditEvent("system", plus_two, "", {}))
    assert sink.records[0]["time"] == "2030-06-01T12:30:05.000123Z"


def test_event_validates_and_is_immutable() -> None:
    with pytest.raises(ValueError):
        AuditEvent("request", datetime(2030, 1, 1), "r", {})  # naive on purpose
    with pytest.raises(ValueError):
        AuditEvent("", T0, "r", {})
    with pytest.raises(ValueError):
        AuditEvent("request", T0, Sensitive("r"), {})
    data = {"a": 1}
    ev = AuditEvent("request", T0, "r", data)
    data["a"] = 2
    assert ev.data["a"] == 1
    with pytest.raises(TypeError):
        ev.data["a"] = 3  # type: ignore[index]


def test_sensitive_repr_hides_value() -> None:
    assert "abc" not in repr(Sensitive("abc"))
    assert Sensitive("abc") == "abc"


def test_sensitive_never_in_clear_and_matches_hash_value(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    auditor = unsealed(FileSink(path))
    auditor.log(event(sensitive_data()))
    raw = path.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in raw
    data = records(path)[0]["data"]
    h = {secret: auditor.hash_value("file", secret) for secret in SECRETS}
    assert data["token"] == h[SECRETS[0]]
    assert data["body"] == {"deep": {"password": h[SECRETS[1]]}}
    assert data["list"] == ["plain", h[SECRETS[2]]]
    assert data["tuple"] == [h[SECRETS[3]]]
    assert data["keys"] == {h[SECRETS[4]]: 1}
    assert h[SECRETS[0]].startswith("hmac-sha256:") and len(h[SECRETS[0]]) == 12 + 64


def test_hmac_follows_the_documented_derivation() -> None:
    sink = FakeSink("primary")
    unsealed(sink).log(event({"t": Sensitive("tok")}))
    salt = hmac.new(KEY, b"tessera-audit-salt:primary", hashlib.sha256).digest()
    expected = hmac.new(salt, b"tok", hashlib.sha256).hexdigest()
    assert sink.records[0]["data"]["t"] == "hmac-sha256:" + expected


def test_each_sink_hashes_differently() -> None:
    a, b = FakeSink("a"), FakeSink("b")
    auditor = unsealed(a, b)
    auditor.log(event({"t": Sensitive("same-token"), "plain": "x"}))
    value_a, value_b = a.records[0]["data"]["t"], b.records[0]["data"]["t"]
    assert value_a != value_b
    assert value_a == auditor.hash_value("a", "same-token")
    assert value_b == auditor.hash_value("b", "same-token")
    assert a.records[0]["data"]["plain"] == b.records[0]["data"]["plain"] == "x"


def test_redacted_while_sealed() -> None:
    sink = FakeSink()
    auditor = Auditor([sink], FakeClock(T0))
    auditor.log(event(sensitive_data()))
    auditor.set_audit_key(KEY)
    auditor.set_audit_key(None)
    auditor.log(event(sensitive_data()))
    for line in sink.lines:
        assert all(secret not in line for secret in SECRETS)
    for record in sink.records:
        assert record["data"]["token"] == "redacted"
        assert record["data"]["body"]["deep"]["password"] == "redacted"
    with pytest.raises(Sealed):
        auditor.hash_value("fake", "x")


def test_hash_value_unknown_sink_and_bad_key() -> None:
    auditor = unsealed(FakeSink())
    with pytest.raises(NotFound):
        auditor.hash_value("nope", "x")
    with pytest.raises(ValueError):
        auditor.set_audit_key(b"short")


def test_data_types_and_rejects_unknown() -> None:
    class Color(Enum):
        RED = "red"

    sink = FakeSink()
    auditor = unsealed(sink)
    auditor.log(event({"when": T0, "color": Color.RED, "f": 1.5, "b": True, "n": None}))
    assert sink.records[0]["data"] == {
        "when": "2030-01-01T00:00:00.000000Z",
        "color": "red",
        "f": 1.5,
        "b": True,
        "n": None,
    }
    with pytest.raises(TypeError):
        auditor.log(event({"bad": object()}))
    with pytest.raises(TypeError):
        auditor.log(event({"bad": {1: "int key"}}))
    assert len(sink.lines) == 1


def test_emit_stamps_with_clock() -> None:
    sink = FakeSink()
    clock = FakeClock(T0)
    auditor = Auditor([sink], clock)
    clock.advance(1.5)
    auditor.emit("system", "", {"what": "unsealed"})
    assert sink.records[0]["time"] == "2030-01-01T00:00:01.500000Z"
    assert sink.records[0]["type"] == "system"


def test_duplicate_sink_names_rejected() -> None:
    with pytest.raises(ValueError):
        Auditor([FakeSink("x"), FakeSink("x")], FakeClock(T0))


def test_file_created_private_with_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "audit.log"
    unsealed(FileSink(path, fsync=True)).log(event())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().endswith(b"\n") and len(records(path)) == 1


def test_chain_continues_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    first = FileSink(path)
    for _ in range(3):
        unsealed(first).log(event())
    first.close()
    second = FileSink(path)
    assert second.last_seq == 3
    auditor = unsealed(second)
    auditor.log(event())
    auditor.log(event())
    assert [r["seq"] for r in records(path)] == [1, 2, 3, 4, 5]
    assert verify_file(path).ok


def test_partial_last_line_after_crash(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    sink = FileSink(path)
    for _ in range(3):
        unsealed(sink).log(event())
    sink.close()
    third_hash = records(path)[2]["hash"]
    with path.open("ab") as f:
        f.write(b'{"data":{"path":"/v1/sy')  # torn write: no newline
    reopened = FileSink(path)
    unsealed(reopened).log(event())
    lines = path.read_bytes().split(b"\n")
    assert lines[3] == b'{"data":{"path":"/v1/sy' and lines[5] == b""
    last = json.loads(lines[4])
    assert (last["seq"], last["prev"]) == (4, third_hash)
    result = verify_file(path)
    assert (result.ok, result.first_bad_line, result.lines) == (False, 4, 5)


def test_crash_during_first_line_starts_a_fresh_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(b'{"data":')
    unsealed(FileSink(path)).log(event())
    lines = path.read_bytes().splitlines()
    assert json.loads(lines[1])["seq"] == 1 and json.loads(lines[1])["prev"] == GENESIS_HASH
    assert verify_file(path).first_bad_line == 1


def test_refuses_to_continue_after_a_foreign_last_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text("not an audit record\n")
    with pytest.raises(AuditWriteError):
        FileSink(path)


def test_removed_file_is_recreated_and_chain_continues(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.log"
    auditor = unsealed(FileSink(path))
    auditor.log(event())
    auditor.log(event())
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="tessera.audit"):
        auditor.log(event())
    assert "removed or replaced" in caplog.text
    assert [r["seq"] for r in records(path)] == [3]
    assert verify_file(path).first_bad_line == 1  # the removal shows


def test_unavailable_when_every_fake_sink_fails_and_recovers() -> None:
    a, b = FakeSink("a"), FakeSink("b")
    auditor = unsealed(a, b)
    a.failing = b.failing = True
    with pytest.raises(AuditUnavailable):
        auditor.log(event())
    assert auditor.failures == {"a": 1, "b": 1}
    assert not auditor.available()
    a.failing = False
    auditor.log(event())
    assert auditor.available() and auditor.failures == {"a": 1, "b": 2}
    assert [r["seq"] for r in a.records] == [1]  # a failed write does not advance the chain


def test_no_sinks_is_unavailable() -> None:
    auditor = Auditor([], FakeClock(T0))
    assert not auditor.available()
    with pytest.raises(AuditUnavailable):
        auditor.log(event())


def test_one_working_sink_is_enough(tmp_path: Path) -> None:
    bad, path = FakeSink("bad"), tmp_path / "audit.log"
    bad.failing = True
    auditor = unsealed(bad, FileSink(path))
    auditor.log(event())
    assert auditor.failures == {"bad": 1, "file": 0} and auditor.available()
    assert len(records(path)) == 1


def test_path_replaced_by_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "audit.log"
    auditor = unsealed(FileSink(path))
    auditor.log(event())
    path.unlink()
    path.mkdir()
    with caplog.at_level(logging.DEBUG, logger="tessera.audit"), pytest.raises(AuditUnavailable):
        auditor.log(event({"user": "visible-plain-value", "t": Sensitive(SECRETS[0])}))
    assert auditor.failures == {"file": 1} and not auditor.available()
    assert "audit sink file failed" in caplog.text
    assert "visible-plain-value" not in caplog.text and SECRETS[0] not in caplog.text


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_directory_made_read_only(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    path = directory / "audit.log"
    bad, file_sink = FakeSink("bad"), FileSink(path)
    bad.failing = True
    auditor = unsealed(bad, file_sink)
    auditor.log(event())
    path.unlink()
    directory.chmod(0o500)
    try:
        with pytest.raises(AuditUnavailable):
            auditor.log(event())
        assert auditor.failures == {"bad": 2, "file": 1}
        with pytest.raises(AuditWriteError):
            FileSink(directory / "other.log")
    finally:
        directory.chmod(0o700)


def test_stream_sink(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    sink = StreamSink(stream)
    auditor = unsealed(sink)
    auditor.log(event({"t": Sensitive("tok")}))
    line = json.loads(stream.getvalue())
    assert line["seq"] == 1 and line["data"]["t"] == auditor.hash_value("stdout", "tok")
    stream.close()
    with pytest.raises(AuditUnavailable):
        auditor.log(event())
    assert auditor.failures == {"stdout": 1}


def test_unexpected_sink_exception_counts_as_failure() -> None:
    class Broken:
        name = "broken"

        def write(self, fields: Any) -> None:
            raise RuntimeError("bug")

    auditor = unsealed(Broken(), FakeSink())
    auditor.log(event())
    assert auditor.failures == {"broken": 1, "fake": 0}


def test_concurrent_logging_keeps_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    auditor = unsealed(FileSink(path))
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(200):
            auditor.log(event({"thread": n, "i": i, "t": Sensitive("tok")}))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = verify_file(path)
    assert result.ok and result.lines == 1600
    assert [r["seq"] for r in records(path)] == list(range(1, 1601))
