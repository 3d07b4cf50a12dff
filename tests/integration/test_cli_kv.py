"""End to end: `tessera secrets kv …` as a subprocess against a real dev server.

Each CLI start costs about a second, so the calls run in a few concurrent waves, each wave
needing only what earlier waves did; state the CLI is not under test for (earlier versions)
is made and checked over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.integration.test_cli import Cli, Pending, failed, ok, parallel

KV = ("secrets", "kv")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("cli-kv"), "--dev")
    yield srv
    srv.stop()


def with_stdin(cli: Cli, text: str, *args: str) -> Pending:
    """`tessera ARGS` reading `text` on stdin (from a file, so it runs beside the others)."""
    source = cli.home / f"stdin-{len(list(cli.home.glob('stdin-*')))}.txt"
    source.write_text(text)
    with source.open() as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tessera", *args],
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=cli.env(), cwd=cli.home,
        )  # fmt: skip
    return Pending(args, proc)


def test_kv_commands_end_to_end(dev: ServerProcess, tmp_path: Path) -> None:
    cli = Cli(dev.addr, tmp_path, dev_root_token(dev))
    http = dev.client(dev_root_token(dev))
    for n in range(3):
        http.post("/v1/kv/data/life/db", json={"data": {"password": f"pw{n}"}}).raise_for_status()
    http.post("/v1/kv/data/bad/x", json={"data": {"k": "v"}}).raise_for_status()
    (tmp_path / "cert.pem").write_text("-----BEGIN X-----\nabc\n")
    (tmp_path / "doc.json").write_text(json.dumps({"url": "https://x", "port": 5432}))

    # wave 1: every way to give a value; metadata; delete and destroy given versions
    pairs, doc, stdin, meta, deleted, destroyed, traversal = parallel(
        cli.spawn(*KV, "put", "cli/a", "user=admin", "password=p[b]w=x", "cert=@cert.pem",
                  "--cas", "0", "-o", "json"),
        cli.spawn(*KV, "put", "cli/doc", "--file", "doc.json", "extra=1"),
        with_stdin(cli, '{"token": "t0k", "n": [1, 2]}', *KV, "put", "cli/s", "-"),
        cli.spawn(*KV, "metadata", "put", "life/db", "--max-versions", "2", "--owner", "team-db",
                  "--rotation-period", "90d", "--custom", "env=prod", "--cas-required",
                  "-o", "json"),
        cli.spawn(*KV, "delete", "life/db", "--versions", "2"),
        cli.spawn(*KV, "destroy", "life/db", "--versions", "3", "-o", "json"),
        cli.spawn(*KV, "get", "bad/../x"),
    )  # fmt: skip
    assert ok(pairs).json()["version"] == 1
    assert "Secret 'cli/doc' written: version 1." in ok(doc).out
    ok(stdin)
    got_meta = ok(meta).json()
    assert (got_meta["max_versions"], got_meta["owner"], got_meta["cas_required"]) == (
        2, "team-db", True,
    )  # fmt: skip
    assert got_meta["rotation_period"] == 90 * 86400
    assert got_meta["custom_metadata"] == {"env": "prod"}
    assert "Version 2 of 'life/db' deleted." in ok(deleted).out
    assert ok(destroyed).json() == {"path": "life/db", "destroyed": [3]}
    failed(traversal, "'..' segments", one_line=True)  # refused before anything is sent

    # wave 2: reading in every form, listing, a typed refusal, undelete
    table, as_json, field, folder, gone, meta_table, undeleted = parallel(
        cli.spawn(*KV, "get", "cli/a"),
        cli.spawn(*KV, "get", "cli/s", "--version", "1", "-o", "json"),
        cli.spawn(*KV, "get", "cli/a", "--field", "cert"),
        cli.spawn(*KV, "list", "cli/"),
        cli.spawn(*KV, "get", "life/db", "--version", "3"),
        cli.spawn(*KV, "metadata", "get", "life/db"),
        cli.spawn(*KV, "undelete", "life/db", "--versions", "2"),
    )
    assert "p[b]w=x" in ok(table).out and "admin" in table.out  # printed exactly as stored
    got = ok(as_json).json()
    assert got["data"] == {"token": "t0k", "n": [1, 2]} and got["metadata"]["version"] == 1
    assert ok(field).out == "-----BEGIN X-----\nabc\n\n"
    assert ok(folder).out.split() == ["a", "doc", "s"]
    failed(gone, "version 3 was destroyed", one_line=True)
    assert "team-db" in ok(meta_table).out and "destroyed" in meta_table.out
    assert "Version 2 of 'life/db' undeleted." in ok(undeleted).out
    assert http.get("/v1/kv/data/cli/doc").json()["data"] == {
        "url": "https://x", "port": 5432, "extra": "1",
    }  # fmt: skip

    # wave 3: the undeleted value is back; delete the latest, delete all, CLI-side refusal
    back, latest, wiped, no_data, roots = parallel(
        cli.spawn(*KV, "get", "life/db", "--version", "2", "--field", "password"),
        cli.spawn(*KV, "delete", "bad/x"),
        cli.spawn(*KV, "metadata", "delete", "cli/doc"),
        cli.spawn(*KV, "put", "bad/x"),
        cli.spawn(*KV, "list", "-o", "json"),
    )
    assert ok(back).out == "pw1\n"
    assert "The latest version of 'bad/x' deleted." in ok(latest).out
    assert "Every version and the metadata of 'cli/doc' deleted." in ok(wiped).out
    failed(no_data, "key=value pairs", one_line=True)
    assert ok(roots).json() == {"keys": ["bad/", "cli/", "life/"], "next_cursor": None}
    assert http.get("/v1/kv/data/bad/x").json()["type"].endswith("secret-deleted")
    assert http.get("/v1/kv/metadata/cli/doc").status_code == 404
    http.close()
