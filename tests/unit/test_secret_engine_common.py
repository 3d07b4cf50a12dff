"""What the database engines share: value checks, grant parsing, templates, scrubbing, registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tessera.core.errors import InvalidRequest
from tessera.secrets.engines import PLUGINS, MySQLEngine, PostgresEngine, engine_for
from tessera.secrets.engines.common import (
    CREATE_PLACEHOLDERS,
    REVOKE_PLACEHOLDERS,
    ParsedGrant,
    Target,
    check_create,
    check_password,
    check_prefix,
    check_templates,
    check_username,
    expiration_text,
    parse_grant,
    render,
    scrub,
    split_statements,
)
from tessera.secrets.engines.mysql import quote_identifier
from tessera.secrets.ports import CreateUser, Grant

PASSWORD = "Ab3-_" + "x" * 35


@pytest.mark.parametrize("name", ["tdb_web_3f9a2c", "a", "x" * 63, "root", "tdb_0_9"])
def test_good_usernames(name: str) -> None:
    assert check_username(name) == name


@pytest.mark.parametrize(
    "name", ["", "x" * 64, "Tdb", "tdb-web", 'tdb"x', "tdb'x", "tdb x", "tdb;", "tdb\n", "tdbé"]
)
def test_bad_usernames(name: str) -> None:
    with pytest.raises(InvalidRequest):
        check_username(name)


def test_prefix_may_be_empty_but_not_a_pattern() -> None:
    assert check_prefix("") == ""
    assert check_prefix("tdb_web_") == "tdb_web_"
    for bad in ("tdb%", "tdb_\\", "TDB"):
        with pytest.raises(InvalidRequest):
            check_prefix(bad)


def test_passwords() -> None:
    assert check_password(PASSWORD) == PASSWORD
    for bad in (
        "x" * 31,
        "x" * 129,
        "x" * 39 + "'",
        "x" * 39 + " ",
        "x" * 39 + "$",
        "x" * 39 + ";",
    ):
        with pytest.raises(InvalidRequest) as caught:
            check_password(bad)
        assert bad not in str(caught.value)


def test_expiration_is_iso_utc_and_needs_a_timezone() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert (
        expiration_text(datetime(2031, 1, 2, 5, 4, 5, tzinfo=plus2)) == "2031-01-02T03:04:05+00:00"
    )
    assert expiration_text(datetime(2031, 1, 2, 3, 4, 5, 120, tzinfo=UTC)).endswith(".000120+00:00")
    with pytest.raises(InvalidRequest):
        expiration_text(datetime(2031, 1, 2, 3, 4, 5))


def test_grants_parse_case_insensitively_against_the_allowlist() -> None:
    assert parse_grant(Grant(("select", " Insert ", "SELECT"), "app.orders")) == ParsedGrant(
        ("SELECT", "INSERT"), Target.TABLE, "app", "orders"
    )
    assert parse_grant(Grant(("all privileges",), "app.*")) == ParsedGrant(
        ("ALL",), Target.ALL_TABLES, "app"
    )
    assert parse_grant(Grant((), "role:readers")) == ParsedGrant((), Target.ROLE, "readers")


def test_odd_names_stay_data_for_the_engine_to_quote() -> None:
    parsed = parse_grant(Grant(("SELECT",), 'public.t"; DROP TABLE x; --'))
    assert parsed.table == 't"; DROP TABLE x; --'


@pytest.mark.parametrize(
    "grant",
    [
        Grant(("SELECT; DROP TABLE x",), "a.b"),
        Grant(("SUPER",), "a.b"),
        Grant(("GRANT OPTION",), "a.b"),
        Grant((), "a.b"),
        Grant(("SELECT",), "nodot"),
        Grant(("SELECT",), "a.b.c"),
        Grant(("SELECT",), ".b"),
        Grant(("SELECT",), "a."),
        Grant(("SELECT",), "a.b\x00"),
        Grant(("SELECT",), "a." + "b" * 65),
        Grant(("SELECT",), "role:readers"),
        Grant((), "role:"),
    ],
)
def test_bad_grants(grant: Grant) -> None:
    with pytest.raises(InvalidRequest):
        parse_grant(grant)


def test_templates_allow_only_known_placeholders_and_bounded_size() -> None:
    check_templates(["CREATE ROLE \"{{name}}\" PASSWORD '{{password}}'"], CREATE_PLACEHOLDERS)
    for bad in (["{{unknown}}"], ["{{ name }}"], ["{{name}}{{NAME}}"]):
        with pytest.raises(InvalidRequest):
            check_templates(bad, CREATE_PLACEHOLDERS)
    with pytest.raises(InvalidRequest):
        check_templates(["DROP ROLE {{password}}"], REVOKE_PLACEHOLDERS)
    with pytest.raises(InvalidRequest):
        check_templates(["SELECT 1"] * 21, CREATE_PLACEHOLDERS)
    with pytest.raises(InvalidRequest):
        check_templates(["x" * 4097], CREATE_PLACEHOLDERS)
    check_templates(["SELECT 1"] * 20 + [], CREATE_PLACEHOLDERS)


def test_check_create_returns_checked_values_and_refuses_mixed_requests() -> None:
    when = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert check_create(CreateUser("tdb_a", PASSWORD, when)) == {
        "name": "tdb_a",
        "password": PASSWORD,
        "expiration": "2031-01-02T03:04:05+00:00",
    }
    mixed = CreateUser("tdb_a", PASSWORD, when, (Grant(("SELECT",), "a.b"),), ["SELECT 1"])
    with pytest.raises(InvalidRequest):
        check_create(mixed)


def test_render_fills_values_and_drops_blank_templates() -> None:
    out = render(
        ["CREATE ROLE \"{{name}}\" VALID UNTIL '{{expiration}}';", "  ", "GRANT r TO {{name}}"],
        {"name": "tdb_a", "password": PASSWORD, "expiration": "2031-01-02T03:04:05+00:00"},
    )
    assert out == [
        "CREATE ROLE \"tdb_a\" VALID UNTIL '2031-01-02T03:04:05+00:00';",
        "GRANT r TO tdb_a",
    ]


def test_split_statements_respects_quotes() -> None:
    text = "CREATE USER 'a;b'@'%' IDENTIFIED BY 'x\\';y'; GRANT SELECT ON `d;b`.* TO 'a'@'%';; "
    assert split_statements(text) == [
        "CREATE USER 'a;b'@'%' IDENTIFIED BY 'x\\';y'",
        "GRANT SELECT ON `d;b`.* TO 'a'@'%'",
    ]


def test_scrub_hides_every_secret_and_folds_lines() -> None:
    text = "syntax error\nLINE 1: ALTER ROLE \"x\" PASSWORD 's3cret-s3cret'\n      ^"
    out = scrub(text, ["s3cret", "s3cret-s3cret", ""])
    assert "s3cret" not in out
    assert out == "syntax error LINE 1: ALTER ROLE \"x\" PASSWORD '***' ^"


def test_mysql_identifiers_double_backticks() -> None:
    assert quote_identifier("t`; DROP TABLE x; --") == "`t``; DROP TABLE x; --`"


def test_registry() -> None:
    assert PLUGINS == ("postgresql", "mysql")
    assert isinstance(engine_for("postgresql"), PostgresEngine)
    assert isinstance(engine_for("mysql"), MySQLEngine)
    assert all(engine_for(p).plugin == p for p in PLUGINS)
    for unknown in ("mariadb", "mongodb", ""):
        with pytest.raises(InvalidRequest):
            engine_for(unknown)
