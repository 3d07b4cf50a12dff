"""Baseline files: JSON lists of accepted findings, keyed by rule id, keyed fingerprint and path.

Fingerprints are keyed, so a baseline only suppresses findings scanned with the same key."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from tessera.core.errors import InvalidRequest
from tessera.discovery.secrets.models import Finding

VERSION = 1


def read_baseline(path: Path) -> frozenset[tuple[str, str, str]]:
    """The (rule id, fingerprint, path) keys a baseline accepts."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequest(f"cannot read baseline {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequest(f"baseline {path} is not valid JSON") from None
    entries = doc.get("findings") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or doc.get("version") != VERSION:
        raise InvalidRequest(f"baseline {path}: expected {{'version': 1, 'findings': [...]}}")
    keys: set[tuple[str, str, str]] = set()
    for i, entry in enumerate(entries):
        fields = [entry.get(k) if isinstance(entry, dict) else None for k in _KEYS]
        rule_id, fingerprint, rel = (f if isinstance(f, str) else "" for f in fields)
        if not (rule_id and fingerprint and rel):
            raise InvalidRequest(f"baseline {path}: entry #{i + 1} needs {', '.join(_KEYS)}")
        keys.add((rule_id, fingerprint, rel))
    return frozenset(keys)


def write_baseline(path: Path, findings: Iterable[Finding]) -> int:
    """Write every finding as accepted (atomically); returns how many entries were written."""
    entries = sorted(
        {f.baseline_key: f for f in findings}.values(), key=lambda f: (f.path, f.line, f.rule_id)
    )
    doc = {
        "version": VERSION,
        "findings": [
            {
                "rule_id": f.rule_id,
                "fingerprint": f.fingerprint,
                "path": f.path,
                "line": f.line,
                "preview": f.preview,
            }
            for f in entries
        ],
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise InvalidRequest(f"cannot write baseline {path}: {exc.strerror}") from None
    return len(entries)


def suppress(
    findings: list[Finding], accepted: frozenset[tuple[str, str, str]]
) -> tuple[list[Finding], int]:
    """The findings the baseline does not accept, and how many it did."""
    kept = [f for f in findings if f.baseline_key not in accepted]
    return kept, len(findings) - len(kept)


_KEYS = ("rule_id", "fingerprint", "path")
