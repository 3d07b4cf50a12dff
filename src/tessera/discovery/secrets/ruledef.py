"""How a built-in rule is declared, and the placeholder allowlist generic rules share."""

from __future__ import annotations

import re
from collections.abc import Callable

from tessera.discovery.secrets.models import Allowlist, Rule, Severity

# Values people write where a real secret would go; a generic rule matching one is noise.
PLACEHOLDERS = Allowlist(
    description="placeholders and references, not secrets",
    regexes=(
        re.compile(
            r"(?i)^(?:\*+|x+|\.+|-+|password|passwd|pass|pwd|secret|changeme|change_me|"
            r"redacted|none|null|true|false|test|user|username|admin)$"
        ),
        re.compile(r"\$\{|\{\{|<[^>]*>|^\$[A-Za-z_]|^%[sd(]|^process\.env|^os\.environ"),
        # code, not values: dotted references (self.password) and bare identifiers (KeyTypes)
        re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$|^[A-Za-z_]+$"),
    ),
    stopwords=("changeme", "placeholder", "your_", "your-", "xxxxxxxx", "redacted", "dummy"),
)


def define(
    rule_id: str,
    description: str,
    regex: str,
    keywords: tuple[str, ...],
    positive: str,
    negative: str,
    *,
    group: int = 1,
    entropy: float | None = None,
    severity: Severity = Severity.HIGH,
    tags: tuple[str, ...] = (),
    allowlists: tuple[Allowlist, ...] = (),
    validate: Callable[[str], bool] | None = None,
) -> Rule:
    """A built-in rule; its regex is Python syntax with ASCII classes, keywords lower case."""
    return Rule(
        id=rule_id,
        description=description,
        regex=re.compile(regex, re.ASCII),
        secret_group=group,
        keywords=tuple(k.lower() for k in keywords),
        entropy=entropy,
        severity=severity,
        tags=("secret", rule_id.split("-")[0], *tags),
        allowlists=allowlists,
        validate=validate,
        positive=positive,
        negative=negative,
    )
