"""Posture over real HTTP and the real CLI: findings raised from credentials made through the
services (PKI issuance, a discovery upload), policy checks, acknowledge, the report as JSON and
as a self-contained HTML page (hostile names escaped), the configuration, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.pki_helpers import create_ca, issue, ok, problem, put_profile

EVIL = "<script>alert(1)</script>"
EVIL_IDENTITY = "x<script>alert(2)<"
F = "/v1/posture/findings"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("posture") / "d", "--dev")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(srv: ServerProcess) -> Iterator[httpx.Client]:
    with srv.client(dev_root_token(srv)) as c:
        yield c


@pytest.fixture(scope="module")
def estate(root: httpx.Client) -> dict[str, Any]:
    """Two wildcard certificates of an identity with a hostile name, one without owner,
    and an unencrypted RSA-1024 key reported by a file scan under a hostile name."""
    body = {"name": EVIL_IDENTITY, "owner": "team-web", "environment": "prod"}
    ok(root.post("/v1/identities", json=body), 201)
    create_ca(root, "posture-root")
    put_profile(root, "posture-web", "posture-root", allow_wildcard_certificates=True)
    wildcard = issue(root, "posture-web", common_name="*.example.test",
                     alt_names=["*.example.test"], identity=EVIL_IDENTITY)  # fmt: skip
    issue(root, "posture-web", common_name="*.example.test", identity=EVIL_IDENTITY)  # a 2nd
    orphan = issue(root, "posture-web", common_name="api.example.test")
    scan = ok(root.post("/v1/discovery/scans", json={"kind": "files", "scope": []}), 201)
    key = {"kind": "private_key", "fingerprint": "ab" * 32, "name": EVIL,
           "locations": [{"kind": "file", "location": "/srv/app/key.pem"}],
           "attributes": {"key_type": "rsa", "key_size": 1024, "unencrypted": True,
                          "unencrypted_locations": ["/srv/app/key.pem"]}}  # fmt: skip
    ok(root.post(f"/v1/discovery/scans/{scan['id']}/results", json={"credentials": [key]}))
    ok(root.post(f"/v1/discovery/scans/{scan['id']}/complete"))
    evaluated = ok(root.post("/v1/posture/evaluate"))
    assert evaluated["opened"] >= 4
    return {"wildcard": wildcard["certificate"]["credential_id"],
            "orphan": orphan["certificate"]["credential_id"]}  # fmt: skip


def _rules(root: httpx.Client, **params: Any) -> dict[str, dict[str, Any]]:
    page = ok(root.get(F, params={"limit": 1000, **params}))
    return {f"{f['rule_id']}:{f['subject_key']}": f for f in page["items"]}


def test_findings_from_real_credentials(root: httpx.Client, estate: dict[str, Any]) -> None:
    found = _rules(root, status="open")
    assert f"wildcard:{estate['wildcard']}" in found
    assert f"orphaned:{estate['orphan']}" in found
    assert f"orphaned:{estate['wildcard']}" not in found  # owned through its identity
    weak = [f for f in found.values() if f["rule_id"] == "weak-key"]
    assert len(weak) == 1 and weak[0]["severity"] == "high"
    assert "12.3.3" in weak[0]["compliance"]["pci_dss"] and weak[0]["remediation"]
    only = ok(root.get(F, params={"rule": "unencrypted-private-key"}))["items"]
    assert [f["rule_id"] for f in only] == ["unencrypted-private-key"]
    shown = ok(root.get(f"{F}/{only[0]['id']}"))
    assert shown["details"]["locations"] == ["/srv/app/key.pem"]


def test_acknowledge(root: httpx.Client, estate: dict[str, Any]) -> None:
    fid = _rules(root)[f"wildcard:{estate['wildcard']}"]["id"]
    acked = ok(root.post(f"{F}/{fid}/acknowledge",
                         json={"reason": "edge proxies only", "duration": "30d"}))  # fmt: skip
    assert acked["status"] == "acknowledged" and acked["ack_reason"] == "edge proxies only"
    assert acked["ack_until"] and acked["ack_by"]
    assert fid not in {f["id"] for f in ok(root.get(F, params={"status": "open"}))["items"]}
    problem(root.post(f"{F}/{fid}/acknowledge", json={"reason": "x"}), 400, "invalid-request")
    both = {"reason": "x", "duration": "1d", "until": "2099-01-01T00:00:00Z"}
    problem(root.post(f"{F}/{fid}/acknowledge", json=both), 400, "invalid-request")
    problem(root.post(f"{F}/{fid}/acknowledge", json={"reason": "x", "duration": "900d"}), 400,
            "invalid-request")  # fmt: skip
    problem(root.post(f"{F}/{'Z' * 26}/acknowledge", json={"reason": "x", "duration": "1d"}),
            404, "not-found")  # fmt: skip


def test_bad_filters(root: httpx.Client) -> None:
    for params in ({"status": "nope"}, {"severity": "urgent"}, {"rule": "x"},
                   {"cursor": "***"}, {"limit": 0}, {"credential_id": "a'b"}):  # fmt: skip
        r = root.get(F, params=params)
        assert r.status_code in (400, 422) and "Traceback" not in r.text, (params, r.text)
    problem(root.get("/v1/posture/report", params={"format": "pdf"}), 400, "invalid-request")


def test_report_json_and_html(root: httpx.Client, estate: dict[str, Any]) -> None:
    doc = ok(root.get("/v1/posture/report"))
    assert doc["schema"] == "tessera.posture.report/v1"
    assert doc["by_severity"]["high"] >= 2 and doc["totals"]["acknowledged"] >= 0
    assert len(doc["expiries"]["months"]) == 12
    assert EVIL in {f["credential_name"] for f in doc["findings"]}
    r = root.get("/v1/posture/report", params={"format": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    tags: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append(tag)

    Tags().feed(r.text)
    assert tags.count("svg") == 2 and "script" not in tags
    assert EVIL not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "x&lt;script&gt;alert(2)&lt;" in r.text  # the identity, among the riskiest


def test_risk_scores(root: httpx.Client, estate: dict[str, Any]) -> None:
    risk = ok(root.get("/v1/posture/risk", params={"credential_id": estate["orphan"]}))
    assert risk == {"score": 3.0, "open_findings": 1}
    problem(root.get("/v1/posture/risk"), 400, "invalid-request")


def test_config_round_trip(root: httpx.Client) -> None:
    default = ok(root.get("/v1/posture/config"))
    assert default["environments"]["dev"]["disabled_rules"] == ["self-signed"]
    doc = {"defaults": {"thresholds": {"expiring_days": 45}},
           "environments": {"prod": {"disabled_rules": ["wildcard"]}}}  # fmt: skip
    saved = ok(root.put("/v1/posture/config", json=doc))
    assert saved["defaults"]["thresholds"]["expiring_days"] == 45
    bad = {"defaults": {"thresholds": {"expiring_days": 5, "expiring_high_days": 9}}}
    problem(root.put("/v1/posture/config", json=bad), 400, "invalid-request")
    unknown = {"environments": {"prod": {"disabled_rules": ["nope"]}}}
    problem(root.put("/v1/posture/config", json=unknown), 400, "invalid-request")
    ok(root.put("/v1/posture/config", json=default))


def _token(root: httpx.Client, name: str, rules: list[dict[str, Any]]) -> str:
    ok(root.put(f"/v1/sys/policies/{name}", json={"rules": rules}))
    made = ok(root.post("/v1/auth/token/create", json={"policies": [name]}))
    return str(made["token"])


def test_policy_checks(srv: ServerProcess, root: httpx.Client, estate: dict[str, Any]) -> None:
    fid = _rules(root)[f"orphaned:{estate['orphan']}"]["id"]
    outsider = _token(root, "no-posture", [{"path": "identities", "capabilities": ["list"]}])
    reader = _token(root, "posture-reader", [
        {"path": "posture/findings", "capabilities": ["list"]},
        {"path": "posture/findings/*", "capabilities": ["read"]},
        {"path": "posture/report", "capabilities": ["read"]},
    ])  # fmt: skip
    with srv.client(outsider) as c:
        problem(c.get(F), 403, "permission-denied")
        problem(c.get("/v1/posture/report", params={"format": "html"}), 403, "permission-denied")
        problem(c.post("/v1/posture/evaluate"), 403, "permission-denied")
        problem(c.get("/v1/posture/config"), 403, "permission-denied")
    with srv.client(reader) as c:
        ok(c.get(F))
        ok(c.get(f"{F}/{fid}"))
        ok(c.get("/v1/posture/report"))
        ack = {"reason": "x", "duration": "1d"}
        problem(c.post(f"{F}/{fid}/acknowledge", json=ack), 403, "permission-denied")
        problem(c.put("/v1/posture/config", json={}), 403, "permission-denied")
    with srv.client() as c:
        assert c.get(F).status_code == 401


def _cli(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TESSERA_ADDR": srv.addr, "TESSERA_TOKEN": dev_root_token(srv)}
    return subprocess.run([sys.executable, "-m", "tessera", "posture", *args], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_cli(srv: ServerProcess, estate: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "posture.html"
    done = _cli(srv, "report", "--format", "html", "-o", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert page.count("<svg") == 2 and EVIL not in page
    as_json = _cli(srv, "report", "--format", "json")
    assert json.loads(as_json.stdout)["schema"] == "tessera.posture.report/v1"
    table = _cli(srv, "report")
    assert table.returncode == 0 and "weak-key" in table.stdout
    listed = _cli(srv, "findings", "list", "--rule", "orphaned", "--output", "json")
    items = json.loads(listed.stdout)["items"]
    assert items and all(i["rule_id"] == "orphaned" for i in items)
    acked = _cli(srv, "findings", "ack", items[0]["id"], "--reason", "tracked", "--for", "7d")
    assert acked.returncode == 0, acked.stderr
    bad = _cli(srv, "findings", "ack", items[0]["id"], "--reason", "x")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert _cli(srv, "evaluate").returncode == 0
    got = _cli(srv, "config", "get")
    assert json.loads(got.stdout)["environments"]["dev"]["disabled_rules"] == ["self-signed"]
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"defaults": {"thresholds": {"stale_days": 0}}}')
    refused = _cli(srv, "config", "set", str(cfg))
    assert refused.returncode != 0 and "stale_days" in refused.stderr + refused.stdout
