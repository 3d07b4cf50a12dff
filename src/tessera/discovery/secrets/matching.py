"""Run rules over one piece of text: keyword prefilter, regex, secret group, entropy, checksum,
allowlists and inline `tessera:allow` comments. Secrets leave as fingerprints only."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tessera.discovery.secrets.hashing import SecretHasher, preview, shannon_entropy
from tessera.discovery.secrets.models import Allowlist, Condition, RegexTarget, Rule, RuleSet

# gitleaks:allow is honoured too, so repositories already annotated for gitleaks stay quiet.
_INLINE_ALLOW = re.compile(r"(?:tessera|gitleaks):allow")
# the line before only counts when it is a comment of its own, not code with a trailing allow
_COMMENT_LEADERS = ("#", "//", "--", "/*", "*", ";", "<!--", "%", "'", "rem ", "REM ")


@dataclass(frozen=True)
class Hit:
    """A secret found in a text: `start` is the secret's offset, `end` the end of the match."""

    rule: Rule
    start: int
    end: int
    fingerprint: str
    preview: str


def allowed(
    allowlist: Allowlist, *, secret: str, match: str, line: str, path: str, commit: str | None
) -> bool:
    """Whether this allowlist excuses the candidate (OR: any configured criterion; AND: all)."""
    checks: list[bool] = []
    if allowlist.commits:
        checks.append(commit is not None and any(commit.startswith(c) for c in allowlist.commits))
    if allowlist.paths:
        checks.append(any(p.search(path) for p in allowlist.paths))
    if allowlist.regexes:
        target = {RegexTarget.SECRET: secret, RegexTarget.MATCH: match, RegexTarget.LINE: line}[
            allowlist.regex_target
        ]
        checks.append(any(r.search(target) for r in allowlist.regexes))
    if allowlist.stopwords:
        low = secret.lower()
        checks.append(any(w in low for w in allowlist.stopwords))
    if not checks:
        return False
    return all(checks) if allowlist.condition is Condition.AND else any(checks)


def path_excluded(allowlists: Sequence[Allowlist], path: str, commit: str | None) -> bool:
    """A file every rule may skip: an OR allowlist for all rules whose paths or commits match."""
    for al in allowlists:
        if al.target_rules or al.condition is Condition.AND:
            continue
        if any(p.search(path) for p in al.paths):
            return True
        if commit is not None and any(commit.startswith(c) for c in al.commits):
            return True
    return False


def rules_for_path(ruleset: RuleSet, path: str) -> tuple[Rule, ...]:
    """The rules that apply to `path` (rules restricted by a `path` regex only where it matches)."""
    return tuple(r for r in ruleset.rules if r.path is None or r.path.search(path))


def secret_of(rule: Rule, m: re.Match[str]) -> tuple[str, int]:
    """The secret text and its offset: the configured group, else the first non-empty group,
    else the whole match."""
    if rule.secret_group and rule.secret_group <= (m.re.groups or 0):
        return m.group(rule.secret_group) or "", m.start(rule.secret_group)
    for idx in range(1, (m.re.groups or 0) + 1):
        value = m.group(idx)
        if value:
            return value, m.start(idx)
    return m.group(0), m.start()


def _line_around(text: str, pos: int) -> tuple[str, str]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start : end if end >= 0 else len(text)]
    prev_start = text.rfind("\n", 0, max(start - 1, 0)) + 1 if start else start
    previous = text[prev_start : max(start - 1, prev_start)]
    return line, previous


class Matcher:
    """Finds the hits of a rule set in texts of one file or blob."""

    def __init__(self, ruleset: RuleSet, hasher: SecretHasher) -> None:
        self._ruleset = ruleset
        self._hasher = hasher

    def scan(
        self, text: str, rules: Sequence[Rule], path: str, commit: str | None = None
    ) -> Iterator[Hit]:
        lowered = text.lower()
        for rule in rules:
            if rule.regex is None:
                continue
            if rule.keywords and not any(k in lowered for k in rule.keywords):
                continue
            for m in rule.regex.finditer(text):
                hit = self._judge(rule, m, text, path, commit)
                if hit is not None:
                    yield hit

    def path_hit(self, rule: Rule, path: str) -> Hit:
        """A path-only rule matched a file name: the name is the finding."""
        return Hit(rule, 0, 0, self._hasher.fingerprint(path), preview(path))

    def _judge(
        self, rule: Rule, m: re.Match[str], text: str, path: str, commit: str | None
    ) -> Hit | None:
        secret, start = secret_of(rule, m)
        if not secret.strip():
            return None
        if rule.entropy is not None and shannon_entropy(secret) < rule.entropy:
            return None
        if rule.validate is not None and not rule.validate(secret):
            return None
        line, previous = _line_around(text, m.start())
        if _INLINE_ALLOW.search(line) or (
            previous.lstrip().startswith(_COMMENT_LEADERS) and _INLINE_ALLOW.search(previous)
        ):
            return None
        for al in (*rule.allowlists, *self._ruleset.allowlists):
            if al.target_rules and rule.id not in al.target_rules:
                continue
            if allowed(al, secret=secret, match=m.group(0), line=line, path=path, commit=commit):
                return None
        return Hit(rule, start, m.end(), self._hasher.fingerprint(secret), preview(secret))
