"""What every database engine shares: value validation, grant parsing, template rendering and
scrubbing of secrets from database error texts.

Templates (`CreateUser.statements`, `RevokeUser.statements`) are written the way Vault users
write them, with their own quoting: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}'`.
The placeholders render to the raw values. That is safe only because every value is checked
against a closed alphabet right before rendering: names are `[a-z0-9_]`, passwords
`[A-Za-z0-9_-]`, the expiration is an ISO-8601 UTC timestamp; none of them can contain a quote,
a backslash, a semicolon or whitespace, so none can leave the quotes the template puts around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from tessera.core.errors import InvalidRequest
from tessera.secrets.ports import CreateUser, Grant

MAX_STATEMENTS = 20
MAX_STATEMENT_BYTES = 4096
MAX_NAME_LENGTH = 63  # PostgreSQL's identifier limit; MySQL refuses more than 32 by itself
MIN_PASSWORD_LENGTH = 32
MAX_PASSWORD_LENGTH = 128
MAX_IDENTIFIER_LENGTH = 64

_NAME = re.compile(r"[a-z0-9_]+")
_PREFIX = re.compile(r"[a-z0-9_]*")
_PASSWORD = re.compile(r"[A-Za-z0-9_-]+")
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00:00")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")

PRIVILEGES = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "TRUNCATE",
        "REFERENCES",
        "TRIGGER",
        "USAGE",
        "EXECUTE",
        "CREATE",
        "TEMPORARY",
        "CONNECT",
        "ALL",
    }
)
CREATE_PLACEHOLDERS = frozenset({"name", "password", "expiration"})
REVOKE_PLACEHOLDERS = frozenset({"name"})
ROLE_PREFIX = "role:"


def check_username(username: str) -> str:
    """Return `username` if it is 1-63 characters of `[a-z0-9_]`, else raise InvalidRequest."""
    if not (0 < len(username) <= MAX_NAME_LENGTH and _NAME.fullmatch(username)):
        raise InvalidRequest(
            f"user name must be 1-{MAX_NAME_LENGTH} characters of a-z, 0-9 and _",
            field="username",
        )
    return username


def check_not_connection_user(username: str, connection_user: str) -> None:
    """Refuse to revoke the user Tessera itself connects as: it would lock Tessera out."""
    if username == connection_user:
        raise InvalidRequest("will not revoke the user that Tessera connects as", field="username")


def check_prefix(prefix: str) -> str:
    """Return a user-name prefix if it uses the user-name alphabet (empty matches every user)."""
    if not (len(prefix) <= MAX_NAME_LENGTH and _PREFIX.fullmatch(prefix)):
        raise InvalidRequest("prefix must use only a-z, 0-9 and _", field="prefix")
    return prefix


def check_password(password: str) -> str:
    """Return `password` if 32-128 characters of `[A-Za-z0-9_-]`; errors never echo it."""
    if not (
        MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH
        and _PASSWORD.fullmatch(password)
    ):
        raise InvalidRequest(
            f"password must be {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters of "
            "A-Z, a-z, 0-9, - and _",
            field="password",
        )
    return password


def expiration_text(expires_at: datetime) -> str:
    """ISO-8601 text of a timezone-aware instant, in UTC (`2030-01-02T03:04:05+00:00`)."""
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise InvalidRequest("expires_at must be timezone-aware", field="expires_at")
    text = expires_at.astimezone(UTC).isoformat()
    if not _ISO_UTC.fullmatch(text):  # guards the template contract, whatever isoformat becomes
        raise InvalidRequest("expires_at cannot be written as an ISO-8601 timestamp")
    return text


def check_create(req: CreateUser) -> dict[str, str]:
    """Validate a create request before any SQL; return the template values, all checked.

    `statements` replace the default create and its grants, so giving both is refused."""
    if req.statements and req.grants:
        raise InvalidRequest("give either statements or grants, not both", field="statements")
    check_templates(req.statements, CREATE_PLACEHOLDERS)
    parse_grants(req.grants)
    return {
        "name": check_username(req.username),
        "password": check_password(req.password),
        "expiration": expiration_text(req.expires_at),
    }


class Target(Enum):
    """What a grant's `on` names."""

    TABLE = "table"  # schema.table (PostgreSQL) or database.table (MySQL)
    ALL_TABLES = "all_tables"  # schema.* / database.*
    ROLE = "role"  # role:<name>


@dataclass(frozen=True)
class ParsedGrant:
    """A validated grant: upper-case privileges from the allowlist and the unquoted name parts."""

    privileges: tuple[str, ...]
    target: Target
    container: str  # schema (PostgreSQL) / database (MySQL); the role name for Target.ROLE
    table: str = ""


def _check_identifier(part: str, what: str) -> str:
    if not part or len(part) > MAX_IDENTIFIER_LENGTH or _CONTROL.search(part):
        raise InvalidRequest(
            f"{what} must be 1-{MAX_IDENTIFIER_LENGTH} characters without control characters",
            field="grants",
        )
    return part


def _privileges(raw: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for item in raw:
        word = _WHITESPACE.sub(" ", item.strip()).upper()
        if word == "ALL PRIVILEGES":
            word = "ALL"
        if word not in PRIVILEGES:
            raise InvalidRequest(
                f"privilege {item[:32]!r} is not one of {', '.join(sorted(PRIVILEGES))}",
                field="grants",
            )
        if word not in out:
            out.append(word)
    return tuple(out)


def parse_grant(grant: Grant) -> ParsedGrant:
    """Validate one grant: allowlisted privileges on `a.b`, `a.*` or `role:<name>`.

    Name parts are only checked for length and control characters: engines always quote them
    as identifiers, so an odd character makes at worst a grant on an object that does not exist.
    """
    privileges = _privileges(grant.privileges)
    if grant.on.startswith(ROLE_PREFIX):
        if privileges:
            raise InvalidRequest("a role grant takes no privileges", field="grants")
        return ParsedGrant((), Target.ROLE, _check_identifier(grant.on[len(ROLE_PREFIX) :], "role"))
    if not privileges:
        raise InvalidRequest(f"grant on {grant.on[:80]!r} names no privilege", field="grants")
    container, dot, table = grant.on.partition(".")
    if not dot or "." in table:
        raise InvalidRequest(
            "grant target must be schema.table, schema.* or role:<name>", field="grants"
        )
    _check_identifier(container, "schema or database name")
    if table == "*":
        return ParsedGrant(privileges, Target.ALL_TABLES, container)
    return ParsedGrant(privileges, Target.TABLE, container, _check_identifier(table, "table name"))


def parse_grants(grants: Sequence[Grant]) -> list[ParsedGrant]:
    """Validate every grant before any SQL runs, so bad input never leaves a half-made user."""
    return [parse_grant(g) for g in grants]


def check_templates(statements: Sequence[str], allowed: frozenset[str]) -> None:
    """Refuse more than 20 templates, any over 4 KiB, and any placeholder outside `allowed`."""
    if len(statements) > MAX_STATEMENTS:
        raise InvalidRequest(f"at most {MAX_STATEMENTS} statements", field="statements")
    for statement in statements:
        if len(statement.encode()) > MAX_STATEMENT_BYTES:
            raise InvalidRequest(
                f"a statement must be at most {MAX_STATEMENT_BYTES} bytes", field="statements"
            )
        for match in _PLACEHOLDER.finditer(statement):
            if match.group(1) not in allowed:
                raise InvalidRequest(
                    f"unknown placeholder {{{{{match.group(1)[:32]}}}}}; allowed: "
                    + ", ".join("{{" + name + "}}" for name in sorted(allowed)),
                    field="statements",
                )


def render(statements: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Fill placeholders with values already validated by `check_*`; checks templates again."""
    check_templates(statements, frozenset(values))
    return [
        _PLACEHOLDER.sub(lambda m: values[m.group(1)], statement)
        for statement in statements
        if statement.strip()
    ]


def split_statements(text: str) -> list[str]:
    """Split a template on `;` outside '…', "…" and `…` quotes (MySQL runs one per call)."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quote:
            if char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
        elif char == ";":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` on one line with every secret replaced by `***` (databases echo statements)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _WHITESPACE.sub(" ", text).strip()
