"""The inventory over real HTTP and the real CLI: filters on certificates issued by the server,
search, keyset paging with opaque cursors, show with locations, set-owner, CSV and JSON export
(streamed, fixed header, no secret material, formula-safe), policy filtering and bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.pki_helpers import create_ca, issue, ok, problem, put_profile

CREDS = "/v1/inventory/credentials"
HEADER = (
    "id,kind,name,fingerprint,status,source,owner,identity,environment,not_after,key_type,"
    "key_bits,signature_algorithm,locations,first_seen_at,last_seen_at"
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("inv") / "d", "--dev")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def estate(srv: ServerProcess) -> dict[str, Any]:
    """Two identities (prod and dev) and five certificates of three key families."""
    with srv.client(dev_root_token(srv)) as c:
        for name, env, labels in (("inv-web", "prod", {"team": "web"}), ("inv-db", "dev", {})):
            body = {"name": name, "owner": f"team-{name}", "environment": env, "labels": labels}
            ok(c.post("/v1/identities", json=body), 201)
        create_ca(c, "inv-root")
        put_profile(c, "inv-web", "inv-root")
        made: dict[str, Any] = {}
        for label, names, key, ident, ttl in (
            ("rsa", ["WWW.Example.test"], "rsa-2048", "inv-web", "10d"),
            ("ec", ["api.example.test", "api2.example.test"], "ec-p256", "inv-web", "40d"),
            ("ed", ["edge.example.test"], "ed25519", "inv-db", "20d"),
            ("ec2", ["db.example.test"], "ec-p384", "inv-db", "5d"),
            ("rsa2", ["www2.example.test"], "rsa-3072", None, "60d"),
        ):
            fields = {"common_name": names[0], "alt_names": names, "key_type": key, "ttl": ttl}
            if ident:
                fields["identity"] = ident
            out = issue(c, "inv-web", **fields)
            made[label] = out["certificate"]["credential_id"]
        made["token"] = ok(c.post("/v1/auth/token/create", json={"display_name": "inv-t"}))
    return made


@pytest.fixture
def root(srv: ServerProcess) -> Iterator[httpx.Client]:
    with srv.client(dev_root_token(srv)) as c:
        yield c


def found(c: httpx.Client, **params: Any) -> list[str]:
    """Ids of every credential the query finds, following cursors (3 per page)."""
    out: list[str] = []
    params = {"limit": 3, "kind": "x509_certificate", **params}
    while True:
        page = ok(c.get(CREDS, params=params))
        out += [x["id"] for x in page["items"]]
        if page["next_cursor"] is None:
            return out
        params["cursor"] = page["next_cursor"]


def test_filters_search_and_sort(root: httpx.Client, estate: dict[str, Any]) -> None:
    e = estate
    assert set(found(root, key_type="rsa")) == {e["rsa"], e["rsa2"]}
    assert set(found(root, key_type="ec", environment="dev")) == {e["ec2"]}
    assert set(found(root, key_type="ec", key_bits=384)) == {e["ec2"]}
    assert set(found(root, key_type="ed25519")) == {e["ed"]}
    mine = {e[k] for k in ("rsa", "ec", "ed", "ec2", "rsa2")}
    # the CA signs with ECDSA: one algorithm, however it is spelled
    assert mine <= set(found(root, signature_algorithm="ecdsa_with_SHA256"))
    assert mine <= set(found(root, signature_algorithm="1.2.840.10045.4.3.2"))
    assert not mine & set(found(root, signature_algorithm="sha256WithRSAEncryption"))
    assert set(found(root, environment="prod")) == {e["rsa"], e["ec"]}
    assert set(found(root, label="team=web", identity="inv-web")) == {e["rsa"], e["ec"]}
    assert set(found(root, expiring_within="15d")) == {e["rsa"], e["ec2"]}
    assert set(found(root, q="www.example.test", match="exact")) == {e["rsa"]}  # any case
    assert set(found(root, q="API2.")) == {e["ec"]}  # a second SAN, by prefix
    assert set(found(root, q="api", key_type="rsa")) == set()
    by_expiry = found(root, sort="expiry")
    assert [i for i in by_expiry if i in mine] == [e["ec2"], e["rsa"], e["ed"], e["ec"], e["rsa2"]]


def test_show_has_key_facts_and_locations(root: httpx.Client, estate: dict[str, Any]) -> None:
    cred = ok(root.get(f"{CREDS}/{estate['ec']}"))
    assert (cred["key_type"], cred["key_bits"]) == ("ec", 256)
    assert cred["signature_algorithm"] == "ecdsa-with-sha256"
    (loc,) = cred["locations"]
    assert loc["kind"] == "issued" and loc["first_seen_at"] == loc["last_seen_at"]


def test_set_owner(srv: ServerProcess, root: httpx.Client, estate: dict[str, Any]) -> None:
    target = estate["rsa2"]
    assert ok(root.patch(f"{CREDS}/{target}", json={"owner": "team-found"}))["owner"] == (
        "team-found"
    )
    assert found(root, owner="team-found") == [target]
    problem(root.patch(f"{CREDS}/{target}", json={"owner": " "}), 400, "invalid-request")
    problem(
        root.patch(f"{CREDS}/{target}", json={"owner": "x", "kind": "y"}), 400, "invalid-request"
    )
    problem(root.patch(f"{CREDS}/01NOPE", json={"owner": "x"}), 404, "not-found")
    reader = _token(root, [{"path": "inventory/credentials/*", "capabilities": ["read"]}])
    with srv.client(reader) as c:
        problem(c.patch(f"{CREDS}/{target}", json={"owner": "me"}), 403, "permission-denied")
    assert ok(root.get(f"{CREDS}/{target}"))["owner"] == "team-found"


def test_export_csv_and_json(root: httpx.Client, estate: dict[str, Any]) -> None:
    root.patch(f"{CREDS}/{estate['ed']}", json={"owner": "=HYPERLINK(1)"}).raise_for_status()
    r = root.get("/v1/inventory/export", params={"format": "csv", "kind": "x509_certificate"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0] == HEADER
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    listed = found(root)
    assert sorted(rows) == sorted(listed)
    ed = rows[estate["ed"]]
    assert ed["owner"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert (ed["identity"], ed["environment"], ed["key_type"], ed["locations"]) == (
        "inv-db", "dev", "ed25519", "1",
    )  # fmt: skip
    assert ed["first_seen_at"].endswith("Z") and ed["not_after"].endswith("Z")
    r = root.get("/v1/inventory/export", params={"format": "json", "environment": "prod"})
    doc = r.json()
    assert {x["id"] for x in doc} == {estate["rsa"], estate["ec"]}
    assert all(list(x) == HEADER.split(",") for x in doc)
    assert doc[0]["key_bits"] in (256, 2048)
    # a token's secret is never in an export, whatever the filter
    token = estate["token"]["token"]
    everything = root.get("/v1/inventory/export", params={"format": "json"})
    assert token not in everything.text and len(everything.json()) >= 6


def test_listing_and_export_show_only_readable(
    srv: ServerProcess, root: httpx.Client, estate: dict[str, Any]
) -> None:
    rules = [
        {"path": "inventory/credentials", "capabilities": ["list"]},
        {"path": f"inventory/credentials/{estate['ec']}", "capabilities": ["read"]},
    ]
    with srv.client(_token(root, rules)) as c:
        assert found(c) == [estate["ec"]]
        assert [x["id"] for x in c.get("/v1/inventory/export?format=json").json()] == [estate["ec"]]
    with srv.client(_token(root, rules[1:])) as c:
        problem(c.get(CREDS), 403, "permission-denied")
        problem(c.get("/v1/inventory/export"), 403, "permission-denied")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "x509"}, "kind"),
        ({"source": "found"}, "source"),
        ({"status": "gone"}, "status"),
        ({"sort": "name"}, "sort"),
        ({"match": "fuzzy"}, "match"),
        ({"key_type": "rsa4096"}, "key_type"),
        ({"key_bits": "many"}, "key_bits"),
        ({"signature_algorithm": "md4"}, "signature_algorithm"),
        ({"expiring_within": "soon"}, "expiring_within"),
        ({"label": "novalue"}, "label"),
        ({"q": "x" * 256}, "q"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "QUJD", "sort": "expiry"}, "cursor"),
        ({"kinds": "x509_certificate"}, "kinds"),
        ({"format": "csv"}, "format"),  # only on export
    ],
)
def test_bad_input_is_400_naming_the_field(
    root: httpx.Client, params: dict[str, Any], field: str
) -> None:
    body = problem(root.get(CREDS, params=params), 400, "invalid-request")
    assert field in body["detail"], body


def test_bad_export_input(root: httpx.Client) -> None:
    for params, field in (({"format": "xml"}, "format"), ({"limit": "5"}, "limit")):
        body = problem(root.get("/v1/inventory/export", params=params), 400, "invalid-request")
        assert field in body["detail"]


def test_cli_list_show_set_owner_export(
    srv: ServerProcess, estate: dict[str, Any], tmp_path: Path
) -> None:
    def tessera(*args: str) -> str:
        env = {**os.environ, "TESSERA_ADDR": srv.addr, "TESSERA_TOKEN": dev_root_token(srv)}
        done = subprocess.run(
            [sys.executable, "-m", "tessera", *args], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    page = json.loads(tessera("inventory", "list", "--q", "edge.", "--output", "json"))
    assert [x["id"] for x in page["items"]] == [estate["ed"]]
    shown = tessera("inventory", "show", estate["ed"])
    assert "first_seen_at" in shown and "issued" in shown and "ed25519" in shown
    tessera("inventory", "set-owner", estate["ec2"], "team-cli")
    out = tmp_path / "inv.csv"
    tessera("inventory", "export", "--format", "csv", "-o", str(out), "--owner", "team-cli")
    lines = out.read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == 2 and lines[1].startswith(estate["ec2"])
    env = {**os.environ, "TESSERA_ADDR": srv.addr, "TESSERA_TOKEN": dev_root_token(srv)}
    bad = subprocess.run(
        [sys.executable, "-m", "tessera", "inventory", "export", "-o", str(tmp_path / "x.csv"),
         "--kind", "nope"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert bad.returncode == 1 and "kind must be one of" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "x.csv").exists()


def _token(c: httpx.Client, rules: list[dict[str, Any]]) -> str:
    name = f"inv-{abs(hash(json.dumps(rules))) % 10**8}"
    ok(c.put(f"/v1/sys/policies/{name}", json={"rules": rules}))
    created = ok(c.post("/v1/auth/token/create", json={"policies": [name]}))
    return str(created["token"])
