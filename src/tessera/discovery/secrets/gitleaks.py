"""Load rules from a TOML file in the gitleaks format (v8): `[[rules]]` with their allowlists,
top-level `[allowlist]` / `[[allowlists]]`, and `[extend]` (`useDefault`, `path`,
`disabledRules`). Regexes are Go syntax, translated by `goregex`.

A rule whose regex is valid Go but has no Python equivalent is skipped with a warning; a file
that is not valid TOML, or a regex that is not valid at all, is refused naming the rule."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from tessera.core.errors import InvalidRequest
from tessera.discovery.secrets.goregex import RegexError, compile_go
from tessera.discovery.secrets.models import Allowlist, Condition, RegexTarget, Rule, RuleSet

_MAX_EXTEND_DEPTH = 3


class _Skip(Exception):
    """A construct valid in Go that Python cannot run: drop the rule, keep loading."""


def load_config(
    path: Path, *, defaults: tuple[Rule, ...] = (), builtin: bool = True, _depth: int = 0
) -> RuleSet:
    """The rule set a gitleaks config describes; `builtin` adds the `defaults` (built-in rules)
    even when the file does not say `[extend] useDefault = true`."""
    doc = _read(path)
    warnings: list[str] = []
    extend = _table(doc.get("extend", {}), f"{path}: [extend]")
    base_rules: list[Rule] = []
    base_allow: list[Allowlist] = []
    if builtin or _bool(extend.get("useDefault", False), f"{path}: extend.useDefault"):
        base_rules.extend(defaults)
    if "path" in extend:
        if _depth >= _MAX_EXTEND_DEPTH:
            raise InvalidRequest(f"{path}: [extend] nests deeper than {_MAX_EXTEND_DEPTH} files")
        parent = path.parent / _str(extend["path"], f"{path}: extend.path")
        extended = load_config(parent, defaults=defaults, builtin=False, _depth=_depth + 1)
        base_rules.extend(extended.rules)
        base_allow.extend(extended.allowlists)
        warnings.extend(extended.warnings)
    disabled = set(_strs(extend.get("disabledRules", []), f"{path}: extend.disabledRules"))
    merged: dict[str, Rule] = {r.id: r for r in base_rules if r.id not in disabled}

    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        raise InvalidRequest(f"{path}: `rules` must be an array of tables ([[rules]])")
    for index, raw in enumerate(raw_rules):
        where = f"{path}: rule #{index + 1}"
        table = _table(raw, where)
        rule_id = _str(table.get("id"), f"{where}: id")
        try:
            rule = _rule(table, f"{path}: rule {rule_id!r}", merged.get(rule_id))
        except _Skip as exc:
            warnings.append(f"{path}: rule {rule_id!r} skipped: {exc}")
            continue
        merged[rule_id] = rule

    for key in ("allowlist", "allowlists"):
        raw_lists = doc.get(key, [])
        for i, raw in enumerate(raw_lists if isinstance(raw_lists, list) else [raw_lists]):
            where = f"{path}: [{key}]" + (f" #{i + 1}" if key == "allowlists" else "")
            try:
                base_allow.append(_allowlist(_table(raw, where), where, top_level=True))
            except _Skip as exc:
                warnings.append(f"{where} skipped: {exc}")
    if not merged:
        raise InvalidRequest(f"{path}: no rules (add [[rules]] or [extend] useDefault = true)")
    return RuleSet(tuple(merged.values()), tuple(base_allow), tuple(warnings))


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise InvalidRequest(f"cannot read rule file {path}: {reason}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRequest(f"{path}: malformed TOML: {exc}") from None


def _rule(table: dict[str, Any], where: str, base: Rule | None) -> Rule:
    regex = _regex(table["regex"], f"{where}: regex") if "regex" in table else None
    path_re = _regex(table["path"], f"{where}: path") if "path" in table else None
    allowlists = [
        _allowlist(_table(a, f"{where}: allowlist"), f"{where}: allowlist")
        for a in _tables(table.get("allowlists", []), f"{where}: allowlists")
    ]
    if "allowlist" in table:
        allowlists.append(
            _allowlist(_table(table["allowlist"], f"{where}: allowlist"), f"{where}: allowlist")
        )
    keywords = tuple(k.lower() for k in _strs(table.get("keywords", []), f"{where}: keywords"))
    tags = tuple(_strs(table.get("tags", []), f"{where}: tags"))
    group = table.get("secretGroup")
    if group is not None and (not isinstance(group, int) or isinstance(group, bool) or group < 0):
        raise InvalidRequest(f"{where}: secretGroup must be a non-negative integer")
    entropy = table.get("entropy")
    if entropy is not None and (not isinstance(entropy, int | float) or isinstance(entropy, bool)):
        raise InvalidRequest(f"{where}: entropy must be a number")
    description = _str(table.get("description", ""), f"{where}: description", empty=True)
    if base is not None:  # gitleaks semantics: override what is given, append lists
        return replace(
            base,
            description=description or base.description,
            regex=regex or base.regex,
            secret_group=group if group is not None else base.secret_group,
            keywords=(*base.keywords, *keywords),
            entropy=float(entropy) if entropy is not None else base.entropy,
            path=path_re or base.path,
            allowlists=(*base.allowlists, *allowlists),
            tags=(*base.tags, *tags),
        )
    if regex is None and path_re is None:
        raise InvalidRequest(f"{where}: a rule needs a regex or a path")
    if regex is not None and group and group > regex.groups:
        raise InvalidRequest(f"{where}: secretGroup {group} but the regex has {regex.groups}")
    return Rule(
        id=_str(table["id"], f"{where}: id"),
        description=description,
        regex=regex,
        secret_group=group or 0,
        keywords=keywords,
        entropy=float(entropy) if entropy is not None else None,
        path=path_re,
        allowlists=tuple(allowlists),
        tags=tags,
    )


def _allowlist(table: dict[str, Any], where: str, *, top_level: bool = False) -> Allowlist:
    target = _str(table.get("regexTarget", "secret"), f"{where}: regexTarget").lower()
    condition = _str(table.get("condition", "OR"), f"{where}: condition").upper()
    try:
        regex_target, cond = RegexTarget(target), Condition(condition)
    except ValueError:
        raise InvalidRequest(
            f"{where}: regexTarget must be secret, match or line; condition OR or AND"
        ) from None
    regexes = _strs(table.get("regexes", []), f"{where}: regexes")
    targets = _strs(table.get("targetRules", []), f"{where}: targetRules")
    return Allowlist(
        description=_str(table.get("description", ""), f"{where}: description", empty=True),
        regexes=tuple(_regex(r, f"{where}: regexes") for r in regexes),
        regex_target=regex_target,
        paths=tuple(_regex(p, f"{where}: paths") for p in _strs(table.get("paths", []), where)),
        stopwords=tuple(w.lower() for w in _strs(table.get("stopwords", []), where)),
        commits=frozenset(_strs(table.get("commits", []), where)),
        condition=cond,
        target_rules=frozenset(targets) if top_level else frozenset(),
    )


def _regex(value: Any, where: str) -> re.Pattern[str]:
    pattern = _str(value, where)
    try:
        return compile_go(pattern)
    except RegexError as exc:
        if exc.unsupported:
            raise _Skip(str(exc)) from None
        raise InvalidRequest(f"{where}: {exc}") from None


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be a table")
    return value


def _tables(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest(f"{where} must be an array of tables")
    return value


def _str(value: Any, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty):
        raise InvalidRequest(f"{where} must be a non-empty string")
    return value


def _strs(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{where} must be an array of strings")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(f"{where} must be true or false")
    return value
