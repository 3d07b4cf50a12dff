"""inventory queries: key facts as columns, (filter, id) indexes, credential names, identity labels

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Written by hand. The backfill below is a frozen copy of the rules at the time of writing (the
application's own rules may change later; a migration must keep doing what it did).
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SINGLE = ("identity_id", "kind", "owner", "source", "status")
_COMPOSITE = {
    "ix_credentials_kind_id": ["kind", "id"],
    "ix_credentials_kind_not_after_id": ["kind", "not_after", "id"],
    "ix_credentials_identity_id_id": ["identity_id", "id"],
    "ix_credentials_owner_id": ["owner", "id"],
    "ix_credentials_source_id": ["source", "id"],
    "ix_credentials_status_id": ["status", "id"],
    "ix_credentials_status_not_after_id": ["status", "not_after", "id"],
    "ix_credentials_key_type_key_bits_id": ["key_type", "key_bits", "id"],
    "ix_credentials_signature_algorithm_id": ["signature_algorithm", "id"],
}
_SEARCH_TEXT = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")


def upgrade() -> None:
    op.add_column("credentials", sa.Column("key_type", sa.String(length=32), nullable=True))
    op.add_column("credentials", sa.Column("key_bits", sa.Integer(), nullable=True))
    op.add_column(
        "credentials", sa.Column("signature_algorithm", sa.String(length=64), nullable=True)
    )
    for column in _SINGLE:
        op.drop_index(f"ix_credentials_{column}", table_name="credentials")
    for name, columns in _COMPOSITE.items():
        op.create_index(name, "credentials", columns, unique=False)

    op.create_table(
        "credential_names",
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("name_lower", _SEARCH_TEXT, nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credentials.id"],
            name=op.f("fk_credential_names_credential_id_credentials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("credential_id", "name_lower", name=op.f("pk_credential_names")),
    )
    op.create_index(
        "ix_credential_names_name_lower_credential_id",
        "credential_names",
        ["name_lower", "credential_id"],
        unique=False,
    )
    op.create_table(
        "identity_labels",
        sa.Column("identity_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_identity_labels_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("identity_id", "key", name=op.f("pk_identity_labels")),
    )
    op.create_index(
        "ix_identity_labels_key_value_identity_id",
        "identity_labels",
        ["key", "value", "identity_id"],
        unique=False,
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_identity_labels_key_value_identity_id", table_name="identity_labels")
    op.drop_table("identity_labels")
    op.drop_index("ix_credential_names_name_lower_credential_id", table_name="credential_names")
    op.drop_table("credential_names")
    for name in _COMPOSITE:
        op.drop_index(name, table_name="credentials")
    for column in _SINGLE:
        op.create_index(f"ix_credentials_{column}", "credentials", [column], unique=False)
    with op.batch_alter_table("credentials") as batch_op:
        batch_op.drop_column("signature_algorithm")
        batch_op.drop_column("key_bits")
        batch_op.drop_column("key_type")


# -- backfill of rows written before this revision -------------------------------------------
_CN = re.compile(r"(?:^|,)\s*CN=((?:\\.|[^,\\])*)", re.IGNORECASE)
_SAN_PREFIX = re.compile(r"^(?:DNS|IP|URI|email):", re.IGNORECASE)


def _names(name: str, fingerprint: str, attrs: dict[str, Any]) -> set[str]:
    found = {name, fingerprint}
    subject = attrs.get("subject")
    if isinstance(subject, str):
        found.add(subject)
        found.update(re.sub(r"\\(.)", r"\1", m) for m in _CN.findall(subject))
    for key in ("sans", "principals"):
        values = attrs.get(key)
        if isinstance(values, list):
            found.update(_SAN_PREFIX.sub("", v) for v in values[:100] if isinstance(v, str))
    return {n.strip().lower()[:255] for n in found if n and n.strip()}


def _key_facts(attrs: dict[str, Any]) -> dict[str, Any]:
    key_type = attrs.get("key_type") or attrs.get("ssh_key_type")
    bits = attrs.get("key_bits", attrs.get("key_size"))
    sig = attrs.get("signature_algorithm")
    return {
        "key_type": key_type.split()[0].lower()[:32] if isinstance(key_type, str) else None,
        "key_bits": bits if isinstance(bits, int) and not isinstance(bits, bool) and bits else None,
        "signature_algorithm": sig.lower().replace("_", "-")[:64] if isinstance(sig, str) else None,
    }


def _backfill(conn: sa.Connection) -> None:
    creds = sa.table(
        "credentials",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("fingerprint", sa.String),
        sa.column("attributes", sa.JSON),
        sa.column("key_type", sa.String),
        sa.column("key_bits", sa.Integer),
        sa.column("signature_algorithm", sa.String),
    )
    names = sa.table("credential_names", sa.column("credential_id"), sa.column("name_lower"))
    rows = conn.execute(
        sa.select(creds.c.id, creds.c.name, creds.c.fingerprint, creds.c.attributes)
    ).all()
    for cid, name, fingerprint, attrs in rows:
        attrs = attrs if isinstance(attrs, dict) else {}
        conn.execute(sa.update(creds).where(creds.c.id == cid).values(**_key_facts(attrs)))
        found = _names(name, fingerprint, attrs)
        if found:
            conn.execute(sa.insert(names), [{"credential_id": cid, "name_lower": n} for n in found])
    idents = sa.table("identities", sa.column("id", sa.String), sa.column("labels", sa.JSON))
    labels = sa.table(
        "identity_labels", sa.column("identity_id"), sa.column("key"), sa.column("value")
    )
    for iid, stored in conn.execute(sa.select(idents.c.id, idents.c.labels)).all():
        if isinstance(stored, dict) and stored:
            conn.execute(
                sa.insert(labels),
                [{"identity_id": iid, "key": k, "value": str(v)} for k, v in stored.items()],
            )
