"""`evaluate(policies, path, capability)` → `Decision`: root allows, deny wins, default deny.

Constraints: the most restrictive value of each, over every granting rule (see
constraints.py). Reasons name the most specific granting rule (exact < `+` < `*`, then longer
literal prefix, then policy name and rule order). Pure and deterministic; no storage.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from tessera.policy.constraints import most_restrictive
from tessera.policy.models import (
    EMPTY_CONSTRAINTS,
    Capability,
    Decision,
    MatchedRule,
    Policy,
    Rule,
)
from tessera.policy.paths import CompiledPattern, PatternKind, validate_request_path

_ROOT_MATCH = MatchedRule("root", "*", frozenset(c for c in Capability if c is not Capability.DENY))
_ROOT_REASONS = ("granted by policy 'root'",)
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class _Entry:
    """One rule of one policy, with its precomputed match data and tie-break key."""

    policy: str
    rule: Rule
    matcher: CompiledPattern
    matched: MatchedRule
    key: tuple[int, int, int, int]  # (kind, -literal prefix length, policy order, rule order)
    order: tuple[int, int]  # (policy order, rule order): the order of `Decision.matched`


@dataclass(frozen=True, slots=True)
class _RuleSet:
    """All rules of a policy tuple, indexed so a lookup costs dict probes, not a scan.

    Exact patterns are keyed by the pattern, `prefix*` patterns by their prefix (probed once per
    distinct prefix length), and `+` patterns by their literal first segment.
    """

    root: bool
    exact: dict[str, tuple[_Entry, ...]]
    prefixes: dict[str, tuple[_Entry, ...]]
    prefix_lengths: tuple[int, ...]
    segment: dict[str | None, tuple[_Entry, ...]]

    def hits(self, path: str) -> list[_Entry]:
        found = list(self.exact.get(path, ()))
        prefixes = self.prefixes
        for length in self.prefix_lengths:
            entries = prefixes.get(path[:length])
            if entries is not None:
                found.extend(entries)
        first = path.partition("/")[0]
        for group in (self.segment.get(first, ()), self.segment.get(None, ())):
            found.extend(e for e in group if e.matcher.matches(path))
        found.sort(key=_order)
        return found


def _order(entry: _Entry) -> tuple[int, int]:
    return entry.order


def _group(entries: list[_Entry], key: Callable[[_Entry], K]) -> dict[K, tuple[_Entry, ...]]:
    groups: dict[K, list[_Entry]] = {}
    for entry in entries:
        groups.setdefault(key(entry), []).append(entry)
    return {k: tuple(v) for k, v in groups.items()}


@functools.lru_cache(maxsize=1024)
def _compile(policies: tuple[Policy, ...]) -> _RuleSet:
    if any(policy.name == "root" for policy in policies):
        return _RuleSet(True, {}, {}, (), {})
    entries: list[_Entry] = []
    ordered = sorted(policies, key=lambda p: p.name)  # stable: duplicates keep their order
    for p_index, policy in enumerate(ordered):
        for r_index, rule in enumerate(policy.rules):
            m = rule.matcher
            key = (m.rank[0], m.rank[1], p_index, r_index)
            matched = MatchedRule(policy.name, rule.path, rule.capabilities)
            entries.append(_Entry(policy.name, rule, m, matched, key, (p_index, r_index)))
    exact = [e for e in entries if e.matcher.kind is PatternKind.EXACT]
    prefix = [
        e for e in entries if e.matcher.kind is PatternKind.PREFIX and e.matcher.regex is None
    ]
    regex = [e for e in entries if e.matcher.regex is not None]
    prefixes = _group(prefix, lambda e: e.matcher.literal_prefix)
    return _RuleSet(
        root=False,
        exact=_group(exact, lambda e: e.matcher.pattern),
        prefixes=prefixes,
        prefix_lengths=tuple(sorted({len(p) for p in prefixes})),
        segment=_group(regex, lambda e: e.matcher.first_segment),
    )


def _granted(capability: Capability, entry: _Entry) -> str:
    return f"granted {capability.value!r} by policy {entry.policy!r} rule {entry.rule.path!r}"


def _best(hits: list[_Entry], capability: Capability) -> _Entry | None:
    best: _Entry | None = None
    for entry in hits:
        if capability in entry.rule.capabilities and (best is None or entry.key < best.key):
            best = entry
    return best


def _decide(rules: _RuleSet, path: str, capability: Capability, require_sudo: bool) -> Decision:
    if rules.root:
        return Decision(True, path, capability, (_ROOT_MATCH,), _ROOT_REASONS, EMPTY_CONSTRAINTS)
    hits = rules.hits(path)
    matched = tuple(e.matched for e in hits)
    denied = [e for e in hits if Capability.DENY in e.rule.capabilities]
    if denied:
        reasons = tuple(f"denied by policy {e.policy!r} rule {e.rule.path!r}" for e in denied)
        return Decision(False, path, capability, matched, reasons, EMPTY_CONSTRAINTS)
    needed = [capability]
    if require_sudo and capability is not Capability.SUDO:
        needed.append(Capability.SUDO)
    allowed = True
    reasons_list: list[str] = []
    grant: _Entry | None = None
    for cap in needed:
        best = _best(hits, cap)
        if best is None:
            allowed = False
            reasons_list.append(f"no policy grants {cap.value!r} on {path!r}")
        else:
            reasons_list.append(_granted(cap, best))
            grant = best if grant is None else grant
    constraints = EMPTY_CONSTRAINTS
    if allowed and grant is not None:
        granting = [e.rule.constraints for e in hits if capability in e.rule.capabilities]
        constraints = most_restrictive(granting) if any(granting) else EMPTY_CONSTRAINTS
    return Decision(allowed, path, capability, matched, tuple(reasons_list), constraints)


@functools.lru_cache(maxsize=8192)
def _evaluate_cached(
    policies: tuple[Policy, ...], path: str, capability: Capability, require_sudo: bool
) -> Decision:
    # Safe to memoise: policies are immutable and hashable by value, Decisions are frozen.
    validate_request_path(path)
    return _decide(_compile(policies), path, capability, require_sudo)


def evaluate(
    policies: Sequence[Policy],
    path: str,
    capability: Capability,
    *,
    require_sudo: bool = False,
) -> Decision:
    """Decide whether `policies` allow `capability` on the concrete request `path`.

    Raises `InvalidPath` for a malformed path. A policy named `root` allows everything. Otherwise
    any matching `deny` rule denies; else some matching rule must grant `capability` (and `sudo`
    too when `require_sudo`). `constraints` combine every granting rule, most restrictive first.
    """
    key = policies if isinstance(policies, tuple) else tuple(policies)
    if not isinstance(capability, Capability):
        capability = Capability(capability)
    return _evaluate_cached(key, path, capability, bool(require_sudo))
