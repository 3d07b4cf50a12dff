"""End to end: `tessera pki …` as a subprocess against a real dev server, checked with openssl.

One dev-mode server for the module; the CA hierarchy (root → intermediate) and the `web`
profile are made once through the CLI by the `pki` fixture. Runner and assertions are shared
with `test_cli.py`; independent calls run concurrently because each CLI start costs ~1 s.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_der_private_key

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.integration.test_cli import Cli, failed, ok, parallel

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

WEB_PROFILE = {
    "issuer": "cli-int",
    "allowed_domains": ["*.example.com"],
    "allow_ip_sans": True,
    "allowed_ip_ranges": ["10.0.0.0/8"],
    "ttl": "30d",
    "max_ttl": "90d",
}


def openssl(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, f"openssl {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def verify(home: Path, leaf: str) -> None:
    """`openssl verify` of a leaf against the root, with the intermediate as untrusted."""
    out = openssl("verify", "-CAfile", "root.pem", "-untrusted", "int.pem", leaf, cwd=home)
    assert out.strip() == f"{leaf}: OK"


def crl_serials(home: Path, der_file: str) -> set[int]:
    text = openssl("crl", "-inform", "DER", "-in", der_file, "-noout", "-text", cwd=home)
    return {int(s, 16) for s in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", text)}


@dataclass(frozen=True)
class Pki:
    cli: Cli
    root: dict[str, object]
    intermediate: dict[str, object]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("cli-pki"), "--dev")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def pki(dev: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Root and intermediate made with `pki ca create`, the profile with `pki profile write`;
    root.pem and int.pem (from `ca show --pem`) sit in the CLI's home for openssl."""
    home = tmp_path_factory.mktemp("pki-home")
    cli = Cli(dev.addr, home, dev_root_token(dev))
    (home / "web.json").write_text(json.dumps(WEB_PROFILE))
    root = cli.json("pki", "ca", "create", "cli-root", "--kind", "root", "--cn", "CLI Root",
                    "--org", "Tessera Tests", "--ttl", "3650d")  # fmt: skip
    assert (root["kind"], root["status"], root["parent_id"]) == ("root", "active", None)
    assert root["subject"] == "CN=CLI Root,O=Tessera Tests"

    inter, external, root_pem, owner = parallel(
        cli.spawn("pki", "ca", "create", "cli-int", "--kind", "intermediate", "--cn", "CLI Int",
                  "--parent", "cli-root", "--ttl", "1825d", "--output", "json"),
        cli.spawn("pki", "ca", "create", "cli-ext", "--kind", "intermediate", "--cn", "CLI Ext",
                  "--csr-out", "ext.csr"),
        cli.spawn("pki", "ca", "show", "cli-root", "--pem"),
        cli.spawn("identity", "create", "pki-web", "--owner", "team-pki"),
    )  # fmt: skip
    intermediate = ok(inter).json()
    assert (intermediate["status"], intermediate["parent_id"]) == ("active", root["id"])
    assert intermediate["chain_pem"] == root["certificate_pem"]
    assert "pending" in ok(external).out and "tessera pki ca import cli-ext" in external.out
    csr = x509.load_pem_x509_csr((home / "ext.csr").read_bytes())
    assert csr.subject.rfc4514_string() == "CN=CLI Ext"
    assert ok(root_pem).out == root["certificate_pem"]
    (home / "root.pem").write_text(root_pem.out)
    ok(owner)

    written, int_pem = parallel(
        cli.spawn("pki", "profile", "write", "web", "web.json"),
        cli.spawn("pki", "ca", "show", "cli-int", "--pem"),
    )
    assert "Profile 'web' written." in ok(written).out
    (home / "int.pem").write_text(ok(int_pem).out)
    return Pki(cli, root, intermediate)


# -- CAs and profiles ----------------------------------------------------------------------------
def test_ca_list_show_and_profile_read_list(pki: Pki) -> None:
    cli = pki.cli
    listed, table, shown, read, names, missing_file = parallel(
        cli.spawn("pki", "ca", "list", "--output", "json"),
        cli.spawn("pki", "ca", "list"),
        cli.spawn("pki", "ca", "show", "cli-int"),
        cli.spawn("pki", "profile", "read", "web", "--output", "json"),
        cli.spawn("pki", "profile", "list", "--output", "json"),
        cli.spawn("pki", "profile", "write", "web", "nope.json"),
    )
    cas = {c["name"]: c for c in ok(listed).json()["items"]}
    assert cas["cli-ext"]["status"] == "pending" and cas["cli-ext"]["csr_pem"]
    assert cas["cli-int"]["crl_url"].endswith(f"/{pki.intermediate['id']}/crl.der")
    assert all(n in ok(table).out for n in ("cli-root", "cli-int", "cli-ext"))
    assert pki.intermediate["id"] in ok(shown).out
    assert "BEGIN CERTIFICATE" not in shown.out  # PEM blocks only with --pem or in JSON
    profile = ok(read).json()
    assert profile["issuer"] == "cli-int" and profile["allowed_domains"] == ["*.example.com"]
    assert (profile["ttl"], profile["max_ttl"]) == (30 * 86400, 90 * 86400)
    assert "web" in ok(names).json()["names"]
    failed(missing_file, "cannot read profile nope.json", one_line=True)

    # what `read -o json` prints can be written back unchanged
    (cli.home / "back.json").write_text(read.out)
    assert "written" in cli.ok("pki", "profile", "write", "web", "back.json").out


# -- issuance ------------------------------------------------------------------------------------
def test_issue_writes_key_0600_and_the_chain_verifies(pki: Pki) -> None:
    cli, home = pki.cli, pki.cli.home
    (home / "a.key").write_text("stale\n")
    (home / "a.key").chmod(0o644)  # an existing key file is tightened, not left readable
    files, printed, as_json, der, outside = parallel(
        cli.spawn("pki", "issue", "web", "--cn", "a.example.com", "--san", "b.example.com",
                  "--ip", "10.1.2.3", "--cert-out", "a.pem", "--key-out", "a.key",
                  "--chain-out", "a-chain.pem", "--identity", "pki-web"),
        cli.spawn("pki", "issue", "web", "--cn", "p.example.com"),
        cli.spawn("pki", "issue", "web", "--cn", "j.example.com", "--key-type", "ec-p384",
                  "--output", "json"),
        cli.spawn("pki", "issue", "web", "--cn", "d.example.com", "--format", "der",
                  "--cert-out", "d.der", "--key-out", "d.key", "--chain-out", "d.p7b"),
        cli.spawn("pki", "issue", "web", "--cn", "a.example.com", "--san", "evil.example.org"),
    )  # fmt: skip
    # files: the key only in a.key, mode 0600; the certificate verifies up to the root
    assert "a.key" in ok(files).out and "PRIVATE KEY" not in files.text
    assert stat.S_IMODE((home / "a.key").stat().st_mode) == 0o600
    assert (home / "a.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    verify(home, "a.pem")
    text = openssl("x509", "-in", "a.pem", "-noout", "-ext", "subjectAltName", cwd=home)
    assert "DNS:a.example.com" in text and "DNS:b.example.com" in text
    assert "IP Address:10.1.2.3" in text
    assert (home / "a-chain.pem").read_text() == pki.intermediate["certificate_pem"] + str(
        pki.root["certificate_pem"]
    )
    # no --key-out: the key is printed exactly once, after the certificate
    assert ok(printed).out.count("-----BEGIN PRIVATE KEY-----") == 1
    assert printed.out.count("-----BEGIN CERTIFICATE-----") == 3  # leaf, intermediate, root
    # --output json carries the key (and nothing else printed)
    issued = ok(as_json).json()
    assert issued["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert issued["certificate"]["common_name"] == "j.example.com"
    assert issued["certificate"]["ca"] == "cli-int"
    leaf = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())
    assert leaf.public_key().key_size == 384  # type: ignore[union-attr]
    # DER: certificate as DER, key as PKCS#8 DER (0600), chain as PKCS#7
    ok(der)
    cert = x509.load_der_x509_certificate((home / "d.der").read_bytes())
    key = load_der_private_key((home / "d.key").read_bytes(), password=None)
    assert cert.public_key() == key.public_key()
    assert stat.S_IMODE((home / "d.key").stat().st_mode) == 0o600
    p7 = openssl("pkcs7", "-inform", "DER", "-in", "d.p7b", "-print_certs", "-noout", cwd=home)
    assert "CN = CLI Int" in p7 and "CN = CLI Root" in p7
    # a name outside the profile: one clear line, nothing issued
    failed(outside, "evil.example.org", "outside the profile's domains", one_line=True)


def test_sign_csr_and_renew(pki: Pki) -> None:
    cli, home = pki.cli, pki.cli.home
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "csr.key", "-out", "a.csr", "-subj", "/CN=a.example.com",
            "-addext", "subjectAltName=DNS:a.example.com", cwd=home)  # fmt: skip
    signed, signed_der, bad_csr = parallel(
        cli.spawn("pki", "sign", "web", "a.csr", "--cert-out", "signed.pem", "--output", "json"),
        cli.spawn("pki", "sign", "web", "a.csr", "--format", "der", "--cert-out", "signed.der"),
        cli.spawn("pki", "sign", "web", "web.json"),
    )
    body = ok(signed).json()
    assert body["private_key"] is None and body["certificate"]["common_name"] == "a.example.com"
    verify(home, "signed.pem")
    mod_csr = openssl("pkey", "-in", "csr.key", "-pubout", cwd=home)
    mod_cert = openssl("x509", "-in", "signed.pem", "-noout", "-pubkey", cwd=home)
    assert mod_csr == mod_cert  # the CSR's key, not a new one
    ok(signed_der)
    der = x509.load_der_x509_certificate((home / "signed.der").read_bytes())
    assert der.subject.rfc4514_string() == "CN=a.example.com"
    failed(bad_csr, "CSR", one_line=True)

    old = body["certificate"]["id"]
    renewed = cli.json("pki", "renew", old, "--ttl", "2d", "--cert-out", "renewed.pem",
                       "--key-out", "renewed.key")  # fmt: skip
    assert renewed["certificate"]["renewed_from"] == old
    assert renewed["private_key"] is None  # written to the file, so not printed
    assert stat.S_IMODE((home / "renewed.key").stat().st_mode) == 0o600
    verify(home, "renewed.pem")


# -- listing, revocation, CRL --------------------------------------------------------------------
def test_list_expiring_revoke_and_crl(pki: Pki) -> None:
    cli, home = pki.cli, pki.cli.home
    short, long_, mine = parallel(
        cli.spawn("pki", "issue", "web", "--cn", "short.example.com", "--ttl", "1d", "-o", "json"),
        cli.spawn("pki", "issue", "web", "--cn", "long.example.com", "-o", "json"),
        cli.spawn("pki", "issue", "web", "--cn", "id.example.com", "--identity", "pki-web",
                  "-o", "json"),
    )  # fmt: skip
    short_cert = ok(short).json()["certificate"]
    long_cert = ok(long_).json()["certificate"]
    mine_cert = ok(mine).json()["certificate"]

    # list before revoking: a revoked certificate is no longer "expiring"
    expiring, table, by_ca, by_identity = parallel(
        cli.spawn("pki", "list", "--expiring", "2d", "--output", "json"),
        cli.spawn("pki", "list", "--expiring", "2d"),
        cli.spawn("pki", "list", "--ca", "cli-int", "--limit", "1000", "--output", "json"),
        cli.spawn("pki", "revoke", "--identity", "pki-web"),  # none of these expire soon
    )
    ids = {c["id"] for c in ok(expiring).json()["items"]}
    assert short_cert["id"] in ids and long_cert["id"] not in ids
    assert short_cert["serial"] in ok(table).out and "long.example.com" not in table.out
    assert {short_cert["id"], long_cert["id"]} <= {c["id"] for c in ok(by_ca).json()["items"]}
    assert "Revoked" in ok(by_identity).out and mine_cert["serial"] in by_identity.out

    result = cli.json("pki", "revoke", "--ca", "cli-int", "--serial", short_cert["serial"],
                      "--reason", "key_compromise")  # fmt: skip
    assert result["revoked"] == 1
    assert result["certificates"][0]["revocation_reason"] == "key_compromise"

    crl, crl_pem, revoked, again = parallel(
        cli.spawn("pki", "crl", "cli-int", "--out", "int.crl"),
        cli.spawn("pki", "crl", "cli-int", "--format", "pem"),
        cli.spawn("pki", "list", "--status", "revoked", "--output", "json"),
        cli.spawn("pki", "revoke", "--id", short_cert["id"], "--output", "json"),
    )
    assert "int.crl" in ok(crl).out
    wanted = {int(short_cert["serial"], 16), int(mine_cert["serial"], 16)}
    for _ in range(5):  # the server rebuilds CRLs in the background, within about a second
        serials = crl_serials(home, "int.crl")
        if wanted <= serials:
            break
        time.sleep(0.5)
        cli.ok("pki", "crl", "cli-int", "--out", "int.crl")
    assert wanted <= serials
    assert int(long_cert["serial"], 16) not in serials
    assert ok(crl_pem).out.startswith("-----BEGIN X509 CRL-----")
    assert {short_cert["id"], mine_cert["id"]} <= {c["id"] for c in ok(revoked).json()["items"]}
    assert ok(again).json()["revoked"] == 0  # repeating revokes nothing more


# -- errors --------------------------------------------------------------------------------------
def test_errors_are_one_clean_line(pki: Pki) -> None:
    cli = pki.cli
    unknown, crl, no_selector, half, unknown_profile, bad_profile, der_tty = parallel(
        cli.spawn("pki", "ca", "show", "no-such-ca"),
        cli.spawn("pki", "crl", "no-such-ca"),
        cli.spawn("pki", "revoke"),
        cli.spawn("pki", "revoke", "--serial", "01"),
        cli.spawn("pki", "issue", "no-such-profile", "--cn", "a.example.com"),
        cli.spawn("pki", "profile", "write", "broken", "int.pem"),
        cli.spawn("pki", "issue", "web", "--cn", "x.example.com", "--format", "der"),
    )
    failed(unknown, "no CA named 'no-such-ca'", one_line=True)
    assert unknown.err.startswith("Error: ")
    failed(crl, "no CA named 'no-such-ca'", one_line=True)
    failed(no_selector, "--ca with --serial, --id, or --identity", one_line=True)
    failed(half, "--ca and --serial go together", one_line=True)
    failed(unknown_profile, "no-such-profile", one_line=True)
    failed(bad_profile, "int.pem is not valid JSON", one_line=True)
    failed(der_tty, "--format der", "--cert-out", one_line=True)
