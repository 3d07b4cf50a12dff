"""Request-path and pattern validation, and the glob matching table."""

from __future__ import annotations

import pytest

from tessera.core.errors import InvalidPath
from tessera.policy import validate_pattern, validate_request_path
from tessera.policy.paths import PatternKind, compile_pattern

GOOD_PATHS = [
    "identities",
    "identities/web-1",
    "pki/issue/web-server",
    "auth/token/lookup-self",
    "secret/data/a.b_c-d",
    "a/.hidden/b",
    "a/..x/b",
    "x" * 1024,
]

BAD_PATHS = [
    ("", "empty"),
    ("/identities", "start with '/'"),
    ("identities/", "end with '/'"),
    ("a//b", "empty segments"),
    ("a/../b", "'..'"),
    ("..", "'..'"),
    ("a/..", "'..'"),
    ("./a", "'.'"),
    ("a/./b", "'.'"),
    ("a/%2fb", "'%'"),
    ("a%2Fb", "'%'"),
    ("a/%2e%2e/b", "'%'"),
    ("%2E%2E", "'%'"),
    ("a%5cb", "'%'"),
    ("a\\b", "backslash"),
    ("a\\..\\b", "backslash"),
    ("a\x00b", "control character"),
    ("a\nb", "control character"),
    ("a\x7fb", "control character"),
    ("a\x85b", "control character"),
    ("x" * 1025, "longer than 1024"),
]


@pytest.mark.parametrize("path", GOOD_PATHS)
def test_valid_request_paths_are_returned_unchanged(path: str) -> None:
    assert validate_request_path(path) == path


@pytest.mark.parametrize(("path", "message"), BAD_PATHS)
def test_invalid_request_paths_are_refused(path: str, message: str) -> None:
    with pytest.raises(InvalidPath) as info:
        validate_request_path(path)
    assert message in info.value.detail
    assert info.value.status == 400


@pytest.mark.parametrize(("path", "message"), BAD_PATHS)
def test_patterns_share_the_path_refusals(path: str, message: str) -> None:
    with pytest.raises(InvalidPath) as info:
        validate_pattern(path)
    assert message in info.value.detail


@pytest.mark.parametrize(
    "pattern",
    ["*", "+", "secret/*", "identities/*", "pki/issue/web-*", "a/+/b", "+/x", "a/+/*", "a/+/c*"],
)
def test_valid_patterns(pattern: str) -> None:
    assert validate_pattern(pattern) == pattern


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a/*/b", "'*' is only allowed as the last character"),
        ("*/a", "'*' is only allowed as the last character"),
        ("a*b", "'*' is only allowed as the last character"),
        ("a/**", "'*' is only allowed as the last character"),
        ("a/*b*", "'*' is only allowed as the last character"),
        ("a/b+", "'+' must be a whole segment"),
        ("a/+b/c", "'+' must be a whole segment"),
        ("a/++", "'+' must be a whole segment"),
        ("a/+*", "'+' must be a whole segment"),
        ("/*", "start with '/'"),
        ("a/", "end with '/'"),
        ("a/+/", "end with '/'"),
        ("a//*", "empty segments"),
        ("../*", "'..'"),
        ("a/%2f/*", "'%'"),
    ],
)
def test_invalid_patterns(pattern: str, message: str) -> None:
    with pytest.raises(InvalidPath) as info:
        validate_pattern(pattern)
    assert message in info.value.detail


MATCH_TABLE = [
    # (pattern, path, matches)
    ("identities/web-1", "identities/web-1", True),
    ("identities/web-1", "identities/web-10", False),
    ("identities/web-1", "identities", False),
    ("identities/web-1", "identities/web-1/x", False),
    ("*", "anything", True),
    ("*", "a/b/c", True),
    ("identities/*", "identities/a", True),
    ("identities/*", "identities/a/b/c", True),
    ("identities/*", "identities", False),
    ("identities/*", "identitiesX/a", False),
    ("identities/*", "other/identities/a", False),
    ("pki/issue/web-*", "pki/issue/web-", True),
    ("pki/issue/web-*", "pki/issue/web-server", True),
    ("pki/issue/web-*", "pki/issue/web-a/b", True),
    ("pki/issue/web-*", "pki/issue/web", False),
    ("pki/issue/web-*", "pki/issue/db-server", False),
    ("pki/issue/web-*", "pki/issue/xweb-server", False),
    ("+", "a", True),
    ("+", "a/b", False),
    ("identities/+/credentials", "identities/x/credentials", True),
    ("identities/+/credentials", "identities/x-y.z/credentials", True),
    ("identities/+/credentials", "identities/credentials", False),
    ("identities/+/credentials", "identities//credentials", False),
    ("identities/+/credentials", "identities/a/b/credentials", False),
    ("identities/+/credentials", "identities/x/credentials/1", False),
    ("+/x", "a/x", True),
    ("+/x", "x", False),
    ("a/+/*", "a/b/c", True),
    ("a/+/*", "a/b/c/d", True),
    ("a/+/*", "a/b", False),
    ("a/+/c*", "a/b/cd/e", True),
    ("a/+/c*", "a/b/d", False),
    ("a.b/*", "aXb/c", False),  # regex metacharacters in literals are literal
    ("a/+/b.c", "a/x/bXc", False),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), MATCH_TABLE)
def test_glob_matching(pattern: str, path: str, expected: bool) -> None:
    assert compile_pattern(pattern).matches(path) is expected


@pytest.mark.parametrize(
    ("pattern", "kind", "prefix"),
    [
        ("a/b", PatternKind.EXACT, "a/b"),
        ("a/+/b", PatternKind.SEGMENT, "a/"),
        ("a/+/b*", PatternKind.PREFIX, "a/"),
        ("a/bc*", PatternKind.PREFIX, "a/bc"),
        ("*", PatternKind.PREFIX, ""),
    ],
)
def test_compiled_specificity(pattern: str, kind: PatternKind, prefix: str) -> None:
    compiled = compile_pattern(pattern)
    assert compiled.kind is kind
    assert compiled.literal_prefix == prefix


def test_more_specific_patterns_rank_first() -> None:
    ranks = [compile_pattern(p).rank for p in ["a/b/c", "a/b/+", "a/+/c", "a/b/c*", "a/*", "*"]]
    assert ranks == sorted(ranks)
