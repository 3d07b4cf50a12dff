"""Every write inside a request is audited before it commits; no sink means no change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tessera.core.context import RequestContext, current_request
from tessera.core.errors import AuditUnavailable, NotFound
from tessera.inventory.models import CreateIdentityRequest
from tests.helpers import make_container, root_principal


def test_write_is_recorded_before_commit_and_refused_without_a_sink(tmp_path: Path) -> None:
    c, _, root_token = make_container(tmp_path)
    root = root_principal(c, root_token)
    log = tmp_path / "audit.log"
    reset = current_request.set(RequestContext(request_id="req-ok"))
    try:
        c.inventory.create_identity(root, CreateIdentityRequest(name="kept", owner="o"))
    finally:
        current_request.reset(reset)
    commits = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(x["type"], x["request_id"]) for x in commits] == [("commit", "req-ok")]
    assert commits[0]["data"]["decisions"][0]["path"] == "identities/kept"

    saved = log.with_name("saved")
    shutil.move(log, saved)
    log.mkdir()  # the only sink can no longer write
    reset = current_request.set(RequestContext(request_id="req-blind"))
    try:
        with pytest.raises(AuditUnavailable):
            c.inventory.create_identity(root, CreateIdentityRequest(name="lost", owner="o"))
    finally:
        current_request.reset(reset)
        log.rmdir()
        shutil.move(saved, log)
    with pytest.raises(NotFound):
        c.inventory.get_identity(root, "lost")  # rolled back: nothing half-applied
    assert c.inventory.get_identity(root, "kept").owner == "o"
