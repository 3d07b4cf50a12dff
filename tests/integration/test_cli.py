"""End to end: the real `tessera` CLI, run as a subprocess, against a real server on loopback.

Every call gets its own environment: `TESSERA_ADDR`, an optional `TESSERA_TOKEN`, and `HOME`
pointing at a temporary directory (so `tessera login` writes `~/.tessera-token` there and a
developer's own token file is never read). Independent calls run concurrently (`parallel`)
because each CLI start costs about a second. The seal/unseal flow lives in
`test_cli_operator.py`; the tests here share one dev-mode server per module and use names no
other test uses.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, dev_root_token, start_server

UNREACHABLE = "http://127.0.0.1:1"
WEB_POLICY = {
    "description": "web workloads",
    "rules": [
        {"path": "pki/issue/web-*", "capabilities": ["create", "read"]},
        {"path": "auth/token/*", "capabilities": ["read", "update"]},
    ],
}


# -- running the CLI -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        head = f"tessera {' '.join(self.args)} -> exit {self.code}"
        return f"{head}\n--- stdout\n{self.out}--- stderr\n{self.err}"


class Pending:
    """A started CLI process; `result()` waits for it."""

    def __init__(self, args: tuple[str, ...], proc: subprocess.Popen[str]) -> None:
        self.args, self.proc = args, proc

    def result(self) -> Result:
        try:
            out, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"tessera {' '.join(self.args)} hung:\n{out}{err}")
        return Result(self.args, self.proc.returncode, out, err)


@dataclass(frozen=True)
class Cli:
    """`tessera` bound to a server address, a HOME (also the working directory), a token."""

    addr: str
    home: Path
    token: str | None = None

    def as_(self, token: str | None) -> Cli:
        return replace(self, token=token)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
        env.update(HOME=str(self.home), TESSERA_ADDR=self.addr)
        if self.token is not None:
            env["TESSERA_TOKEN"] = self.token
        return env

    def spawn(self, *args: str) -> Pending:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tessera", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
            cwd=self.home,
        )
        return Pending(args, proc)

    def __call__(self, *args: str) -> Result:
        return self.spawn(*args).result()

    def ok(self, *args: str) -> Result:
        return ok(self(*args))

    def json(self, *args: str) -> Any:
        return ok(self(*args, "--output", "json")).json()


def parallel(*pending: Pending) -> list[Result]:
    return [p.result() for p in pending]


def ok(r: Result) -> Result:
    assert r.code == 0, str(r)
    assert "Traceback" not in r.text, str(r)
    return r


def failed(r: Result, *needles: str, code: int = 1, one_line: bool = False) -> Result:
    """A clean failure: the exit code, an `Error:` line, no traceback, and each needle."""
    assert r.code == code, str(r)
    assert "Error:" in r.text, str(r)
    assert "Traceback" not in r.text, str(r)
    flat = " ".join(r.text.split())  # rich may wrap long lines; compare words, not layout
    for needle in needles:
        assert needle in flat, f"{needle!r} missing from:\n{r}"
    if one_line:
        assert r.out == "", str(r)
        assert len(r.err.strip().splitlines()) == 1, str(r)
    return r


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One dev-mode (SQLite, auto-unsealed) server shared by this module's tests."""
    srv = start_server(tmp_path_factory.mktemp("cli-dev"), "--dev")
    yield srv
    srv.stop()


@pytest.fixture
def root(dev: ServerProcess, tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(dev.addr, home, dev_root_token(dev))


@pytest.fixture
def web_policy(dev: ServerProcess) -> str:
    with dev.client(dev_root_token(dev)) as http:
        http.put("/v1/sys/policies/web", json=WEB_POLICY).raise_for_status()
    return "web"


# -- login ---------------------------------------------------------------------------------------
def test_login_stores_token_file_0600_and_later_commands_use_it(root: Cli) -> None:
    token_file = root.home / ".tessera-token"
    anonymous = root.as_(None)

    bad = anonymous("login", "tsr_not-a-real-token")
    failed(bad, "token", one_line=True)
    assert not token_file.exists()

    logged_in = anonymous.ok("login", str(root.token))
    assert "Logged in as root" in logged_in.out
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == root.token

    me = anonymous.json("token", "lookup")  # no TESSERA_TOKEN: read from ~/.tessera-token
    assert me["display_name"] == "root"
    assert me["policies"] == ["root"]


def test_login_tightens_an_existing_token_file_to_0600(root: Cli) -> None:
    token_file = root.home / ".tessera-token"
    token_file.write_text("old\n")
    token_file.chmod(0o644)
    root.as_(None).ok("login", str(root.token))
    assert token_file.read_text().strip() == root.token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


# -- policies ------------------------------------------------------------------------------------
def test_policy_write_read_list_delete(root: Cli) -> None:
    (root.home / "web.json").write_text(json.dumps(WEB_POLICY))
    (root.home / "broken.json").write_text("rules: [this is yaml, not json\n")
    dots = {"rules": [{"path": "pki/../sys/seal", "capabilities": ["read"]}]}
    (root.home / "dots.json").write_text(json.dumps(dots))

    written, broken, traversal = parallel(
        root.spawn("policy", "write", "cli-web", "web.json"),
        root.spawn("policy", "write", "cli-broken", "broken.json"),
        root.spawn("policy", "write", "cli-dots", "dots.json"),
    )
    assert "Policy 'cli-web' written." in ok(written).out
    failed(broken, "broken.json is not valid JSON")
    failed(traversal, "pki/../sys/seal", "rules[0].path")

    read, listed, plain = parallel(
        root.spawn("policy", "read", "cli-web"),
        root.spawn("policy", "list", "--output", "json"),
        root.spawn("policy", "list"),
    )
    doc = ok(read).json()
    assert doc["name"] == "cli-web"
    assert doc["description"] == WEB_POLICY["description"]
    assert [(r["path"], r["capabilities"]) for r in doc["rules"]] == [
        (r["path"], r["capabilities"]) for r in WEB_POLICY["rules"]
    ]
    names = ok(listed).json()["names"]
    assert "cli-web" in names
    assert "cli-broken" not in names and "cli-dots" not in names
    assert "cli-web" in ok(plain).out.split()

    assert "deleted" in root.ok("policy", "delete", "cli-web").out

    gone, after = parallel(
        root.spawn("policy", "read", "cli-web"),
        root.spawn("policy", "list", "--output", "json"),
    )
    failed(gone, "no policy named 'cli-web'")
    assert "cli-web" not in ok(after).json()["names"]


def test_policy_name_cannot_escape_its_url_segment(dev: ServerProcess, root: Cli) -> None:
    with dev.client(root.token) as http:
        http.put("/v1/sys/policies/cli-victim", json=WEB_POLICY).raise_for_status()
    root("policy", "delete", "../policies/cli-victim")
    with dev.client(root.token) as http:
        assert http.get("/v1/sys/policies/cli-victim").status_code == 200


# -- tokens --------------------------------------------------------------------------------------
def test_token_create_lookup_renew_revoke(root: Cli, web_policy: str) -> None:
    created = root.json("token", "create", "--policy", web_policy, "--ttl", "1h")
    token, info = created["token"], created["info"]
    accessor = info["accessor"]
    assert token.startswith("tsr_")
    assert set(info["policies"]) == {"web", "default"}
    assert info["creation_ttl"] == 3600
    assert 3500 < info["ttl"] <= 3600
    assert info["renewable"] is True and info["revoked"] is False
    child = root.as_(token)

    self_, by_token, by_accessor, renewed, inventory, bogus = parallel(
        child.spawn("token", "lookup", "--output", "json"),
        root.spawn("token", "lookup", token, "--output", "json"),
        root.spawn("token", "lookup", "--accessor", accessor, "--output", "json"),
        child.spawn("token", "renew", "--increment", "30m", "--output", "json"),
        root.spawn("inventory", "list", "--kind", "tessera_token", "--output", "json"),
        root.spawn("inventory", "list", "--kind", "bogus"),
    )
    for r in (self_, by_token, by_accessor):
        looked = ok(r).json()
        assert looked["accessor"] == accessor
        assert looked["creation_ttl"] == 3600
        assert "token" not in looked and token not in r.out  # never printed back
    # renewal never shortens: asking for 30m on a 1h token keeps the later expiry
    self_renewed = ok(renewed).json()
    assert 1700 < self_renewed["ttl"] <= 3600
    assert ts(self_renewed["expires_at"]) >= ts(info["expires_at"])
    rows = {c["attributes"].get("accessor"): c for c in ok(inventory).json()["items"]}
    assert rows[accessor]["kind"] == "tessera_token"
    assert rows[accessor]["status"] == "active"
    assert rows[accessor]["source"] == "managed"
    failed(bogus, "kind must be one of", "tessera_token")

    extended = root.json("token", "renew", "--accessor", accessor, "--increment", "2h")
    assert 3600 < extended["ttl"] <= 7200

    assert root.json("token", "revoke", "--accessor", accessor) == {"revoked": 1}

    use, looked, listed = parallel(
        child.spawn("policy", "list"),
        root.spawn("token", "lookup", "--accessor", accessor, "--output", "json"),
        root.spawn("inventory", "list", "--kind", "tessera_token", "--output", "json"),
    )
    failed(use, "revoked")
    assert ok(looked).json()["revoked"] is True
    rows = {c["attributes"].get("accessor"): c for c in ok(listed).json()["items"]}
    assert rows[accessor]["status"] == "revoked"


# -- identities and inventory --------------------------------------------------------------------
def test_identity_lifecycle_revokes_bound_tokens(root: Cli) -> None:
    created, other, no_owner = parallel(
        root.spawn("identity", "create", "web-1", "--owner", "team-a", "--label", "app=web"),
        root.spawn(
            "identity", "create", "db-1", "--owner", "team-b", "--label", "app=db", "-o", "json"
        ),
        root.spawn("identity", "create", "web-2"),
    )
    assert "web-1" in ok(created).out and "team-a" in created.out
    assert ok(other).json()["labels"] == {"app": "db"}
    assert no_owner.code == 2, str(no_owner)  # a usage error, before any request
    assert "Missing option '--owner'" in no_owner.text, str(no_owner)
    assert "Traceback" not in no_owner.text

    bound, table, everything, by_owner, by_label, shown = parallel(
        root.spawn("token", "create", "--identity", "web-1", "--output", "json"),
        root.spawn("identity", "list"),
        root.spawn("identity", "list", "--output", "json"),
        root.spawn("identity", "list", "--owner", "team-a", "--output", "json"),
        root.spawn("identity", "list", "--label", "app=web", "--output", "json"),
        root.spawn("identity", "show", "web-1", "--output", "json"),
    )
    bound_token = ok(bound).json()["token"]
    assert "web-1" in ok(table).out and "db-1" in table.out
    assert "web-2" not in table.out
    page = ok(everything).json()
    assert {i["name"] for i in page["items"]} == {"web-1", "db-1"}
    assert page["next_cursor"] is None
    assert [i["name"] for i in ok(by_owner).json()["items"]] == ["web-1"]
    assert [i["name"] for i in ok(by_label).json()["items"]] == ["web-1"]
    web1 = ok(shown).json()
    assert (web1["owner"], web1["kind"], web1["status"]) == ("team-a", "workload", "active")
    assert web1["labels"] == {"app": "web"}
    assert bound.json()["info"]["identity_id"] == web1["id"]

    moved = root.json("identity", "set-owner", "web-1", "team-b")
    assert moved["owner"] == "team-b" and moved["id"] == web1["id"]

    result = root.json("identity", "decommission", "web-1")
    assert result["revoked_credentials"] >= 1
    assert result["identity"]["status"] == "decommissioned"
    assert result["identity"]["decommissioned_at"] is not None

    use, creds, active = parallel(
        root.as_(bound_token).spawn("token", "lookup"),
        root.spawn("inventory", "list", "--identity", "web-1", "--output", "json"),
        root.spawn("identity", "list", "--status", "active", "--output", "json"),
    )
    failed(use, "revoked")
    items = ok(creds).json()["items"]
    assert items, "the bound token should be in the inventory"
    assert {(c["kind"], c["status"], c["owner"]) for c in items} == {
        ("tessera_token", "revoked", "team-b")
    }
    assert [i["name"] for i in ok(active).json()["items"]] == ["db-1"]


# -- audit ---------------------------------------------------------------------------------------
def _settled(path: Path) -> bytes:
    """The audit file once the server has finished its last write (ends in a newline)."""
    deadline = time.monotonic() + 10
    data = path.read_bytes()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        again = path.read_bytes()
        if again == data and data.endswith(b"\n"):
            return data
        data = again
    pytest.fail(f"{path} never settled")


def _flip_one_byte(line: bytes) -> bytes:
    """XOR one byte at or after the middle of the line, picking one that keeps it valid JSON
    (inside a string or number; not `true`/`null`), so only the hash chain can notice."""
    for at in range(len(line) // 2, len(line)):
        edited = bytearray(line)
        edited[at] ^= 0x01
        try:
            if json.loads(edited) != json.loads(line):
                return bytes(edited)
        except ValueError:
            continue
    raise AssertionError(f"no byte of {line!r} can be flipped into valid JSON")


def test_audit_verify_accepts_the_log_and_names_an_edited_line(
    dev: ServerProcess, root: Cli
) -> None:
    with dev.client(root.token) as http:
        for _ in range(3):
            http.get("/v1/sys/policies").raise_for_status()
    data = _settled(dev.audit_log)
    lines = data.split(b"\n")[:-1]
    assert len(lines) >= 6

    number = len(lines) // 2 + 1  # 1-based, somewhere in the middle of the file
    line = _flip_one_byte(lines[number - 1])
    tampered = root.home / "tampered.log"
    tampered.write_bytes(b"\n".join([*lines[: number - 1], line, *lines[number:]]) + b"\n")

    good, bad, missing = parallel(
        root.spawn("audit", "verify", str(dev.audit_log)),
        root.spawn("audit", "verify", "tampered.log"),
        root.spawn("audit", "verify", "nope.log"),
    )
    assert ok(good).out.startswith("OK:"), str(good)
    failed(bad)
    first = re.search(r"line (\d+)", bad.err)
    assert first is not None and int(first.group(1)) == number, str(bad)
    failed(missing, "nope.log", "not a readable file")


# -- error hygiene -------------------------------------------------------------------------------
def test_unreachable_server_and_missing_token_are_one_clear_line(root: Cli) -> None:
    nowhere = Cli(UNREACHABLE, root.home, "tsr_whatever")
    unreachable, status, no_token = parallel(
        nowhere.spawn("token", "lookup"),
        nowhere.spawn("operator", "status"),
        root.as_(None).spawn("policy", "list"),
    )
    failed(unreachable, f"cannot reach Tessera at {UNREACHABLE}", one_line=True)
    failed(status, f"cannot reach Tessera at {UNREACHABLE}", one_line=True)
    failed(no_token, "no token", "TESSERA_TOKEN", "tessera login", one_line=True)


@pytest.mark.parametrize(
    ("env_token", "addr", "args"),
    [
        pytest.param(
            None,
            UNREACHABLE,
            ("policy", "write", "p", "[/oops].json"),
            id="message-with-brackets",
        ),
        pytest.param(
            "tsr_tökén",
            None,
            ("policy", "list"),
            id="non-ascii-token",
        ),
        pytest.param(
            "tsr_x",
            "http://[::1",
            ("operator", "status"),
            id="malformed-addr",
        ),
        pytest.param(
            None,
            UNREACHABLE,
            ("policy", "write", "p", "/no/such/dir/" + "x" * 90 + ".json"),
            id="long-message",
        ),
    ],
)
def test_bad_input_gives_one_clean_error_line(
    root: Cli, env_token: str | None, addr: str | None, args: tuple[str, ...]
) -> None:
    cli = Cli(addr or root.addr, root.home, env_token)
    failed(cli(*args), one_line=True)
