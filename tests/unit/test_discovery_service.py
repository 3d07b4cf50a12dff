"""Scan jobs in the service: what a completed scan may mark gone (its own kinds, under its
scope at a boundary), who may give a scope, and reserved attributes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tessera.auth.models import CreateTokenRequest
from tessera.core.clock import FakeClock
from tessera.core.errors import PermissionDenied
from tessera.discovery.models import DiscoveredCredential, Location
from tessera.discovery.service import ScanKind
from tessera.inventory.models import CredentialKind, LocationKind
from tessera.storage.models import CredentialRow
from tests.helpers import make_container, root_principal

X509 = CredentialKind.X509_CERTIFICATE
FILE = LocationKind.FILE


def _cert(fp: str, where: str) -> DiscoveredCredential:
    return DiscoveredCredential(X509, fp * 64, "c", [Location(FILE, where)])


def test_gone_marking_respects_kind_scope_boundaries_and_sudo(tmp_path: Path) -> None:
    clock = FakeClock()
    c, _, token = make_container(tmp_path, clock=clock)
    try:
        root = root_principal(c, token)
        d = c.discovery
        s1 = d.start(root, ScanKind.FILES, ["/srv/app", "/srv/app2"])
        d.add_results(root, s1.id, [_cert("a", "/srv/app/tls.pem"),
                                    _cert("b", "/srv/app2/tls.pem")])  # fmt: skip
        d.complete(root, s1.id)
        clock.advance(timedelta(minutes=1))
        # a secrets scan never reports certificates: it removes nothing of theirs
        s2 = d.start(root, ScanKind.SECRETS, ["/srv/app"])
        assert d.complete(root, s2.id).missing == 0
        # "/srv/app" does not cover "/srv/app2"
        s3 = d.start(root, ScanKind.FILES, ["/srv/app"])
        assert d.complete(root, s3.id).missing == 1
        # uploads cannot set the attributes discovery keeps for itself
        s4 = d.start(root, ScanKind.FILES, [])
        planted = _cert("e", "/srv/other/tls.pem")
        planted.attributes = {"missing_since": "x", "gone_locations": [], "subject": "CN=e"}
        d.add_results(root, s4.id, [planted])
        with c.db.session() as s:
            row = s.scalar(select(CredentialRow).where(CredentialRow.fingerprint == "e" * 64))
            assert row is not None
            assert "missing_since" not in row.attributes and "gone_locations" not in row.attributes
            assert row.attributes["subject"] == "CN=e"
        # a scope needs sudo: a plain scanner token may upload, not erase
        rule = {"path": "discovery/scans/*", "capabilities": ["create", "update", "read"]}
        c.policies.write(root, "scanner", {"rules": [rule]})
        weak = c.tokens.authenticate(
            c.tokens.create(root, CreateTokenRequest(policies=("scanner",))).token
        )
        d.start(weak, ScanKind.FILES, [])
        with pytest.raises(PermissionDenied):
            d.start(weak, ScanKind.FILES, ["/"])
    finally:
        c.close()
