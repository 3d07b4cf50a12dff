"""Path ACL policy engine: `evaluate(policies, path, capability)` returns a `Decision`.

Pure and in-memory; storage of policies is the service's business, not this package's.
"""

from tessera.policy.engine import evaluate
from tessera.policy.models import (
    DEFAULT_POLICY,
    ROOT_POLICY,
    Capability,
    Decision,
    MatchedRule,
    Policy,
    Rule,
    validate_policy_name,
)
from tessera.policy.paths import validate_pattern, validate_request_path

__all__ = [
    "DEFAULT_POLICY",
    "ROOT_POLICY",
    "Capability",
    "Decision",
    "MatchedRule",
    "Policy",
    "Rule",
    "evaluate",
    "validate_pattern",
    "validate_policy_name",
    "validate_request_path",
]
