"""Shared set-up for the posture tests (no tests here): a container on a fake clock, the posture
service wired as the server wires it, and inventory rows inserted directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from tessera.app import Container
from tessera.auth.models import Principal
from tessera.core.clock import FakeClock
from tessera.core.ids import new_ulid
from tessera.posture import PostureService, build_posture
from tessera.storage.models import CredentialRow, IdentityRow
from tessera.storage.models_lifecycle import FindingRow
from tests.helpers import make_container, root_principal


@dataclass
class PostureEnv:
    c: Container
    clock: FakeClock
    root: Principal
    posture: PostureService

    def identity(self, name: str, environment: str = "prod", owner: str = "team-a",
                 status: str = "active") -> str:  # fmt: skip
        now = self.clock.now()
        ident = new_ulid(self.clock, self.c.rng)
        with self.c.db.session(write=True) as s:
            s.add(
                IdentityRow(
                    id=ident,
                    name=name,
                    kind="workload",
                    owner=owner,
                    environment=environment,
                    labels={},
                    spiffe_id=None,
                    status=status,
                    created_at=now,
                    updated_at=now,
                    decommissioned_at=now if status == "decommissioned" else None,
                )
            )
        return ident

    def credential(self, **fields: Any) -> str:
        """An inventory row: an owned, active, discovered RSA-2048 certificate valid 200
        days (issued 10 days ago) unless `fields` say otherwise."""
        now = self.clock.now()
        row = credential_row(now, new_ulid(self.clock, self.c.rng), **fields)
        with self.c.db.session(write=True) as s:
            s.execute(insert(CredentialRow), [row])
        return str(row["id"])

    def update(self, credential_id: str, **fields: Any) -> None:
        with self.c.db.session(write=True) as s:
            row = s.get(CredentialRow, credential_id)
            assert row is not None
            for key, value in fields.items():
                setattr(row, key, value)

    def findings(self, credential_id: str | None = None) -> dict[str, FindingRow]:
        """rule id → finding row (any status) of one credential, or of all."""
        with self.c.db.session() as s:
            stmt = select(FindingRow)
            if credential_id is not None:
                stmt = stmt.where(FindingRow.credential_id == credential_id)
            return {f"{r.rule_id}" if credential_id else f"{r.rule_id}:{r.subject_key}": r
                    for r in s.scalars(stmt)}  # fmt: skip

    def open_rules(self, credential_id: str) -> set[str]:
        return {k for k, r in self.findings(credential_id).items() if r.status != "resolved"}


def credential_row(now: datetime, ident: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": ident, "kind": "x509_certificate", "fingerprint": f"fp-{ident}",
        "name": f"host-{ident[-6:].lower()}.example.com", "identity_id": None,
        "owner": "team-a", "source": "discovered", "status": "active",
        "issued_at": now - timedelta(days=10), "not_after": now + timedelta(days=190),
        "last_used_at": None, "last_rotated_at": None,
        "attributes": {"sans": ["DNS:host.example.com"], "self_signed": False,
                       "is_ca": False},
        "created_at": now - timedelta(days=10), "updated_at": now, "key_type": "rsa",
        "key_bits": 2048, "signature_algorithm": "sha256withrsaencryption",
    }  # fmt: skip
    row.update(fields)
    return row


def make_posture_env(
    tmp_path: Path, clock: FakeClock | None = None, database_url: str | None = None
) -> PostureEnv:
    clock = clock or FakeClock()
    c, _shares, token = make_container(tmp_path, database_url=database_url, clock=clock)
    posture = build_posture(c.db, clock, c.rng, c.policies, "test-node")
    return PostureEnv(c, clock, root_principal(c, token), posture)
