"""SARIF 2.1.0 (OASIS) output, as code-scanning services ingest it: one run, the rules that
fired in `tool.driver.rules`, one result per finding with a relative artifact URI."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tessera import __version__
from tessera.discovery.secrets.models import Finding, Rule, RuleSet

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"


def to_sarif(findings: list[Finding], ruleset: RuleSet, root: Path) -> dict[str, Any]:
    """The SARIF log for these findings; URIs are relative to `root` (`%SRCROOT%`)."""
    fired = sorted({f.rule_id for f in findings})
    index = {rule_id: i for i, rule_id in enumerate(fired)}
    by_id = {r.id: r for r in ruleset.rules}
    rules = [_rule(by_id[rule_id]) if rule_id in by_id else {"id": rule_id} for rule_id in fired]
    base = root if root.is_dir() else root.parent
    return {
        "$schema": SCHEMA,
        "version": VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tessera",
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": base.resolve().as_uri() + "/"}},
                "results": [_result(f, index[f.rule_id]) for f in findings],
            }
        ],
    }


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.description or rule.id},
        "fullDescription": {"text": f"{rule.description or rule.id} found in source"},
        "help": {
            "text": "Revoke or rotate this credential, then remove it from the code and its "
            "history. Add `tessera:allow` on the line, or a baseline entry, if it is not a "
            "secret."
        },
        "defaultConfiguration": {"level": rule.severity.sarif_level},
        "properties": {"tags": list(rule.tags), "security-severity": rule.severity.score},
    }


def _result(f: Finding, rule_index: int) -> dict[str, Any]:
    # the keyed fingerprint already hides the secret; hashing it with rule and path makes the
    # partial fingerprint stable per location without repeating our inventory key
    stable = hashlib.sha256(f"{f.rule_id}\0{f.path}\0{f.fingerprint}".encode()).hexdigest()
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": f.severity.sarif_level,
        "message": {"text": f"{f.description}: {f.preview}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": quote(f.path), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.line, "startColumn": f.column},
                }
            }
        ],
        "partialFingerprints": {"tesseraSecret/v1": stable},
    }
    if f.commit is not None:
        result["properties"] = {
            "commitSha": f.commit.sha,
            "author": f.commit.author,
            "date": f.commit.date.isoformat(),
        }
    return result
