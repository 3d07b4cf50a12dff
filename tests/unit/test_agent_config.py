"""Agent configuration: defaults, YAML and JSON files, and one clear error per mistake."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tessera.agent.config import DEFAULT_RENEW_AT, load_config, parse_config
from tessera.core.errors import InvalidRequest, NotFound


def cert(tmp: Path, name: str = "web", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "profile": "web",
        "common_name": f"{name}.example.test",
        "cert_file": str(tmp / f"{name}.crt"),
        "key_file": str(tmp / f"{name}.key"),
        **extra,
    }


def doc(tmp: Path, **extra: Any) -> dict[str, Any]:
    return {
        "server": "http://127.0.0.1:8200/",
        "auth": {"token_file": str(tmp / "token")},
        "certificates": [cert(tmp)],
        **extra,
    }


def test_defaults_and_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(
        f"""
server: https://tessera.internal:8200
auth:
  approle: {{role_id: r-1, secret_id_file: {tmp_path}/secret}}
health: {{listen: "127.0.0.1:9101", status_file: {tmp_path}/status.json}}
retry: {{initial: 1s, max: 2m, jitter: 0}}
certificates:
  - profile: web
    common_name: a.example.test
    alt_names: [a.example.test, b.example.test]
    ttl: 24h
    key_type: ec-p384
    cert_file: {tmp_path}/a.crt
    key_file: {tmp_path}/a.key
    chain_file: {tmp_path}/a.chain
    renew_at: 0.5
    reload: [nginx, -s, reload]
    mode: 0640
  - profile: web
    alt_names: [c.example.test]
    combined_file: {tmp_path}/c.pem
"""
    )
    cfg = load_config(path)
    assert cfg.server == "https://tessera.internal:8200"
    assert cfg.auth.approle is not None and cfg.auth.approle.role_id == "r-1"
    assert cfg.health.address() == ("127.0.0.1", 9101)
    assert (cfg.retry.initial, cfg.retry.max, cfg.retry.jitter) == (
        timedelta(seconds=1), timedelta(minutes=2), 0.0
    )  # fmt: skip
    a, c = cfg.certificates
    assert (a.label, a.ttl, a.key_type, a.renew_at) == (
        "a.example.test", timedelta(hours=24), "ec-p384", 0.5
    )  # fmt: skip
    assert a.reload == ("nginx", "-s", "reload") and a.mode == 0o640 and a.key_mode == 0o600
    assert c.label == "c.example.test" and c.renew_at == DEFAULT_RENEW_AT and c.reload == ()


def test_json_file_and_string_modes(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(doc(tmp_path, certificates=[cert(tmp_path, key_mode="0640")])))
    cfg = load_config(path)
    assert cfg.certificates[0].key_mode == 0o640
    assert cfg.retry.initial == timedelta(seconds=2) and cfg.retry.max == timedelta(minutes=5)


def test_inline_token_never_shown(tmp_path: Path) -> None:
    secret = "tst_SUPERSECRETVALUE"
    cfg = parse_config(doc(tmp_path, auth={"token": secret}))
    assert secret not in repr(cfg) and secret not in str(cfg)
    with pytest.raises(InvalidRequest) as err:
        parse_config(doc(tmp_path, auth={"token": secret, "token_file": "/x"}))
    assert secret not in str(err.value)


BAD: list[tuple[str, Any, str]] = [
    ("renew-at-one", {"renew_at": 1}, "renew_at"),
    ("renew-at-zero", {"renew_at": 0}, "renew_at"),
    ("bad-ttl", {"ttl": "soon"}, "ttl"),
    ("bad-key-type", {"key_type": "rsa-1024"}, "key_type"),
    ("world-readable-key", {"key_mode": "0644"}, "key_mode"),
    ("group-writable-cert", {"mode": "0664"}, "mode"),
    ("decimal-mode", {"mode": 644}, "mode"),
    ("shell-string-reload", {"reload": "nginx -s reload"}, "reload"),
    ("empty-reload-arg", {"reload": ["nginx", ""]}, "reload"),
    ("unknown-user", {"owner": "no-such-user-tessera"}, "no such user"),
    ("unknown-field", {"cert_path": "/x"}, "cert_path"),
    ("key-without-cert", {"cert_file": None}, "cert_file"),
    ("same-path-twice", {"chain_file": "SAME"}, "different path"),
    ("no-names", {"common_name": None}, "common_name or at least one SAN"),
]


@pytest.mark.parametrize(("case", "change", "expect"), BAD, ids=[b[0] for b in BAD])
def test_certificate_errors_name_the_field(
    tmp_path: Path, case: str, change: dict[str, Any], expect: str
) -> None:
    entry = cert(tmp_path)
    for key, value in change.items():
        if value is None:
            entry.pop(key)
        elif value == "SAME":
            entry[key] = entry["cert_file"]
        else:
            entry[key] = value
    with pytest.raises(InvalidRequest) as err:
        parse_config(doc(tmp_path, certificates=[entry]))
    assert expect in err.value.detail, err.value.detail
    assert "Traceback" not in err.value.detail


TOP_BAD: list[tuple[str, dict[str, Any], str]] = [
    ("no-certificates", {"certificates": []}, "certificates"),
    ("ftp-server", {"server": "ftp://x"}, "http://"),
    ("two-auth", {"auth": {"token": "a", "token_file": "/t"}}, "exactly one"),
    ("no-auth", {"auth": {}}, "exactly one"),
    ("approle-no-role", {"auth": {"approle": {"secret_id_file": "/s"}}}, "role_id"),
    ("public-health", {"health": {"listen": "0.0.0.0:9101"}}, "loopback"),
    ("health-no-port", {"health": {"listen": "127.0.0.1"}}, "host:port"),
    ("retry-order", {"retry": {"initial": "10m", "max": "1m"}}, "initial <= max"),
]


@pytest.mark.parametrize(("case", "change", "expect"), TOP_BAD, ids=[b[0] for b in TOP_BAD])
def test_top_level_errors(tmp_path: Path, case: str, change: dict[str, Any], expect: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_config(doc(tmp_path, **change))
    assert expect in err.value.detail, err.value.detail


def test_duplicate_names_and_shared_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="repeated: web"):
        parse_config(doc(tmp_path, certificates=[cert(tmp_path), cert(tmp_path)]))
    other = cert(tmp_path, "api", key_file=str(tmp_path / "web.key"))
    with pytest.raises(InvalidRequest, match="same file"):
        parse_config(doc(tmp_path, certificates=[cert(tmp_path), other]))


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("server: [unclosed\n")
    with pytest.raises(InvalidRequest, match="invalid YAML at line"):
        load_config(broken)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    with pytest.raises(InvalidRequest, match="invalid JSON"):
        load_config(bad_json)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(InvalidRequest, match="top level must be a mapping"):
        load_config(scalar)
