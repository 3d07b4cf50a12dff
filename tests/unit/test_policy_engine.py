"""Policy documents and the evaluation engine: deny wins, default deny, sudo, constraints, root."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

import pytest

import tessera.policy
from tessera.core.errors import InvalidPath, InvalidRequest
from tessera.policy import (
    DEFAULT_POLICY,
    ROOT_POLICY,
    Capability,
    Policy,
    Rule,
    evaluate,
    validate_policy_name,
)

C = Capability


def policy(name: str, *rules: dict[str, Any], description: str = "") -> Policy:
    return Policy.from_document(name, {"description": description, "rules": list(rules)})


def rule(path: str, *caps: str, **constraints: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"path": path, "capabilities": list(caps)}
    if constraints:
        doc["constraints"] = constraints
    return doc


# --- documents -------------------------------------------------------------------------------


def test_public_surface() -> None:
    assert sorted(tessera.policy.__all__) == sorted(
        [
            "Capability",
            "Rule",
            "Policy",
            "Decision",
            "MatchedRule",
            "evaluate",
            "validate_request_path",
            "validate_pattern",
            "validate_policy_name",
            "ROOT_POLICY",
            "DEFAULT_POLICY",
        ]
    )


def test_from_document_builds_frozen_policy() -> None:
    p = policy("web", rule("identities/*", "read", "list", max_ttl="24h"), description="web team")
    assert p.name == "web"
    assert p.description == "web team"
    # durations are stored canonically, in seconds
    assert p.rules == (Rule("identities/*", frozenset({C.READ, C.LIST}), {"max_ttl": 86400}),)
    assert isinstance(p.rules[0].constraints, MappingProxyType)
    with pytest.raises(TypeError):
        p.rules[0].constraints["max_ttl"] = "1h"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "other"  # type: ignore[misc]


def test_to_document_round_trips() -> None:
    doc = {
        "description": "issuers",
        "rules": [
            {
                "path": "pki/issue/web-*",
                "capabilities": ["create", "update"],
                "constraints": {"max_ttl": 3600},
            },
            {"path": "secret/+/meta", "capabilities": ["deny"], "constraints": {}},
        ],
    }
    p = Policy.from_document("issuers", doc)
    assert p.to_document() == doc
    assert Policy.from_document("issuers", p.to_document()) == p
    assert hash(Policy.from_document("issuers", p.to_document())) == hash(p)


def test_constraints_are_typed_and_unknown_ones_refused() -> None:
    assert policy("p", rule("a", "read", max_ttl="1h")) == policy(
        "p", rule("a", "read", max_ttl=3600)
    )
    for bad in ("soon", -5, 0, True, 1.5, [1]):
        with pytest.raises(InvalidRequest, match="max_ttl"):
            policy("p", rule("a", "read", max_ttl=bad))
    with pytest.raises(InvalidRequest, match="unknown constraint 'max_tll'"):
        policy("p", rule("a", "read", max_tll=60))


@pytest.mark.parametrize(
    ("doc", "error", "message"),
    [
        ({"rules": [], "owner": "x"}, InvalidRequest, "unknown policy document key(s): owner"),
        ({"rules": [rule("a", "read") | {"effect": "allow"}]}, InvalidRequest, "rules[0]: unknown"),
        (
            {"rules": [rule("a", "read"), rule("b", "wrte")]},
            InvalidRequest,
            "rules[1].capabilities[0]",
        ),
        ({"rules": [rule("a", "read", "admin")]}, InvalidRequest, "unknown capability 'admin'"),
        ({"rules": [rule("a")]}, InvalidRequest, "rules[0].capabilities must name at least one"),
        ({"rules": [{"path": "a", "capabilities": "read"}]}, InvalidRequest, "must be a list"),
        ({"rules": [{"capabilities": ["read"]}]}, InvalidRequest, "rules[0].path: required"),
        ({"rules": [rule("a", "read"), rule("a/*/b", "read")]}, InvalidPath, "rules[1].path"),
        ({"rules": [rule("../x", "read")]}, InvalidPath, "rules[0].path"),
        ({"rules": [rule("a%2fb", "read")]}, InvalidPath, "rules[0].path"),
        ({"rules": [{"path": 3, "capabilities": ["read"]}]}, InvalidPath, "rules[0].path"),
        ({"rules": "a"}, InvalidRequest, "rules must be a list"),
        ({}, InvalidRequest, "rules: required"),
        ({"rules": [], "description": "x" * 1025}, InvalidRequest, "description"),
        ({"rules": [rule("a", "read")] * 501}, InvalidRequest, "at most 500 rules"),
        (
            {"rules": [{"path": "a", "capabilities": ["read"], "constraints": []}]},
            InvalidRequest,
            "rules[0].constraints must be an object",
        ),
        (
            {"rules": [{"path": "a", "capabilities": ["read"], "constraints": {"t": 1}}]},
            InvalidRequest,
            "rules[0].constraints: unknown constraint 't'",
        ),
    ],
)
def test_from_document_refuses(doc: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        Policy.from_document("p", doc)
    assert message in str(info.value)


def test_500_rules_are_accepted() -> None:
    assert len(policy("big", *[rule(f"a/{i}", "read") for i in range(500)]).rules) == 500


@pytest.mark.parametrize("name", ["a", "web", "team-a.prod_1", "0", "a" * 128])
def test_valid_policy_names(name: str) -> None:
    assert validate_policy_name(name) == name


@pytest.mark.parametrize("name", ["", "Web", "-a", "_a", ".a", "a b", "a/b", "a" * 129, "é"])
def test_invalid_policy_names(name: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_policy_name(name)


@pytest.mark.parametrize("name", ["root", "default"])
def test_reserved_policy_names(name: str) -> None:
    with pytest.raises(InvalidRequest, match="reserved"):
        validate_policy_name(name)
    assert validate_policy_name(name, allow_reserved=True) == name
    with pytest.raises(InvalidRequest, match="reserved"):
        Policy.from_document(name, {"rules": []})


def test_rule_constructor_validates() -> None:
    with pytest.raises(InvalidPath):
        Rule("a/*/b", frozenset({C.READ}), {})
    with pytest.raises(InvalidRequest):
        Rule("a", frozenset({"nope"}), {})  # type: ignore[arg-type]
    assert Rule("a", frozenset({"read"}), {}).capabilities == {C.READ}  # type: ignore[arg-type]


# --- evaluation ------------------------------------------------------------------------------


def test_grant_with_reason_and_matched() -> None:
    web = policy("web", rule("identities/*", "read", "list"))
    d = evaluate([web], "identities/web-1", C.READ)
    assert d.allowed
    assert d.path == "identities/web-1"
    assert d.capability is C.READ
    assert [(m.policy, m.path) for m in d.matched] == [("web", "identities/*")]
    assert d.reasons == ("granted 'read' by policy 'web' rule 'identities/*'",)


def test_default_deny() -> None:
    web = policy("web", rule("identities/*", "read"))
    d = evaluate([web], "identities/a", C.CREATE)
    assert not d.allowed
    assert d.reasons == ("no policy grants 'create' on 'identities/a'",)
    assert d.constraints == {}
    nothing = evaluate([web], "pki/issue/x", C.READ)
    assert not nothing.allowed
    assert nothing.matched == ()
    assert not evaluate([], "identities/a", C.READ).allowed


def test_deny_wins_across_policies() -> None:
    grant = policy("a-grant", rule("secret/*", "read", "list", max_ttl=10))
    deny = policy("z-deny", rule("secret/prod/*", "deny"))
    for order in ([grant, deny], [deny, grant]):
        d = evaluate(order, "secret/prod/db", C.READ)
        assert not d.allowed
        assert d.reasons == ("denied by policy 'z-deny' rule 'secret/prod/*'",)
        assert d.constraints == {}
        assert {m.policy for m in d.matched} == {"a-grant", "z-deny"}
    assert evaluate([grant, deny], "secret/dev/db", C.READ).allowed


def test_deny_applies_to_every_capability_even_sudo() -> None:
    admin = policy("admin", rule("*", "create", "read", "update", "delete", "list", "sudo"))
    block = policy("block", rule("sys/+", "deny"))
    for cap in C:
        assert not evaluate([admin, block], "sys/seal", cap, require_sudo=True).allowed


def test_sudo_requirement() -> None:
    plain = policy("plain", rule("sys/rotate", "update"))
    assert evaluate([plain], "sys/rotate", C.UPDATE).allowed
    d = evaluate([plain], "sys/rotate", C.UPDATE, require_sudo=True)
    assert not d.allowed
    assert "no policy grants 'sudo' on 'sys/rotate'" in d.reasons
    sudo = policy("sudoer", rule("sys/*", "sudo"))
    d = evaluate([plain, sudo], "sys/rotate", C.UPDATE, require_sudo=True)
    assert d.allowed
    assert d.reasons == (
        "granted 'update' by policy 'plain' rule 'sys/rotate'",
        "granted 'sudo' by policy 'sudoer' rule 'sys/*'",
    )
    # sudo alone does not grant the capability itself
    assert not evaluate([sudo], "sys/rotate", C.UPDATE, require_sudo=True).allowed


def test_constraints_are_the_most_restrictive_over_every_granting_rule() -> None:
    p = policy(
        "p",
        rule("*", "read", max_ttl=7200),
        rule("pki/issue/web-*", "read", max_ttl=600),
        rule("pki/issue/web-server", "read"),
        rule("pki/issue/web-server", "list", max_ttl=60),
    )
    other = policy("other", rule("pki/*", "read", max_ttl=300))
    assert evaluate([p], "pki/issue/web-server", C.READ).constraints == {"max_ttl": 600}
    assert evaluate([p, other], "pki/issue/web-server", C.READ).constraints == {"max_ttl": 300}
    assert evaluate([p], "identities/x", C.READ).constraints == {"max_ttl": 7200}
    assert evaluate([p], "pki/issue/web-server", C.LIST).constraints == {"max_ttl": 60}
    unlimited = policy("u", rule("x/*", "read"))
    assert evaluate([unlimited], "x/1", C.READ).constraints == {}


def test_reasons_name_the_most_specific_rule_and_ties_break_by_name_then_order() -> None:
    b = policy("b", rule("x/*", "read"))
    a = policy("a", rule("x/*", "read"), rule("x/1", "read"))
    d = evaluate([b, a], "x/1", C.READ)
    assert d.reasons == ("granted 'read' by policy 'a' rule 'x/1'",)
    assert [m.policy for m in evaluate([b, a], "x/1", C.READ).matched] == ["a", "a", "b"]


def test_root_short_circuits() -> None:
    deny_all = policy("deny-all", rule("*", "deny"))
    d = evaluate([deny_all, ROOT_POLICY], "anything/at/all", C.DELETE, require_sudo=True)
    assert d.allowed
    assert [(m.policy, m.path) for m in d.matched] == [("root", "*")]
    assert d.constraints == {}
    with pytest.raises(InvalidPath):
        evaluate([ROOT_POLICY], "a/../b", C.READ)


def test_default_policy() -> None:
    assert DEFAULT_POLICY.name == "default"
    assert evaluate([DEFAULT_POLICY], "auth/token/lookup-self", C.READ).allowed
    assert evaluate([DEFAULT_POLICY], "auth/token/renew-self", C.UPDATE).allowed
    assert evaluate([DEFAULT_POLICY], "auth/token/revoke-self", C.UPDATE).allowed
    assert not evaluate([DEFAULT_POLICY], "auth/token/lookup-self", C.UPDATE).allowed
    assert not evaluate([DEFAULT_POLICY], "auth/token/lookup", C.READ).allowed


@pytest.mark.parametrize("path", ["identities/../secret", "/identities/a", "identities/%2e%2e"])
def test_evaluate_refuses_malformed_paths(path: str) -> None:
    everything = policy("all", rule("*", "read"))
    with pytest.raises(InvalidPath):
        evaluate([everything], path, C.READ)


def test_plus_does_not_match_multiple_segments() -> None:
    p = policy("p", rule("identities/+/credentials", "read"))
    assert evaluate([p], "identities/a/credentials", C.READ).allowed
    assert not evaluate([p], "identities/a/b/credentials", C.READ).allowed


def test_decisions_are_deterministic_and_cached_safely() -> None:
    p1 = policy("p", rule("a/*", "read", max_ttl=1))
    p2 = policy("p", rule("a/*", "read", max_ttl=2))
    assert evaluate([p1], "a/b", C.READ).constraints == {"max_ttl": 1}
    assert evaluate([p2], "a/b", C.READ).constraints == {"max_ttl": 2}
    assert evaluate((p1,), "a/b", C.READ) == evaluate([p1], "a/b", C.READ)


def test_many_policies_evaluate_consistently() -> None:
    """Speed is measured in bench/; here: the indexed evaluation agrees on a wide policy set."""
    policies = tuple(
        policy(
            f"team-{p}",
            *[rule(f"area{r}/team{p}/+/x*", "read") for r in range(8)],
            rule("identities/*", "read", "list", max_ttl=p + 1),
            rule(f"identities/web-{p}", "read", "update"),
        )
        for p in range(10)
    )
    for i in range(10):
        d = evaluate(policies, f"identities/web-{i}", C.UPDATE)
        assert d.allowed and d.constraints == {}
        assert evaluate(policies, f"identities/web-{i}", C.READ).constraints == {"max_ttl": 1}
    assert evaluate(policies, "area3/team3/q/xy", C.READ).allowed
    assert not evaluate(policies, "area3/team3/q/yy", C.READ).allowed
    assert not evaluate(policies, "area9/team3/q/xy", C.READ).allowed
