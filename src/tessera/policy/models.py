"""Policy value objects: immutable, validated on construction, round-trip to the JSON document.

`Policy.from_document` is the only way user input becomes a `Policy`; it raises `InvalidRequest`
(or `InvalidPath` for a bad rule path) naming the offending field, e.g. `rules[3].capabilities`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tessera.core.errors import InvalidPath, InvalidRequest
from tessera.policy.constraints import normalise as normalise_constraints
from tessera.policy.paths import CompiledPattern, compile_pattern

MAX_RULES = 500
MAX_DESCRIPTION = 1024
RESERVED_NAMES = frozenset({"root", "default"})
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,127}")
_DOC_KEYS = frozenset({"description", "rules"})
_RULE_KEYS = frozenset({"path", "capabilities", "constraints"})
EMPTY_CONSTRAINTS: Mapping[str, Any] = MappingProxyType({})


class Capability(StrEnum):
    """What a rule grants on a path; `deny` overrides every grant (but not the root policy)."""

    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    LIST = "list"
    SUDO = "sudo"
    DENY = "deny"


_CAPABILITY_NAMES = ", ".join(c.value for c in Capability)


def validate_policy_name(name: str, *, allow_reserved: bool = False) -> str:
    """Return `name` if it matches `^[a-z0-9][a-z0-9_.-]{0,127}$` (and is not reserved)."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidRequest(
            f"policy name {name!r} must be 1-128 characters of a-z, 0-9, '_', '.', '-' "
            "and start with a letter or digit"
        )
    if not allow_reserved and name in RESERVED_NAMES:
        raise InvalidRequest(f"policy name {name!r} is reserved")
    return name


def _freeze(value: Any, where: str) -> Any:
    """A deep, immutable copy of a JSON value (objects → MappingProxyType, arrays → tuples)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequest(f"{where}: numbers must be finite")
        return value
    if isinstance(value, Mapping):
        frozen: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequest(f"{where}: object keys must be strings")
            frozen[key] = _freeze(item, f"{where}.{key}")
        return MappingProxyType(frozen)
    if isinstance(value, list | tuple):
        return tuple(_freeze(item, f"{where}[{i}]") for i, item in enumerate(value))
    raise InvalidRequest(f"{where}: {type(value).__name__} is not a JSON value")


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


def _capabilities(values: Any, where: str) -> frozenset[Capability]:
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple | set | frozenset):
        raise InvalidRequest(f"{where} must be a list of capability names")
    if not values:
        raise InvalidRequest(f"{where} must name at least one capability")
    result: set[Capability] = set()
    for i, value in enumerate(values):
        try:
            result.add(Capability(value))
        except ValueError:
            raise InvalidRequest(
                f"{where}[{i}]: unknown capability {value!r}; expected one of {_CAPABILITY_NAMES}"
            ) from None
    return frozenset(result)


@dataclass(frozen=True)
class Rule:
    """One path rule. `path` is a validated pattern, compiled once into `matcher`."""

    path: str
    capabilities: frozenset[Capability]
    constraints: Mapping[str, Any] = field(
        default_factory=lambda: EMPTY_CONSTRAINTS, compare=False, hash=False
    )
    matcher: CompiledPattern = field(init=False, repr=False, compare=False, hash=False)
    # Type-strict equality for constraints (`1`, `1.0` and `true` differ), so caches keyed by
    # policies never hand one policy's constraints to another.
    _constraints_json: str = field(init=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.path, str):
            raise InvalidPath("rule path must be a string")
        object.__setattr__(self, "matcher", compile_pattern(self.path))
        object.__setattr__(self, "capabilities", _capabilities(self.capabilities, "capabilities"))
        if not isinstance(self.constraints, Mapping):
            raise InvalidRequest("constraints must be an object")
        object.__setattr__(self, "constraints", _freeze(self.constraints, "constraints"))
        for key in self.constraints:
            if not key:
                raise InvalidRequest("constraints: keys must not be empty")
        canonical = json.dumps(_thaw(self.constraints), sort_keys=True, separators=(",", ":"))
        object.__setattr__(self, "_constraints_json", canonical)

    def to_document(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "capabilities": [c.value for c in Capability if c in self.capabilities],
            "constraints": _thaw(self.constraints),
        }


@dataclass(frozen=True)
class Policy:
    """A named, ordered set of rules. Hashable (hash cached), so policy tuples can key caches."""

    name: str
    rules: tuple[Rule, ...]
    description: str = ""
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_policy_name(self.name, allow_reserved=True)
        rules = tuple(self.rules)
        if len(rules) > MAX_RULES:
            raise InvalidRequest(f"rules: at most {MAX_RULES} rules per policy, got {len(rules)}")
        if not all(isinstance(rule, Rule) for rule in rules):
            raise InvalidRequest("rules must be Rule objects")
        if not isinstance(self.description, str) or len(self.description) > MAX_DESCRIPTION:
            raise InvalidRequest(f"description must be a string of <= {MAX_DESCRIPTION} characters")
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "_hash", hash((self.name, rules, self.description)))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def from_document(
        cls, name: str, doc: Mapping[str, Any], *, allow_reserved: bool = False
    ) -> Policy:
        """Validate a user-written policy document; errors name the offending rule and field."""
        validate_policy_name(name, allow_reserved=allow_reserved)
        if not isinstance(doc, Mapping):
            raise InvalidRequest("policy document must be a JSON object")
        unknown = sorted(str(key) for key in doc if key not in _DOC_KEYS)
        if unknown:
            raise InvalidRequest(f"unknown policy document key(s): {', '.join(unknown)}")
        description = doc.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidRequest(f"description must be a string of <= {MAX_DESCRIPTION} characters")
        if "rules" not in doc:
            raise InvalidRequest("rules: required")
        raw_rules = doc["rules"]
        if not isinstance(raw_rules, list | tuple):
            raise InvalidRequest("rules must be a list")
        if len(raw_rules) > MAX_RULES:
            raise InvalidRequest(
                f"rules: at most {MAX_RULES} rules per policy, got {len(raw_rules)}"
            )
        rules = tuple(_rule_from_document(raw, f"rules[{i}]") for i, raw in enumerate(raw_rules))
        return cls(name, rules, description)

    def to_document(self) -> dict[str, Any]:
        """The document `from_document` accepts: `from_document(p.name, p.to_document()) == p`."""
        return {"description": self.description, "rules": [r.to_document() for r in self.rules]}


def _rule_from_document(raw: Any, where: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"{where} must be an object")
    unknown = sorted(str(key) for key in raw if key not in _RULE_KEYS)
    if unknown:
        raise InvalidRequest(f"{where}: unknown key(s): {', '.join(unknown)}")
    for required in ("path", "capabilities"):
        if required not in raw:
            raise InvalidRequest(f"{where}.{required}: required")
    path = raw["path"]
    if not isinstance(path, str):
        raise InvalidPath(f"{where}.path must be a string")
    try:
        compile_pattern(path)
    except InvalidPath as exc:
        raise InvalidPath(f"{where}.path: {exc.detail}") from None
    capabilities = _capabilities(raw["capabilities"], f"{where}.capabilities")
    constraints = raw.get("constraints", {})
    if not isinstance(constraints, Mapping):
        raise InvalidRequest(f"{where}.constraints must be an object")
    canonical = normalise_constraints(constraints, f"{where}.constraints")
    return Rule(path, capabilities, _freeze(canonical, f"{where}.constraints"))


@dataclass(frozen=True)
class MatchedRule:
    """A rule that matched the request path, and the policy it came from."""

    policy: str
    path: str
    capabilities: frozenset[Capability]


@dataclass(frozen=True)
class Decision:
    """The answer to one request. Services enforce `constraints`; `reasons` go to the audit log."""

    allowed: bool
    path: str
    capability: Capability
    matched: tuple[MatchedRule, ...]
    reasons: tuple[str, ...]
    constraints: Mapping[str, Any] = field(default_factory=lambda: EMPTY_CONSTRAINTS, hash=False)


_ALL = frozenset(c for c in Capability if c is not Capability.DENY)

# A marker: the engine allows everything for a principal holding `root` and never reads its rules.
ROOT_POLICY = Policy("root", (Rule("*", _ALL),), "Unrestricted access; checked by name.")

# Attached to every non-root token: a token may always inspect, renew and revoke itself.
DEFAULT_POLICY = Policy(
    "default",
    (
        Rule("auth/token/lookup-self", frozenset({Capability.READ})),
        Rule("auth/token/renew-self", frozenset({Capability.UPDATE})),
        Rule("auth/token/revoke-self", frozenset({Capability.UPDATE})),
    ),
    "Every non-root token may look up, renew and revoke itself.",
)
