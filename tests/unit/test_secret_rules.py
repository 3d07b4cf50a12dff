"""Secret rules: every built-in on its own examples, the matcher's filters, Go regex translation
and gitleaks TOML loading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tessera.auth import tokens
from tessera.core.errors import InvalidRequest
from tessera.discovery.secrets import SecretHasher, builtin_rules, load_config, load_ruleset
from tessera.discovery.secrets.goregex import RegexError, compile_go, translate
from tessera.discovery.secrets.hashing import preview, shannon_entropy
from tessera.discovery.secrets.matching import Matcher
from tessera.discovery.secrets.models import Rule, RuleSet

KEY = bytes(range(32))
BUILTIN = builtin_rules()


def hits(text: str, ruleset: RuleSet, path: str = "app/config.py") -> list[str]:
    matcher = Matcher(ruleset, SecretHasher(KEY))
    return [h.rule.id for h in matcher.scan(text, ruleset.rules, path)]


def test_there_are_enough_distinct_builtin_rules() -> None:
    ids = [r.id for r in BUILTIN]
    assert len(ids) >= 60
    assert len(set(ids)) == len(ids)
    assert all(r.positive and r.negative and r.description for r in BUILTIN)


@pytest.mark.parametrize("rule", BUILTIN, ids=lambda r: r.id)
def test_builtin_rule_matches_its_positive_and_not_its_negative(rule: Rule) -> None:
    only = RuleSet((rule,))
    assert hits(rule.positive, only) == [rule.id]
    assert hits(rule.negative, only) == []
    # the keyword prefilter must let the positive through, or the rule never runs
    assert not rule.keywords or any(k in rule.positive.lower() for k in rule.keywords)


def test_keywords_gate_the_regex() -> None:
    rule = Rule("x", "x", re.compile(r"secret-\d+"), keywords=("vendor",))
    assert hits("secret-123", RuleSet((rule,))) == []
    assert hits("VENDOR secret-123", RuleSet((rule,))) == ["x"]


def test_entropy_threshold_drops_low_entropy_values() -> None:
    generic = RuleSet(tuple(r for r in BUILTIN if r.id == "generic-password"))
    assert hits('password = "aaaaaaaaaaaaaaaa"', generic) == []
    assert hits('password = "Qz8vLp2xW9mR4tKc"', generic) == ["generic-password"]
    assert shannon_entropy("") == 0 and shannon_entropy("ab") == 1.0


def test_generic_rules_skip_placeholders_and_references() -> None:
    generic = RuleSet(tuple(r for r in BUILTIN if r.id.startswith("generic")))
    for text in (
        'password = "${DB_PASSWORD_FROM_ENV}"',
        "password: {{ vault_db_password_value }}",
        'api_key = "<insert-your-api-key-here>"',
        "postgres://app:changeme@db/app",
        "password = get_password_from_vault(name)",
    ):
        assert hits(text, generic) == [], text


def test_tessera_token_rule_verifies_the_checksum() -> None:
    class Counter:
        def token_bytes(self, n: int) -> bytes:
            return bytes(range(n))

    token = tokens.generate_token(Counter())
    rule = RuleSet(tuple(r for r in BUILTIN if r.id == "tessera-token"))
    assert hits(f"TOKEN={token}", rule) == ["tessera-token"]
    typo = token[:10] + ("a" if token[10] != "a" else "b") + token[11:]
    assert hits(f"TOKEN={typo}", rule) == []


def test_preview_and_fingerprint_never_show_the_secret() -> None:
    assert preview("ghp_" + "A" * 36) == "ghp_…(40 chars)"
    assert preview("hunter2hunter") == "…(13 chars)"
    a, b = SecretHasher(KEY), SecretHasher(bytes(32))
    assert a.fingerprint("s3cret") == a.fingerprint("s3cret") != b.fingerprint("s3cret")
    assert "s3cret" not in a.fingerprint("s3cret")
    with pytest.raises(InvalidRequest):
        SecretHasher(b"short")


@pytest.mark.parametrize(
    ("go", "python", "matches", "misses"),
    [
        (r"a(?i)b|c", r"a(?i:b)|(?i:c)", ["aB", "C"], ["AB"]),
        (r"key(x(?i)YZ|w)", r"key(x(?i:YZ)|(?i:w))", ["keyxyz", "keyW"], ["KEYxyz"]),
        (r"\Qa.b\E+", r"a\.b+", ["a.bbb"], ["axb"]),
        (r"end\z", r"end\Z", ["the end"], ["end\n"]),
        (r"[[:alpha:]_]+[[:digit:]]", r"[A-Za-z_]+[0-9]", ["ab_1"], ["1"]),
        (r"(?<name>x)\x{41}", r"(?P<name>x)\U00000041", ["xA"], ["xa"]),
        (r"a{,2}", r"a\{,2}", ["a{,2}"], ["aa"]),
    ],
)
def test_go_regex_translation(go: str, python: str, matches: list[str], misses: list[str]) -> None:
    assert translate(go) == python
    pattern = compile_go(go)
    for text in matches:
        assert pattern.search(text), text
    for text in misses:
        assert not pattern.search(text), text


@pytest.mark.parametrize("go", [r"\p{L}+", r"(?U)a+", r"\C", r"[[:^alpha:]]"])
def test_go_only_constructs_without_python_equivalent_are_refused(go: str) -> None:
    with pytest.raises(RegexError) as exc:
        compile_go(go)
    assert exc.value.unsupported


@pytest.mark.parametrize("bad", [r"(unclosed", r"a\Z", r"[a-", "\\", r"\1"])
def test_invalid_regexes_are_errors_not_crashes(bad: str) -> None:
    with pytest.raises(RegexError) as exc:
        compile_go(bad)
    assert not exc.value.unsupported


SAMPLE = r"""
title = "Acme secret rules"

[extend]
useDefault = true
disabledRules = ["jwt"]

[allowlist]
description = "vendored and test fixtures"
paths = ['''(?:^|/)vendor/''', '''\.lock$''']
regexes = ['''ACME-FAKE-[0-9]+''']

[[allowlists]]
targetRules = ["acme-api-key"]
regexTarget = "line"
regexes = ['''(?i)nosec''']

[[rules]]
id = "acme-api-key"
description = "Acme API key"
regex = '''(?i)\b(acme[_-]?key)\s*[:=]\s*["']?(?-i)(ACME-[A-Z0-9]{20})\b'''
secretGroup = 2
keywords = ["acme"]
entropy = 2.5
tags = ["acme", "key"]

    [[rules.allowlists]]
    description = "documentation"
    condition = "AND"
    paths = ['''docs/''']
    stopwords = ["acme-docs"]

[[rules]]
id = "acme-session"
description = "Acme session cookie"
regex = '''sess=([0-9a-f]{32})\z'''
keywords = ["sess="]

    [rules.allowlist]
    commits = ["deadbeef"]
    regexes = ['''^0+$''']

[[rules]]
id = "acme-keystore"
description = "Acme keystore file"
path = '''\.acmekeys$'''

[[rules]]
id = "unicode-name"
description = "needs Unicode classes"
regex = '''\p{Greek}+secret'''

[[rules]]
id = "github-pat"
description = "GitHub PAT (Acme override)"
    [[rules.allowlists]]
    regexes = ['''EXAMPLE0EXAMPLE0''']
"""


def write(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_realistic_gitleaks_config_loads_unchanged(tmp_path: Path) -> None:
    rs = load_ruleset(write(tmp_path, SAMPLE), builtin=False)
    ids = {r.id for r in rs.rules}
    assert {"acme-api-key", "acme-session", "acme-keystore", "aws-access-key-id"} <= ids
    assert "jwt" not in ids and "unicode-name" not in ids
    assert any("'unicode-name'" in w and "Unicode" in w for w in rs.warnings)
    key = "ACME-" + "Q7X2" * 5
    assert hits(f"ACME_KEY = {key}", rs) == ["acme-api-key"]
    assert hits(f"acme_key = {key.lower()}", rs) == []  # (?-i) mid-pattern kept its meaning
    assert hits(f"acme_key = {key}  # NOSEC", rs) == []  # [[allowlists]] targetRules, line
    assert hits(f"acme_key = {key}", rs, "vendor/lib.py") == []  # global path allowlist
    assert hits("acme_key = ACME-FAKE-1234567890123456", rs) == []  # global regexes
    assert hits(f"acme_key = {key}", rs, "docs/intro.md") == ["acme-api-key"]  # AND: not both
    session = "0123456789abcdef" * 2
    assert hits(f"cookie: sess={session}", rs) == ["acme-session"]
    assert hits(f"cookie: sess={session}\nmore", rs) == []  # \z anchors at end of text
    assert hits("sess=" + "0" * 32, rs) == []  # older [rules.allowlist]
    github = rs.rule("github-pat")
    assert github.description == "GitHub PAT (Acme override)" and github.regex is not None
    assert hits(github.positive, RuleSet((github,))) == []  # appended allowlist applies
    assert rs.rule("acme-keystore").regex is None


def test_useDefault_false_and_no_builtin_keeps_only_file_rules(tmp_path: Path) -> None:
    text = '[[rules]]\nid = "only"\nregex = """only-[0-9]{4}"""\n'
    assert [r.id for r in load_ruleset(write(tmp_path, text), builtin=False).rules] == ["only"]
    with_builtin = load_ruleset(write(tmp_path, text), builtin=True)
    assert len(with_builtin.rules) == len(BUILTIN) + 1


def test_extend_path_pulls_in_another_config(tmp_path: Path) -> None:
    write(tmp_path, '[[rules]]\nid = "base"\nregex = "base-[0-9]{4}"\n', "base.toml")
    top = write(tmp_path, '[extend]\npath = "base.toml"\n[[rules]]\nid = "top"\nregex = "t"\n')
    assert [r.id for r in load_config(top, builtin=False).rules] == ["base", "top"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rules]\nid = 'x'", "malformed TOML"),
        ("[[rules]]\nid = 'broken'\nregex = '(unclosed'", "rule 'broken': regex: invalid regex"),
        ("[[rules]]\nregex = 'x'", "rule #1: id"),
        ("[[rules]]\nid = 'n'\nregex = 'x'\nentropy = 'high'", "rule 'n': entropy"),
        ("[[rules]]\nid = 'g'\nregex = 'x'\nsecretGroup = 3", "secretGroup 3"),
        ("[[rules]]\nid = 'e'", "needs a regex or a path"),
        ("[[rules]]\nid = 'k'\nregex = 'x'\nkeywords = 'x'", "keywords"),
        ("rules = 3", "array of tables"),
        ("title = 'nothing'", "no rules"),
        ("[allowlist]\nregexTarget = 'everything'\n[[rules]]\nid='a'\nregex='a'", "regexTarget"),
    ],
)
def test_bad_rule_files_give_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        load_config(write(tmp_path, text), builtin=False)
    assert message in exc.value.detail


def test_missing_rule_file_and_no_rules_at_all(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="cannot read rule file"):
        load_ruleset(tmp_path / "absent.toml")
    with pytest.raises(InvalidRequest, match="--no-builtin needs --rules"):
        load_ruleset(None, builtin=False)
