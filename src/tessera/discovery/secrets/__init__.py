"""Secret scanning of files, directory trees and git history (built-in and gitleaks rules).

Found secrets are never kept in clear: findings carry a keyed HMAC-SHA-256 fingerprint and a
redacted preview."""

from tessera.discovery.secrets.baseline import read_baseline, suppress, write_baseline
from tessera.discovery.secrets.git import scan_history
from tessera.discovery.secrets.gitleaks import load_config
from tessera.discovery.secrets.hashing import SecretHasher
from tessera.discovery.secrets.keyfile import load_scan_key
from tessera.discovery.secrets.models import (
    CommitInfo,
    Finding,
    Rule,
    RuleSet,
    ScanOptions,
    ScanReport,
    Severity,
)
from tessera.discovery.secrets.report import report_dict, to_inventory
from tessera.discovery.secrets.rules import builtin_rules, load_ruleset
from tessera.discovery.secrets.sarif import to_sarif
from tessera.discovery.secrets.scanner import SecretScanner

__all__ = [
    "CommitInfo",
    "Finding",
    "Rule",
    "RuleSet",
    "ScanOptions",
    "ScanReport",
    "SecretHasher",
    "SecretScanner",
    "Severity",
    "builtin_rules",
    "load_config",
    "load_ruleset",
    "load_scan_key",
    "read_baseline",
    "report_dict",
    "scan_history",
    "suppress",
    "to_inventory",
    "to_sarif",
    "write_baseline",
]
