"""The posture report: counts and expiry histogram from real rows, the JSON form and its
round trip, table rows, and an HTML page that parses cleanly, holds both SVG charts, loads
nothing external, runs no script and escapes hostile names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tessera.core.clock import FakeClock
from tessera.posture.models import RuleId
from tessera.posture.report import SCHEMA, Report, from_json, table_rows, to_json
from tessera.posture.report_html import render_html
from tests.unit.test_posture_helpers import PostureEnv, make_posture_env

NOW = datetime.fromisoformat("2030-01-10T00:00:00+00:00")
D = timedelta(days=1)
EVIL = "<script>alert(1)</script>"
EVIL_IDENTITY = '"><script>alert(2)<'
VOID = {"meta", "br", "img", "hr", "input", "link", "line", "rect"}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PostureEnv, Report]]:
    env = make_posture_env(tmp_path_factory.mktemp("report"), FakeClock(NOW))
    ident = env.identity(EVIL_IDENTITY)
    env.credential(name=EVIL, key_bits=1024, identity_id=ident)  # weak key: high
    env.credential(not_after=NOW - 5 * D)  # overdue: expired, critical
    env.credential(issued_at=NOW - 300 * D, not_after=NOW + 10 * D)  # January: expiring
    env.credential(not_after=NOW + 45 * D)  # February
    env.credential(not_after=NOW + 400 * D)  # beyond 12 months; valid too long
    env.credential(kind="tessera_token", not_after=NOW + 3 * D, attributes={})  # not charted
    env.credential(attributes={"sans": ["DNS:*.example.com"]})  # wildcard: low
    env.posture.engine.evaluate()
    yield env, env.posture.report(env.root)
    env.c.close()


def test_counts_and_expiries(made: tuple[PostureEnv, Report]) -> None:
    _env, r = made
    # expired: critical; weak key: high; expiring in 10 days and valid 410 days: medium
    assert r.by_severity == {"critical": 1, "high": 1, "medium": 2, "low": 1}
    assert r.open == 5 and r.acknowledged == 0
    assert r.overdue == 1
    assert r.expiries[0] == ("2030-01", 1) and r.expiries[1] == ("2030-02", 1)
    # and the two certificates valid 190 more days; not the token, nor the 400-day one
    assert len(r.expiries) == 12 and sum(n for _, n in r.expiries) == 4
    assert r.expiries[6] == ("2030-07", 2)
    assert r.top_credentials[0].risk == 10.0
    assert r.top_identities[0].name == EVIL_IDENTITY and r.top_identities[0].risk == 7.0
    assert r.last_evaluated_at == NOW


def test_json_schema_and_round_trip(made: tuple[PostureEnv, Report]) -> None:
    _env, r = made
    doc = to_json(r)
    assert doc["schema"] == SCHEMA
    assert set(doc) == {"schema", "generated_at", "last_evaluated_at", "totals", "by_severity",
                        "expiries", "rules", "top_credentials", "top_identities", "findings",
                        "findings_truncated"}  # fmt: skip
    assert list(doc["by_severity"]) == ["critical", "high", "medium", "low", "info"]
    assert {x["id"] for x in doc["rules"]} == {r.value for r in RuleId}
    for rule in doc["rules"]:
        assert rule["compliance"]["pci_dss"] and rule["compliance"]["nist_800_53"]
        assert isinstance(rule["open"], int)
    for f in doc["findings"]:
        assert set(f) >= {"id", "rule_id", "severity", "status", "risk", "title", "opened_at"}
    assert [m["month"] for m in doc["expiries"]["months"]][:2] == ["2030-01", "2030-02"]
    assert to_json(from_json(doc)) == doc


def test_table_rows(made: tuple[PostureEnv, Report]) -> None:
    _env, r = made
    rows = table_rows(r)
    assert rows[0]["severity"] == "critical"
    assert any(row["credential"] == EVIL and row["rule"] == "weak-key" for row in rows)


class _Checker(HTMLParser):
    """Checks nesting (every element closed, in order) and collects tags and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_well_formed_self_contained_and_escaped(made: tuple[PostureEnv, Report]) -> None:
    _env, r = made
    page = render_html(r)
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert checker.tags.count("svg") == 2
    assert checker.tags.count("rect") == 13 + 5  # overdue + 12 months; five severities
    assert "script" not in checker.tags and "link" not in checker.tags
    assert "img" not in checker.tags
    assert not [a for a in checker.attrs if a[0] in ("src", "href") or a[0].startswith("on")]
    text = "".join(checker.text)
    assert EVIL in text and EVIL_IDENTITY in text  # shown, as text
    assert EVIL not in page and "&lt;script&gt;" in page
    assert "PCI DSS" in text and "IA-5(7)" in text


def test_html_of_an_empty_estate(tmp_path: Path) -> None:
    env = make_posture_env(tmp_path, FakeClock(NOW))
    try:
        page = render_html(env.posture.report(env.root))
        checker = _Checker()
        checker.feed(page)
        assert checker.errors == [] and checker.tags.count("svg") == 2
        assert "never" in "".join(checker.text)  # never evaluated
    finally:
        env.c.close()
