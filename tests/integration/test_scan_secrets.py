"""`tessera scan secrets` end to end: git history attribution on a repository built here, and
the CLI as a subprocess (json, sarif, baseline, exit codes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tessera.core.errors import InvalidRequest
from tessera.discovery.secrets import (
    ScanOptions,
    SecretHasher,
    SecretScanner,
    builtin_rules,
    load_ruleset,
    scan_history,
    to_inventory,
)
from tessera.discovery.secrets.models import RuleSet
from tessera.inventory.models import LocationKind

ROOT = Path(__file__).resolve().parents[2]
KEY_HEX = "11" * 32
GH = "gh" + "p_" + "EXAMPLE0" * 4 + "abcd"
STRIPE = "s" + "k_test_" + "EXAMPLE0" * 3
NPM = "np" + "m_" + "EXAMPLE0" * 4 + "EXAM"


def git(repo: Path, *args: str, date: str = "2024-01-01T00:00:00+00:00") -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Ada Lovelace",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada Lovelace",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(repo: Path, message: str, day: int) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=f"2024-01-{day:02d}T12:00:00+00:00")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """main: add a secret, remove it, copy it elsewhere; branch `feature`: another secret."""
    path = tmp_path_factory.mktemp("repo")
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# demo\n")
    shas = {"init": commit(path, "init", 1)}
    (path / "config").mkdir()
    (path / "config" / "app.env").write_text(f"DEBUG=1\n\nGITHUB_TOKEN={GH}\n")
    shas["leak"] = commit(path, "add config", 2)
    (path / "config" / "app.env").write_text("DEBUG=1\n")
    shas["fix"] = commit(path, "remove token", 3)
    (path / "copy.env").write_text(f"DEBUG=1\n\nGITHUB_TOKEN={GH}\n")  # same blob, new path
    shas["copy"] = commit(path, "same file again", 5)
    git(path, "checkout", "-q", "-b", "feature", shas["init"])
    (path / "pay.py").write_text(f"# billing\nSTRIPE_KEY = '{STRIPE}'\n")
    shas["feature"] = commit(path, "billing", 4)
    (path / "image.png").write_bytes(b"\x89PNG\0\0" + NPM.encode())
    commit(path, "binary", 6)
    git(path, "checkout", "-q", "main")
    return path, shas


def test_history_ties_each_secret_to_the_commit_and_path_that_introduced_it(
    repo: tuple[Path, dict[str, str]],
) -> None:
    path, shas = repo
    scanner = SecretScanner(RuleSet(builtin_rules()), SecretHasher(bytes.fromhex(KEY_HEX)))
    report = scan_history(scanner, path)
    by_rule = {f.rule_id: f for f in report.findings}
    assert sorted(by_rule) == ["github-pat", "stripe-secret-key"]
    assert len(report.findings) == 2  # the copied blob is scanned once, not reported again
    gh = by_rule["github-pat"]
    assert gh.commit is not None and gh.commit.sha == shas["leak"]
    assert (gh.path, gh.line, gh.column) == ("config/app.env", 3, len("GITHUB_TOKEN=") + 1)
    assert gh.commit.author == "Ada Lovelace <ada@example.com>"
    assert gh.commit.date == datetime.fromisoformat("2024-01-02T12:00:00+00:00")
    stripe = by_rule["stripe-secret-key"]
    assert stripe.commit is not None and stripe.commit.sha == shas["feature"]
    assert (stripe.path, stripe.line) == ("pay.py", 2)
    assert report.skipped_binary == 1
    [cred] = [c for c in to_inventory(report) if c.name == "github-pat"]
    assert cred.locations[0].kind is LocationKind.GIT
    assert cred.locations[0].location == f"{path}@{shas['leak']}:config/app.env:3"


def test_history_applies_commit_and_path_allowlists_from_a_rule_file(
    repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, shas = repo
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[extend]\nuseDefault = true\n[allowlist]\n"
        f'commits = ["{shas["leak"][:12]}"]\n'
        "paths = ['''^pay\\.py$''']\n"
    )
    scanner = SecretScanner(load_ruleset(rules, builtin=False), SecretHasher(bytes(16)))
    assert scan_history(scanner, path).findings == []


def test_history_honours_file_size_limit_and_rejects_non_repositories(
    repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, _ = repo
    small = SecretScanner(
        RuleSet(builtin_rules()), SecretHasher(bytes(16)), ScanOptions(max_file_size=10)
    )
    report = scan_history(small, path)
    assert report.findings == [] and all("limit" in e.message for e in report.errors)
    with pytest.raises(InvalidRequest, match="not a git repository"):
        scan_history(small, tmp_path)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TESSERA_SCAN_KEY": KEY_HEX, "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(
        [sys.executable, "-m", "tessera", "scan", "secrets", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or ROOT,
        timeout=60,
    )


def test_cli_json_git_and_exit_codes(repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, shas = repo
    result = run_cli(str(path), "--git", "--output", "json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    commits = {f["rule_id"]: f["commit"]["sha"] for f in doc["findings"]}
    assert commits == {"github-pat": shas["leak"], "stripe-secret-key": shas["feature"]}
    assert GH not in result.stdout and STRIPE not in result.stdout
    base = tmp_path / "baseline.json"
    wrote = run_cli(str(path), "--git", "-o", "json", "--write-baseline", str(base))
    assert wrote.returncode == 0 and len(json.loads(base.read_text())["findings"]) == 2
    quiet = run_cli(str(path), "--git", "-o", "json", "--baseline", str(base))
    assert quiet.returncode == 0
    summary = json.loads(quiet.stdout)["summary"]
    assert (summary["findings"], summary["suppressed"]) == (0, 2)


def test_cli_sarif_on_a_directory(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text(f"\nT = '{GH}'\n")
    result = run_cli(str(tmp_path), "-o", "sarif", "--exit-code", "3")
    assert result.returncode == 3, result.stderr
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    [res] = sarif["runs"][0]["results"]
    assert res["ruleId"] == "github-pat"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "src/a.py"
    assert loc["region"] == {"startLine": 2, "startColumn": 6}
    clean = tmp_path / "clean"
    clean.mkdir()
    ok = run_cli(str(clean), "-o", "json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["findings"] == []


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text("[[rules]]\nid = 'oops'\nregex = '(unclosed'\n")
    result = run_cli(str(tmp_path), "--rules", str(bad))
    assert result.returncode == 2
    assert "oops" in result.stderr and "Traceback" not in result.stderr
    missing = run_cli(str(tmp_path / "absent"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    not_repo = run_cli(str(tmp_path), "--git")
    assert not_repo.returncode == 2 and "not a git repository" in not_repo.stderr
