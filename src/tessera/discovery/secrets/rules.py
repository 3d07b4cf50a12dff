"""Built-in rules wired like plugins, and how a scan's rule set is assembled from built-ins and
a gitleaks-format rule file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tessera.core.errors import InvalidRequest
from tessera.discovery.secrets import rules_builtin, rules_builtin_generic, rules_builtin_saas
from tessera.discovery.secrets.gitleaks import load_config
from tessera.discovery.secrets.models import Rule, RuleSet


@cache
def builtin_rules() -> tuple[Rule, ...]:
    """Every built-in rule, specific providers first and generic patterns last (when two rules
    report one secret on one line, the earlier wins)."""
    return (*rules_builtin.RULES, *rules_builtin_saas.RULES, *rules_builtin_generic.RULES)


def load_ruleset(rules_file: Path | None = None, *, builtin: bool = True) -> RuleSet:
    """The built-ins (unless `builtin` is False and the file does not ask for them), then the
    file's rules: a file rule with a built-in's id replaces it."""
    if rules_file is None:
        if not builtin:
            raise InvalidRequest("no rules: --no-builtin needs --rules FILE")
        return RuleSet(builtin_rules())
    return load_config(rules_file, defaults=builtin_rules(), builtin=builtin)
