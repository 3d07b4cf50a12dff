"""PostgreSQL secrets engine (psycopg 3): login roles with `VALID UNTIL`, one transaction each.

Identifiers go through `psycopg.sql.Identifier` and literals through `psycopg.sql.Literal`;
privilege keywords come from a fixed table, so no caller text is ever pasted into SQL except a
rendered template (see `common` for why that is safe).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tessera.core.errors import InvalidRequest
from tessera.secrets.engines.common import (
    REVOKE_PLACEHOLDERS,
    ParsedGrant,
    Target,
    check_create,
    check_not_connection_user,
    check_password,
    check_prefix,
    check_templates,
    check_username,
    expiration_text,
    parse_grants,
    render,
    scrub,
)
from tessera.secrets.errors import EngineError, EngineUnavailable
from tessera.secrets.ports import Connection, CreateUser, RenewUser, RevokeUser, RotatePassword

_PRIVILEGES: dict[str, sql.SQL] = {
    "SELECT": sql.SQL("SELECT"),
    "INSERT": sql.SQL("INSERT"),
    "UPDATE": sql.SQL("UPDATE"),
    "DELETE": sql.SQL("DELETE"),
    "TRUNCATE": sql.SQL("TRUNCATE"),
    "REFERENCES": sql.SQL("REFERENCES"),
    "TRIGGER": sql.SQL("TRIGGER"),
    "USAGE": sql.SQL("USAGE"),
    "EXECUTE": sql.SQL("EXECUTE"),
    "CREATE": sql.SQL("CREATE"),
    "TEMPORARY": sql.SQL("TEMPORARY"),
    "CONNECT": sql.SQL("CONNECT"),
    "ALL": sql.SQL("ALL PRIVILEGES"),
}
# Connection settings that `Connection` fields own; options may not override them.
_RESERVED_OPTIONS = frozenset(
    {"host", "hostaddr", "port", "user", "password", "dbname", "connect_timeout", "passfile"}
)
# How long revoke waits for each terminated session to exit before dropping the role.
_TERMINATE_WAIT_MS = 5000


def _grant_sql(user: sql.Identifier, grant: ParsedGrant) -> list[sql.Composed]:
    if grant.target is Target.ROLE:
        return [sql.SQL("GRANT {} TO {}").format(sql.Identifier(grant.container), user)]
    privileges = sql.SQL(", ").join(_PRIVILEGES[p] for p in grant.privileges)
    schema = sql.Identifier(grant.container)
    # Without USAGE on the schema no privilege on its tables can be used.
    usage = sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, user)
    if grant.target is Target.ALL_TABLES:
        on = sql.SQL("ALL TABLES IN SCHEMA {}").format(schema)
    else:
        on = sql.SQL("TABLE {}").format(sql.Identifier(grant.container, grant.table))
    return [usage, sql.SQL("GRANT {} ON {} TO {}").format(privileges, on, user)]


def _template(statement: str) -> sql.SQL:
    # Rendered from a checked template and values of a closed alphabet (see `common`).
    return sql.SQL(statement)


class PostgresEngine:
    """Creates, renews, rotates and drops PostgreSQL login roles.

    The connection's user needs `CREATEROLE` and grant rights on what roles receive; revoking
    makes it a member of the dropped role first, which `REASSIGN OWNED` and `DROP OWNED` need."""

    plugin = "postgresql"

    @contextmanager
    def _session(
        self, conn: Connection, secrets: Iterable[str] = ()
    ) -> Iterator[psycopg.Connection]:
        hidden = [conn.password, *secrets]
        clash = _RESERVED_OPTIONS & set(conn.options)
        if clash:
            raise InvalidRequest(f"connection options may not set {', '.join(sorted(clash))}")
        where = f"{conn.host}:{conn.port}"
        try:
            db = psycopg.connect(
                make_conninfo("", **conn.options),
                host=conn.host,
                port=conn.port,
                user=conn.username,
                password=conn.password,
                dbname=conn.database,
                # libpq takes whole seconds and treats anything under 2 as 2.
                connect_timeout=max(2, math.ceil(conn.connect_timeout)),
                autocommit=True,
            )
        except psycopg.Error as exc:
            raise EngineUnavailable(
                f"cannot connect to PostgreSQL at {where} as {conn.username}: "
                + scrub(str(exc), hidden)
            ) from None
        try:
            yield db
        except psycopg.Error as exc:
            if db.broken:
                raise EngineUnavailable(
                    f"lost the connection to PostgreSQL at {where}: " + scrub(str(exc), hidden)
                ) from None
            raise EngineError(f"PostgreSQL at {where}: " + scrub(str(exc), hidden)) from None
        finally:
            db.close()

    def verify(self, conn: Connection) -> None:
        """Connect and run `SELECT 1`."""
        with self._session(conn) as db:
            db.execute("SELECT 1")

    def create_user(self, conn: Connection, req: CreateUser) -> None:
        """Create the role and its grants in one transaction: a failed grant leaves no role."""
        values = check_create(req)
        name, password = values["name"], values["password"]
        queries: list[sql.SQL | sql.Composed]
        if req.statements:
            queries = [_template(s) for s in render(req.statements, values)]
        else:
            user = sql.Identifier(name)
            queries = [
                sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {} VALID UNTIL {}").format(
                    user, sql.Literal(password), sql.Literal(values["expiration"])
                )
            ]
            for grant in parse_grants(req.grants):
                queries.extend(_grant_sql(user, grant))
        with self._session(conn, [password]) as db, db.transaction():
            if not req.statements:  # custom templates are their writer's to serialise
                _serialise_acl_changes(db)
            for query in queries:
                db.execute(query)

    def renew_user(self, conn: Connection, req: RenewUser) -> None:
        """Move the role's `VALID UNTIL` to `expires_at`."""
        name = check_username(req.username)
        expiration = expiration_text(req.expires_at)
        with self._session(conn) as db:
            db.execute(
                sql.SQL("ALTER ROLE {} VALID UNTIL {}").format(
                    sql.Identifier(name), sql.Literal(expiration)
                )
            )

    def revoke_user(self, conn: Connection, req: RevokeUser) -> None:
        """Forbid new logins, end the role's sessions, then drop it (or run `statements`).

        A role that does not exist is already revoked."""
        name = check_username(req.username)
        check_templates(req.statements, REVOKE_PLACEHOLDERS)
        check_not_connection_user(name, conn.username)
        custom = [_template(s) for s in render(req.statements, {"name": name})]
        user = sql.Identifier(name)
        with self._session(conn) as db:
            if not self._exists(db, name):
                return
            with db.transaction():
                db.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(user))
                db.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(user))
            db.execute(
                "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity"
                " WHERE usename = %s AND pid <> pg_backend_pid()",
                (_TERMINATE_WAIT_MS, name),
            )
            with db.transaction():
                if not custom:
                    _serialise_acl_changes(db)
                if custom:
                    for query in custom:
                        db.execute(query)
                else:
                    db.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(user))
                    db.execute(sql.SQL("DROP OWNED BY {}").format(user))
                    db.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(user))

    def rotate_password(self, conn: Connection, req: RotatePassword) -> None:
        """Set a new password; works on the connection's own user (root rotation)."""
        name = check_username(req.username)
        password = check_password(req.new_password)
        with self._session(conn, [password]) as db:
            db.execute(
                sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )

    def user_exists(self, conn: Connection, username: str) -> bool:
        """Whether a role of that name exists."""
        name = check_username(username)
        with self._session(conn) as db:
            return self._exists(db, name)

    def list_users(self, conn: Connection, prefix: str) -> list[str]:
        """Role names starting with `prefix`, compared literally (no LIKE), sorted."""
        check_prefix(prefix)
        with self._session(conn) as db:
            rows = db.execute(
                "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY rolname",
                (prefix,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    @staticmethod
    def _exists(db: psycopg.Connection, name: str) -> bool:
        row = db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        return row is not None


# Concurrent GRANTs on (or DROP OWNED of) the same table rewrite the same catalog row and the
# loser fails with "tuple concurrently updated": Tessera's ACL changes take turns per database.
_ACL_LOCK = int.from_bytes(b"tessera\x00", "big")


def _serialise_acl_changes(db: psycopg.Connection) -> None:
    db.execute("SELECT pg_advisory_xact_lock(%s)", (_ACL_LOCK,))
