"""The file and directory scanner: planted secrets found with path and line, suppression,
bounded memory on huge files, and bad input (binary, invalid UTF-8, loops, unreadable files)."""

from __future__ import annotations

import json
import os
import stat
import tracemalloc
from pathlib import Path

import pytest

from tessera.core.errors import InvalidRequest
from tessera.discovery.secrets import (
    ScanOptions,
    SecretHasher,
    SecretScanner,
    builtin_rules,
    load_ruleset,
    load_scan_key,
    read_baseline,
    report_dict,
    suppress,
    to_inventory,
    to_sarif,
    write_baseline,
)
from tessera.discovery.secrets.models import RuleSet
from tessera.inventory.models import CredentialKind, LocationKind

KEY = bytes(range(32))
# fake secrets, assembled at run time so this file is no leak itself
GH = "gh" + "p_" + "EXAMPLE0" * 4 + "abcd"
AWS = "AK" + "IA" + "IOSFODNN7EXAMPLE"
STRIPE = "s" + "k_test_" + "EXAMPLE0" * 3
SLACK = "xo" + "xb-" + "0000000000-0000000000-" + "EXAMPLE0" * 3
PEM_HEAD = "-----BEGIN " + "RSA PRIVATE KEY-----"
PEM = PEM_HEAD + "\n" + "EXAMPLEKEY" * 6 + "\n-----END RSA PRIVATE KEY-----"


def scanner(**opts: int) -> SecretScanner:
    return SecretScanner(RuleSet(builtin_rules()), SecretHasher(KEY), ScanOptions(**opts))


def found(report: object) -> set[tuple[str, str, int]]:
    return {(f.rule_id, f.path, f.line) for f in report.findings}  # type: ignore[attr-defined]


def plant(root: Path) -> set[tuple[str, str, int]]:
    """A small project with secrets at known places; returns (rule, path, line) expected."""
    (root / "src" / "app").mkdir(parents=True)
    (root / "deploy").mkdir()
    (root / "README.md").write_text("# Demo\n\nNothing to see here.\n")
    (root / "src" / "app" / "settings.py").write_text(
        f'DEBUG = False\nGITHUB_TOKEN = "{GH}"\n\n\nSTRIPE = "{STRIPE}"\n'
    )
    (root / "deploy" / "env").write_text(f"A=1\nAWS_ACCESS_KEY_ID={AWS}\nSLACK={SLACK}\n")
    (root / "deploy" / "id_rsa").write_text("\n\n" + PEM + "\n")
    (root / "src" / "app" / "clean.py").write_text("def f():\n    return 42\n")
    return {
        ("github-pat", "src/app/settings.py", 2),
        ("stripe-secret-key", "src/app/settings.py", 5),
        ("aws-access-key-id", "deploy/env", 2),
        ("slack-bot-token", "deploy/env", 3),
        ("private-key-rsa", "deploy/id_rsa", 3),
    }


def test_planted_secrets_are_all_found_with_path_and_line(tmp_path: Path) -> None:
    expected = plant(tmp_path)
    report = scanner().scan_path(tmp_path)
    assert found(report) == expected
    assert report.files_scanned == 5 and report.errors == []
    gh = next(f for f in report.findings if f.rule_id == "github-pat")
    assert gh.column == len('GITHUB_TOKEN = "') + 1
    assert gh.preview == "ghp_…(40 chars)"


def test_no_secret_appears_in_clear_in_any_output(tmp_path: Path) -> None:
    plant(tmp_path)
    report = scanner().scan_path(tmp_path)
    dumped = json.dumps(report_dict(report)) + json.dumps(
        to_sarif(report.findings, RuleSet(builtin_rules()), tmp_path)
    )
    for secret in (GH, AWS, STRIPE, SLACK, "EXAMPLEKEY" * 6):
        assert secret not in dumped


def test_single_file_scan_and_git_dirs_skipped(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(f"token = {GH}\n")
    (tmp_path / "a.txt").write_text(f"{GH}\n")
    assert found(scanner().scan_path(tmp_path)) == {("github-pat", "a.txt", 1)}
    assert found(scanner().scan_path(tmp_path / "a.txt")) == {("github-pat", "a.txt", 1)}


def test_one_secret_two_rules_one_line_reports_the_specific_rule(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text(
        'aws_secret_access_key = "' + "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY" + '"\n'
    )
    assert found(scanner().scan_path(tmp_path)) == {("aws-secret-access-key", "c.py", 1)}


def test_inline_allow_on_the_line_or_the_line_before(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        f'X = "{GH}"  # tessera:allow\n'
        f"# tessera:allow (test fixture)\nY = '{STRIPE}'\n"
        f'Z = "{SLACK}"  # gitleaks:allow\n'
        f'W = "{AWS}"\n'
        "  // tessera:allow\n"
        f"   {GH[:-1]}x\n"
    )
    # a trailing allow on line 4 covers line 4 only, not the code on line 5
    assert found(scanner().scan_path(tmp_path)) == {("aws-access-key-id", "a.py", 5)}


def test_baseline_suppresses_accepted_findings_only(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text(f"T = '{GH}'\n")
    first = scanner().scan_path(src)
    base = tmp_path / "baseline.json"
    assert write_baseline(base, first.findings) == 1
    (src / "b.py").write_text(f"S = '{STRIPE}'\n")
    second = scanner().scan_path(src)
    kept, dropped = suppress(second.findings, read_baseline(base))
    assert dropped == 1 and [f.rule_id for f in kept] == ["stripe-secret-key"]
    other_key = SecretScanner(RuleSet(builtin_rules()), SecretHasher(bytes(32)))
    _, dropped = suppress(other_key.scan_path(src).findings, read_baseline(base))
    assert dropped == 0  # keyed fingerprints: another key accepts nothing


@pytest.mark.parametrize(
    "content", ["{not json", '{"version": 2, "findings": []}', '{"version": 1, "findings": [{}]}']
)
def test_bad_baseline_is_a_clear_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "b.json").write_text(content)
    with pytest.raises(InvalidRequest, match="baseline"):
        read_baseline(tmp_path / "b.json")


def test_binary_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x7fELF\0\0\0" + GH.encode() + b"\n")
    report = scanner().scan_path(tmp_path)
    assert report.findings == [] and report.skipped_binary == 1


def test_invalid_utf8_keeps_line_numbers(tmp_path: Path) -> None:
    data = b"caf\xe9\n\xff\xfe\xfd bad bytes\n\xc3\n" + f"t = {GH}\n".encode()
    (tmp_path / "latin1.txt").write_bytes(data)
    report = scanner().scan_path(tmp_path)
    assert found(report) == {("github-pat", "latin1.txt", 4)}
    assert report.findings[0].column == 5


def test_huge_file_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    line = b"lorem ipsum dolor sit amet, consectetur adipiscing elit 0123456789\n"
    per_mib = (1 << 20) // len(line)
    path = tmp_path / "huge.log"
    expected = set()
    with path.open("wb") as fh:
        lines = 0
        for block in range(30):
            if block in (0, 15, 29):
                fh.write(f"token={GH}\n".encode())
                lines += 1
                expected.add(("github-pat", "huge.log", lines))
            fh.write(line * per_mib)
            lines += per_mib
    assert path.stat().st_size > 30_000_000
    tracemalloc.start()
    try:
        report = scanner().scan_path(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found(report) == expected
    assert peak < 16 * 1024 * 1024, peak  # ~ a few 1 MiB windows, never the 30 MB file


def test_chunk_boundaries_neither_lose_nor_duplicate(tmp_path: Path) -> None:
    filler = "x" * 97 + "\n"
    text = "".join(filler * (i % 7) + f"k{i} {GH[:-2]}{i:02d}\n" for i in range(60))
    (tmp_path / "f.txt").write_text(text)
    whole = scanner().scan_path(tmp_path)
    small = scanner(chunk_size=1000, overlap=120).scan_path(tmp_path)
    assert len(whole.findings) == 60
    assert [(f.line, f.column, f.fingerprint) for f in small.findings] == [
        (f.line, f.column, f.fingerprint) for f in whole.findings
    ]


def test_max_file_size_skips_and_reports(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text(GH + "\n" + "a" * 5000)
    report = scanner(max_file_size=1000).scan_path(tmp_path)
    assert report.findings == []
    assert report.errors[0].where == "big.txt" and "limit" in report.errors[0].message


def test_symlink_loop_is_reported_and_the_scan_goes_on(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text(f"{GH}\n")
    (tmp_path / "d" / "loop").symlink_to(tmp_path)
    (tmp_path / "d" / "self").symlink_to("self")
    report = scanner().scan_path(tmp_path)
    assert found(report) == {("github-pat", "d/a.txt", 1)}
    messages = {e.where: e.message for e in report.errors}
    assert "symlink loop" in messages["d/loop"]
    assert "d/self" in messages


def test_unreadable_entries_are_errors_not_crashes(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text(f"{GH}\n")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    report = scanner().scan_path(tmp_path)
    assert found(report) == {("github-pat", "ok.txt", 1)}
    messages = {e.where: e.message for e in report.errors}
    assert "not a regular file" in messages["pipe"]
    assert "broken symlink" in messages["dangling"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_file_is_an_error(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{GH}\n")
    secret.chmod(0)
    report = scanner().scan_path(tmp_path)
    assert report.findings == [] and "ermission" in report.errors[0].message


def test_inventory_has_one_credential_per_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(f"{GH}\n")
    (tmp_path / "b.txt").write_text(f"\n{GH}\n{STRIPE}\n")
    creds = to_inventory(scanner().scan_path(tmp_path))
    assert len(creds) == 2
    gh = next(c for c in creds if c.name == "github-pat")
    assert gh.kind is CredentialKind.LEAKED_SECRET
    assert [(loc.kind, loc.location) for loc in gh.locations] == [
        (LocationKind.FILE, "a.txt:1"),
        (LocationKind.FILE, "b.txt:2"),
    ]


def test_sarif_structure(tmp_path: Path) -> None:
    plant(tmp_path)
    report = scanner().scan_path(tmp_path)
    doc = to_sarif(report.findings, RuleSet(builtin_rules()), tmp_path)
    assert doc["version"] == "2.1.0" and "sarif" in doc["$schema"]
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == {f.rule_id for f in report.findings}
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
        assert float(rule["properties"]["security-severity"]) > 0
        assert "secret" in rule["properties"]["tags"]
    assert len(run["results"]) == 5
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        loc = result["locations"][0]["physicalLocation"]
        assert not loc["artifactLocation"]["uri"].startswith("/")
        assert loc["region"]["startLine"] >= 1 and loc["region"]["startColumn"] >= 1
        assert result["partialFingerprints"]
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    assert "src/app/settings.py" in uris


class Fixed:
    def token_bytes(self, n: int) -> bytes:
        return b"\x07" * n


def test_scan_key_from_env_or_a_private_key_file(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    key = load_scan_key(None, env, Fixed())
    path = tmp_path / ".config" / "tessera" / "scan.key"
    assert key == b"\x07" * 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_scan_key(None, env, Fixed()) == key
    assert load_scan_key(None, {"TESSERA_SCAN_KEY": "ab" * 16}, Fixed()) == b"\xab" * 16
    with pytest.raises(InvalidRequest, match="hex"):
        load_scan_key(None, {"TESSERA_SCAN_KEY": "not-hex"}, Fixed())
    with pytest.raises(InvalidRequest, match="at least"):
        load_scan_key(None, {"TESSERA_SCAN_KEY": "abcd"}, Fixed())
    path.chmod(0o644)
    with pytest.raises(InvalidRequest, match="chmod 600"):
        load_scan_key(None, env, Fixed())


def test_path_only_rule_reports_binary_files_by_name(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rules]]\nid = 'keystore'\npath = '''\\.p12$'''\n")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "client.p12").write_bytes(b"\x30\x82\0\0binary")
    (tmp_path / "certs" / "client.pem").write_text("public\n")
    hasher = SecretHasher(KEY)
    report = SecretScanner(load_ruleset(rules, builtin=False), hasher).scan_path(tmp_path)
    assert found(report) == {("keystore", "certs/client.p12", 1)}
