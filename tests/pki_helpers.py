"""PKI test helpers over real HTTP: CAs and profiles, CSRs made with cryptography, openssl and
pkilint runners, and polling for the CRL and OCSP answers that follow a revocation."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

P = "urn:tessera:problem:"
T = TypeVar("T")
CsrKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


# -- HTTP --------------------------------------------------------------------------------------
def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


def problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """Assert a problem+json answer of `status` with type `urn:tessera:problem:<slug>`."""
    assert r.status_code == status, f"{r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["type"] == P + slug, body
    assert "Traceback" not in r.text
    return body


def create_ca(c: httpx.Client, name: str, kind: str = "root", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "kind": kind, "common_name": fields.pop("common_name", name), **fields}
    return ok(c.post("/v1/pki/cas", json=body), 201)


def put_profile(c: httpx.Client, name: str, issuer: str, **fields: Any) -> dict[str, Any]:
    doc = {"issuer": issuer, "allowed_domains": ["*.example.test", "localhost"], **fields}
    return ok(c.put(f"/v1/pki/profiles/{name}", json=doc))


def issue(c: httpx.Client, profile: str, **fields: Any) -> dict[str, Any]:
    return ok(c.post(f"/v1/pki/issue/{profile}", json=fields))


def revoke(c: httpx.Client, cert_id: str, reason: str = "unspecified") -> dict[str, Any]:
    return ok(c.post("/v1/pki/revoke", json={"cert_id": cert_id, "reason": reason}))


def cert_count(c: httpx.Client) -> int:
    return len(ok(c.get("/v1/pki/certs", params={"limit": 1000}))["items"])


def credential_count(c: httpx.Client) -> int:
    return len(ok(c.get("/v1/inventory/credentials", params={"limit": 1000}))["items"])


# -- keys and CSRs -----------------------------------------------------------------------------
def make_csr(
    key: CsrKey,
    common_name: str | None = None,
    dns: Sequence[str] = (),
    ips: Sequence[Any] = (),
) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(i) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = builder.sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def load_cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def ocsp_url_of(pem: str) -> str:
    aia = load_cert(pem).extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    for d in aia.value:
        if d.access_method == AuthorityInformationAccessOID.OCSP:
            return str(d.access_location.value)
    raise AssertionError("no OCSP URL in the certificate")


def crl_url_of(pem: str) -> str:
    cdp = load_cert(pem).extensions.get_extension_for_class(x509.CRLDistributionPoints)
    name = cdp.value[0].full_name
    assert name is not None
    return str(name[0].value)


def path_of(url: str) -> str:
    """The path part of a URL the server put in a certificate (it is on this server)."""
    return urlsplit(url).path


# -- external tools ----------------------------------------------------------------------------
def openssl(*args: str, check: bool = True, cwd: Path | None = None) -> str:
    """Run openssl; returns stdout + stderr (openssl prints its verdicts on both)."""
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, cwd=cwd)
    out = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, f"openssl {' '.join(args)} failed:\n{out}"
    return out


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def lint_tool(name: str) -> str:
    """A pkilint console script from this interpreter's environment."""
    tool = Path(sys.executable).parent / name
    assert tool.exists(), f"{tool} missing: install the dev extras (pkilint)"
    return str(tool)


def lint(tool: str, path: Path, *extra: str) -> list[dict[str, Any]]:
    """Findings of severity WARNING or worse reported by a pkilint tool for one document."""
    proc = subprocess.run(
        [lint_tool(tool), "lint", *extra, "-s", "WARNING", "-f", "JSON", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.strip(), f"{tool} gave no output (rc {proc.returncode}):\n{proc.stderr}"
    report = json.loads(proc.stdout)
    findings: list[dict[str, Any]] = []
    for result in report.get("results", []):
        for f in result.get("finding_descriptions", []):
            findings.append({"node_path": result.get("node_path"), **f})
    if proc.returncode != 0:
        assert findings, f"{tool} failed without findings:\n{proc.stdout}{proc.stderr}"
    return findings


def poll(fetch: Callable[[], T], done: Callable[[T], bool], seconds: float = 10.0) -> T:
    """Call `fetch` until `done(value)` or the deadline; returns the last value either way."""
    deadline = time.monotonic() + seconds
    value = fetch()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = fetch()
    return value
