"""Audit: every request and system event, written to one or more sinks, each a SHA-256 hash chain.

Public surface: `Auditor` (the service, fail-closed), `AuditEvent` and `Sensitive` (the event
model), the `AuditSink` port with `FileSink`, `StreamSink` and `FakeSink`, `AuditWriteError`,
and `verify_file`/`VerifyResult` for offline chain checks.
"""

from tessera.audit.models import AuditEvent, Sensitive
from tessera.audit.service import Auditor
from tessera.audit.sinks import AuditSink, AuditWriteError, FakeSink, FileSink, StreamSink
from tessera.audit.verify import VerifyResult, verify_file

__all__ = [
    "AuditEvent",
    "AuditSink",
    "AuditWriteError",
    "Auditor",
    "FakeSink",
    "FileSink",
    "Sensitive",
    "StreamSink",
    "VerifyResult",
    "verify_file",
]
