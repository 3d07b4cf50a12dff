"""The PKI against real clients over HTTP on loopback: `openssl verify`, `openssl ocsp` (POST,
GET and nonce), `openssl crl`, Python `ssl` handshakes (server auth and mutual TLS), several key
types, an intermediate signed by an external openssl root, and a CA rollover."""

from __future__ import annotations

import base64
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec as ec_keys
from cryptography.x509 import ocsp

from tests.conftest import ServerProcess, dev_root_token, start_server
from tests.pki_helpers import (
    create_ca,
    crl_url_of,
    issue,
    load_cert,
    ocsp_url_of,
    ok,
    openssl,
    path_of,
    poll,
    put_profile,
    revoke,
    write,
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = start_server(tmp_path_factory.mktemp("pki-clients") / "d", "--dev")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def root(srv: ServerProcess) -> Iterator[httpx.Client]:
    with srv.client(dev_root_token(srv)) as c:
        yield c


@dataclass
class Chain:
    """A root, an intermediate under it and a profile issuing from the intermediate, with the
    CA certificates written as PEM files."""

    root_name: str
    int_name: str
    profile: str
    dir: Path
    root_ca: dict[str, Any] = field(default_factory=dict)
    int_ca: dict[str, Any] = field(default_factory=dict)

    @property
    def root_pem(self) -> Path:
        return self.dir / "root.pem"

    @property
    def int_pem(self) -> Path:
        return self.dir / "int.pem"


def make_chain(
    c: httpx.Client,
    tmp: Path,
    prefix: str,
    key_type: str = "ec-p256",
    ocsp_signer: str | None = None,
    **profile: Any,
) -> Chain:
    """`ocsp_signer` None leaves the intermediate's responder at the server's default."""
    chain = Chain(f"{prefix}-root", f"{prefix}-int", f"{prefix}-web", tmp / prefix)
    chain.dir.mkdir()
    chain.root_ca = create_ca(c, chain.root_name, key_type=key_type)
    signer = {"ocsp_signer": ocsp_signer} if ocsp_signer is not None else {}
    chain.int_ca = create_ca(
        c, chain.int_name, "intermediate", parent=chain.root_name, key_type=key_type, **signer
    )
    write(chain.root_pem, chain.root_ca["certificate_pem"])
    write(chain.int_pem, chain.int_ca["certificate_pem"])
    put_profile(c, chain.profile, chain.int_name, **profile)
    return chain


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki-files")


@pytest.fixture(scope="module")
def ec(root: httpx.Client, tmp: Path) -> Chain:
    return make_chain(root, tmp, "ec")


def _leaf(c: httpx.Client, chain: Chain, name: str, **fields: Any) -> tuple[dict[str, Any], Path]:
    issued = issue(c, chain.profile, **fields)
    path = write(chain.dir / f"{name}.pem", issued["certificate_pem"])
    if issued.get("private_key"):
        write(chain.dir / f"{name}.key", issued["private_key"])
    return issued, path


def _ocsp(chain: Chain, leaf: Path, url: str, *extra: str) -> str:
    return openssl(
        "ocsp", "-issuer", str(chain.int_pem), "-cert", str(leaf), "-url", url,
        "-CAfile", str(chain.root_pem), *extra,
    )  # fmt: skip


def _status(out: str, leaf: Path) -> str | None:
    m = re.search(rf"^{re.escape(str(leaf))}: (\w+)$", out, re.MULTILINE)
    return m.group(1) if m else None


# -- chain verification ------------------------------------------------------------------------
def test_openssl_verifies_root_intermediate_leaf(root: httpx.Client, ec: Chain) -> None:
    issued, leaf = _leaf(root, ec, "verify", common_name="verify.example.test")
    out = openssl("verify", "-CAfile", str(ec.root_pem), "-untrusted", str(ec.int_pem), str(leaf))
    assert f"{leaf}: OK" in out
    # the chain the server hands out is the intermediate then the root
    chain = x509.load_pem_x509_certificates(issued["chain_pem"].encode())
    expected = [load_cert(ca["certificate_pem"]).subject for ca in (ec.int_ca, ec.root_ca)]
    assert [c.subject for c in chain] == expected
    # without the intermediate the leaf does not chain to the root
    out = openssl("verify", "-CAfile", str(ec.root_pem), str(leaf), check=False)
    assert f"{leaf}: OK" not in out


# -- OCSP ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("signer", ["delegated", "ca"])
def test_openssl_ocsp_good_then_revoked(
    root: httpx.Client, tmp: Path, srv: ServerProcess, signer: str
) -> None:
    # "delegated" is the default: the CA is created without naming a signer
    chain = make_chain(
        root, tmp, f"ocsp-{signer}", ocsp_signer=None if signer == "delegated" else signer
    )
    assert chain.int_ca["ocsp_signer"] == signer
    issued, leaf = _leaf(root, chain, "leaf", common_name="ocsp.example.test")
    url = ocsp_url_of(issued["certificate_pem"])
    assert url == chain.int_ca["ocsp_url"]
    assert url.startswith(srv.addr)

    out = _ocsp(chain, leaf, url)  # openssl sends a nonce by default and checks the echo
    assert _status(out, leaf) == "good", out
    assert "Response verify OK" in out, out
    assert "nonce" not in out.lower(), out  # "WARNING: no nonce in response" / "Nonce Verify error"

    revoke(root, issued["certificate"]["id"], "key_compromise")
    out = poll(lambda: _ocsp(chain, leaf, url), lambda o: _status(o, leaf) != "good")
    assert _status(out, leaf) == "revoked", out
    assert "Reason: keyCompromise" in out, out
    assert "Response verify OK" in out, out

    # who signed: the delegated responder certificate is in the response, or the CA itself
    der = _post_ocsp(root, url, _request(chain, issued, nonce=None))
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    if signer == "delegated":
        assert len(resp.certificates) == 1
        assert resp.certificates[0].subject.rfc4514_string().startswith("CN=OCSP responder")
    else:
        assert resp.certificates == []
        assert resp.responder_key_hash == _key_hash(chain.int_ca["certificate_pem"])


def test_ocsp_get_form_and_nonce_echo(root: httpx.Client, ec: Chain) -> None:
    issued, leaf = _leaf(root, ec, "get", common_name="get.example.test")
    url = ocsp_url_of(issued["certificate_pem"])

    # RFC 6960 A.1 GET: the request from openssl, base64 in the path, checked by openssl
    req = ec.dir / "get-req.der"
    openssl(
        "ocsp", "-issuer", str(ec.int_pem), "-cert", str(leaf), "-no_nonce",
        "-reqout", str(req),
    )  # fmt: skip
    encoded = base64.b64encode(req.read_bytes()).decode()
    r = root.get(path_of(url) + "/" + encoded.replace("/", "%2F").replace("+", "%2B"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/ocsp-response"
    # clients that do not escape '/' and '+' get the same answer
    raw = root.get(path_of(url) + "/" + encoded)
    raw_status = ocsp.load_der_ocsp_response(raw.content).certificate_status
    assert raw.status_code == 200 and raw_status == ocsp.OCSPCertStatus.GOOD
    resp_file = write(ec.dir / "get-resp.der", r.content)
    out = openssl(
        "ocsp", "-reqin", str(req), "-respin", str(resp_file), "-issuer", str(ec.int_pem),
        "-cert", str(leaf), "-CAfile", str(ec.root_pem),
    )  # fmt: skip
    assert _status(out, leaf) == "good", out
    assert "Response verify OK" in out, out

    # nonce echo (RFC 8954), checked byte for byte, and the response signature verifies
    nonce = bytes(range(1, 17))
    der = _post_ocsp(root, url, _request(ec, issued, nonce=nonce))
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    echoed = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert echoed == nonce
    responder = resp.certificates[0]
    pub = responder.public_key()
    assert isinstance(pub, ec_keys.EllipticCurvePublicKey)
    pub.verify(
        resp.signature, resp.tbs_response_bytes, ec_keys.ECDSA(resp.signature_hash_algorithm)
    )
    responder.verify_directly_issued_by(load_cert(ec.int_ca["certificate_pem"]))


def _request(chain: Chain, issued: dict[str, Any], nonce: bytes | None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        load_cert(issued["certificate_pem"]),
        load_cert(chain.int_ca["certificate_pem"]),
        hashes.SHA1(),
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _post_ocsp(c: httpx.Client, url: str, der: bytes) -> bytes:
    r = c.post(path_of(url), content=der, headers={"content-type": "application/ocsp-request"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/ocsp-response"
    return r.content


def _key_hash(pem: str) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(load_cert(pem).public_key()).digest


# -- CRL -----------------------------------------------------------------------------------------
def _crl(c: httpx.Client, url: str) -> x509.CertificateRevocationList:
    r = c.get(path_of(url))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pkix-crl"
    return x509.load_der_x509_crl(r.content)


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_crl_lists_revoked_serial_with_reason(root: httpx.Client, ec: Chain) -> None:
    issued, leaf = _leaf(root, ec, "crl", common_name="crl.example.test")
    url = crl_url_of(issued["certificate_pem"])
    assert url == ec.int_ca["crl_url"]
    before = _crl_number(_crl(root, url))
    serial = int(issued["certificate"]["serial"], 16)

    revoke(root, issued["certificate"]["id"], "superseded")
    crl = poll(
        lambda: _crl(root, url),
        lambda x: _crl_number(x) > before and x.get_revoked_certificate_by_serial_number(serial)
        is not None,
    )  # fmt: skip
    assert _crl_number(crl) > before
    path = write(ec.dir / "crl.der", crl.public_bytes(serialization.Encoding.DER))
    text = openssl("crl", "-inform", "DER", "-in", str(path), "-text", "-noout")
    hexed = f"{serial:X}"
    hexed = hexed.zfill(len(hexed) + len(hexed) % 2)  # openssl prints whole octets
    ours = [b for b in text.split("Serial Number: ") if b.startswith(hexed + "\n")]
    assert len(ours) == 1, text
    assert "X509v3 CRL Reason Code" in ours[0] and "Superseded" in ours[0], text
    # openssl checks the CRL signature with the issuing CA
    out = openssl("crl", "-inform", "DER", "-in", str(path), "-CAfile", str(ec.int_pem), "-noout")
    assert "verify OK" in out, out
    # and rejects the revoked certificate when CRL checking is on
    root_crl = write(ec.dir / "root-crl.der", root.get(path_of(ec.root_ca["crl_url"])).content)
    bundle = write(
        ec.dir / "crls.pem",
        openssl("crl", "-inform", "DER", "-in", str(path))
        + openssl("crl", "-inform", "DER", "-in", str(root_crl)),
    )
    out = openssl(
        "verify", "-crl_check_all", "-CRLfile", str(bundle), "-CAfile", str(ec.root_pem),
        "-untrusted", str(ec.int_pem), str(leaf), check=False,
    )  # fmt: skip
    assert "certificate revoked" in out, out


# -- TLS with Python's ssl -------------------------------------------------------------------------
@dataclass
class TLSOutcome:
    server_error: str | None = None
    peer: dict[str, Any] | None = None


class OneShotTLSServer:
    """Accepts TLS connections on 127.0.0.1 in a thread; records each handshake's outcome."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)  # so `close` is noticed promptly
        self.port = int(self._sock.getsockname()[1])
        self.outcomes: list[TLSOutcome] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stop = False
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            outcome = TLSOutcome()
            try:
                with self._ctx.wrap_socket(conn, server_side=True) as tls:
                    outcome.peer = tls.getpeercert() or None  # type: ignore[assignment]
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as exc:
                outcome.server_error = str(exc)
            self.outcomes.append(outcome)

    def connect(self, ctx: ssl.SSLContext, hostname: str) -> bytes:
        """Handshake and read the server's greeting; raises what the client sees."""
        count = len(self.outcomes)
        try:
            with (
                socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw,
                ctx.wrap_socket(raw, server_hostname=hostname) as tls,
            ):
                return tls.recv(16)
        finally:
            poll(lambda: len(self.outcomes), lambda n: n > count, seconds=10)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=10)
        self._sock.close()


def test_python_ssl_server_auth_with_hostname_check(root: httpx.Client, ec: Chain) -> None:
    issued, _ = _leaf(root, ec, "localhost", common_name="localhost")
    full = write(ec.dir / "localhost-full.pem", issued["certificate_pem"] + issued["chain_pem"])
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(full, ec.dir / "localhost.key")
    server = OneShotTLSServer(server_ctx)
    try:
        client_ctx = ssl.create_default_context(cafile=str(ec.root_pem))
        assert client_ctx.check_hostname and client_ctx.verify_mode == ssl.CERT_REQUIRED
        assert server.connect(client_ctx, "localhost") == b"ok"
        assert server.outcomes[-1].server_error is None

        with pytest.raises(ssl.SSLCertVerificationError) as err:
            server.connect(client_ctx, "other.example.test")
        assert "hostname" in str(err.value).lower() or "match" in str(err.value).lower()

        # a client trusting another root refuses the chain
        other = ssl.create_default_context(cafile=str(_other_root(root, ec.dir)))
        with pytest.raises(ssl.SSLCertVerificationError):
            server.connect(other, "localhost")
    finally:
        server.close()


def _other_root(c: httpx.Client, d: Path) -> Path:
    ca = create_ca(c, "unrelated-root")
    return write(d / "unrelated-root.pem", ca["certificate_pem"])


def test_mutual_tls_with_client_profile(root: httpx.Client, ec: Chain) -> None:
    put_profile(root, "mtls-client", ec.int_name, usage="client")
    put_profile(root, "mtls-server", ec.int_name, usage="server")
    srv_cert = issue(root, "mtls-server", common_name="localhost")
    cli_cert = issue(root, "mtls-client", common_name="agent-1.example.test")
    eku = load_cert(cli_cert["certificate_pem"]).extensions.get_extension_for_class(
        x509.ExtendedKeyUsage
    )
    assert list(eku.value) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]

    write(ec.dir / "mtls-srv.pem", srv_cert["certificate_pem"] + srv_cert["chain_pem"])
    write(ec.dir / "mtls-srv.key", srv_cert["private_key"])
    write(ec.dir / "mtls-cli.pem", cli_cert["certificate_pem"] + cli_cert["chain_pem"])
    write(ec.dir / "mtls-cli.key", cli_cert["private_key"])

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(ec.dir / "mtls-srv.pem", ec.dir / "mtls-srv.key")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(cafile=str(ec.root_pem))
    server = OneShotTLSServer(server_ctx)
    try:
        client_ctx = ssl.create_default_context(cafile=str(ec.root_pem))
        client_ctx.load_cert_chain(ec.dir / "mtls-cli.pem", ec.dir / "mtls-cli.key")
        assert server.connect(client_ctx, "localhost") == b"ok"
        seen = server.outcomes[-1]
        assert seen.server_error is None and seen.peer is not None
        assert (("commonName", "agent-1.example.test"),) in seen.peer["subject"]

        # a server certificate (serverAuth only) is refused as a client certificate
        srv_as_client = ssl.create_default_context(cafile=str(ec.root_pem))
        srv_as_client.load_cert_chain(ec.dir / "mtls-srv.pem", ec.dir / "mtls-srv.key")
        with pytest.raises((ssl.SSLError, OSError)):
            assert server.connect(srv_as_client, "localhost") == b"ok"
        assert server.outcomes[-1].server_error is not None

        # no client certificate: the server refuses (TLS 1.3 reports it on the first read)
        bare = ssl.create_default_context(cafile=str(ec.root_pem))
        with pytest.raises((ssl.SSLError, OSError)):
            assert server.connect(bare, "localhost") == b"ok"
        error = server.outcomes[-1].server_error
        assert error is not None and "certificate" in error.lower(), error
    finally:
        server.close()


# -- key types -----------------------------------------------------------------------------------
@pytest.mark.parametrize("key_type", ["ed25519", "ec-p384", "rsa-3072"])
def test_key_types_verify_with_openssl(root: httpx.Client, tmp: Path, key_type: str) -> None:
    chain = make_chain(
        root, tmp, f"kt-{key_type}", key_type=key_type, default_key_type=key_type,
        allowed_key_types=[key_type],
    )  # fmt: skip
    assert chain.int_ca["key_type"] == key_type
    issued, leaf = _leaf(root, chain, "leaf", common_name=f"{key_type}.example.test")
    out = openssl(
        "verify", "-CAfile", str(chain.root_pem), "-untrusted", str(chain.int_pem), str(leaf)
    )
    assert f"{leaf}: OK" in out
    text = openssl("x509", "-in", str(leaf), "-noout", "-text")
    expected = {"ed25519": "ED25519", "ec-p384": "P-384", "rsa-3072": "(3072 bit)"}[key_type]
    assert expected in text
    # the responder signs with the same algorithm and openssl accepts it
    out = _ocsp(chain, leaf, ocsp_url_of(issued["certificate_pem"]))
    assert _status(out, leaf) == "good", out
    assert "Response verify OK" in out, out


# -- external intermediate -------------------------------------------------------------------------
EXT_CNF = """\
[v3_int]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def _external_root(d: Path) -> tuple[Path, Path]:
    """An external root made with openssl: (key, certificate)."""
    d.mkdir()
    ext_key, ext_root = d / "ext-root.key", d / "ext-root.pem"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(ext_key), "-out", str(ext_root), "-subj", "/O=Elsewhere/CN=External Root",
        "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    write(d / "ext.cnf", EXT_CNF)
    return ext_key, ext_root


def _external_sign(d: Path, csr_pem: str, *subject: str) -> Path:
    """`openssl x509 -req` with CA extensions; `subject` ("-subj", DN) overrides the CSR's."""
    key, root = d / "ext-root.key", d / "ext-root.pem"
    csr, signed = write(d / "int.csr", csr_pem), d / "int.pem"
    assert "verify OK" in openssl("req", "-in", str(csr), "-verify", "-noout")
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(root), "-CAkey", str(key),
        "-set_serial", "0x1234567890abcdef", "-days", "20", "-sha256",
        "-extfile", str(d / "ext.cnf"), "-extensions", "v3_int", "-out", str(signed), *subject,
    )  # fmt: skip
    return signed


def test_external_intermediate_signed_by_openssl_root(root: httpx.Client, tmp: Path) -> None:
    d = tmp / "external"
    _, ext_root = _external_root(d)

    pending = create_ca(root, "ext-int", "intermediate", common_name="Tessera Issuing")
    assert pending["status"] == "pending" and pending["certificate_pem"] is None
    assert pending["csr_pem"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    # a pending CA cannot issue yet
    put_profile(root, "ext-web", "ext-int")
    r = root.post("/v1/pki/issue/ext-web", json={"common_name": "early.example.test"})
    assert r.status_code == 409, r.text

    signed = _external_sign(d, pending["csr_pem"])
    imported = ok(
        root.post(
            "/v1/pki/cas/ext-int/import",
            json={"certificate": signed.read_text(), "chain": ext_root.read_text()},
        )
    )
    assert imported["status"] == "active" and imported["csr_pem"] is None

    issued = issue(root, "ext-web", common_name="ext.example.test")
    leaf = write(d / "leaf.pem", issued["certificate_pem"])
    untrusted = write(d / "untrusted.pem", issued["chain_pem"])
    out = openssl("verify", "-CAfile", str(ext_root), "-untrusted", str(untrusted), str(leaf))
    assert f"{leaf}: OK" in out
    # the chain it hands out ends with the external root
    assert load_cert(issued["chain_pem"]).subject.rfc4514_string() == "CN=Tessera Issuing"
    assert issued["chain_pem"].count("BEGIN CERTIFICATE") == 2
    # and its OCSP responder is trusted through the external root
    out = openssl(
        "ocsp", "-issuer", str(signed), "-cert", str(leaf), "-url",
        ocsp_url_of(issued["certificate_pem"]), "-CAfile", str(ext_root),
    )  # fmt: skip
    assert _status(out, leaf) == "good", out
    assert "Response verify OK" in out, out


def test_external_root_may_set_the_subject(root: httpx.Client, tmp: Path) -> None:
    d = tmp / "external-renamed"
    _, ext_root = _external_root(d)
    pending = create_ca(root, "ext-renamed", "intermediate", common_name="Asked For")
    signed = _external_sign(d, pending["csr_pem"], "-subj", "/O=Elsewhere/CN=Given")
    given = x509.load_pem_x509_certificate(signed.read_bytes()).subject.rfc4514_string()
    assert given == "CN=Given,O=Elsewhere"
    imported = ok(
        root.post(
            "/v1/pki/cas/ext-renamed/import",
            json={"certificate": signed.read_text(), "chain": ext_root.read_text()},
        )
    )
    assert imported["status"] == "active"
    assert imported["subject"] == given


# -- rollover ----------------------------------------------------------------------------------
def test_rollover_moves_issuance_and_old_ca_keeps_answering(root: httpx.Client, tmp: Path) -> None:
    chain = make_chain(root, tmp, "roll")
    old_issued, old_leaf = _leaf(root, chain, "old", common_name="old.example.test")
    old_url = ocsp_url_of(old_issued["certificate_pem"])

    new_ca = ok(root.post(f"/v1/pki/cas/{chain.int_name}/rollover", json={"new_name": "roll-int2"}))
    assert new_ca["name"] == "roll-int2" and new_ca["status"] == "active"
    assert new_ca["id"] != chain.int_ca["id"]
    old_ca = ok(root.get(f"/v1/pki/cas/{chain.int_name}"))
    assert old_ca["status"] == "retired" and old_ca["successor_id"] == new_ca["id"]
    assert ok(root.get(f"/v1/pki/profiles/{chain.profile}"))["issuer"] == "roll-int2"

    new_issued = issue(root, chain.profile, common_name="new.example.test")
    assert new_issued["certificate"]["ca"] == "roll-int2"
    new_leaf = write(chain.dir / "new.pem", new_issued["certificate_pem"])
    new_int = write(chain.dir / "int2.pem", new_ca["certificate_pem"])
    out = openssl(
        "verify", "-CAfile", str(chain.root_pem), "-untrusted", str(new_int), str(new_leaf)
    )
    assert f"{new_leaf}: OK" in out
    assert ocsp_url_of(new_issued["certificate_pem"]) == new_ca["ocsp_url"] != old_url

    # the retired CA still answers for what it issued: good, then revoked
    out = _ocsp(chain, old_leaf, old_url)
    assert _status(out, old_leaf) == "good", out
    assert "Response verify OK" in out, out
    revoke(root, old_issued["certificate"]["id"], "cessation_of_operation")
    out = poll(lambda: _ocsp(chain, old_leaf, old_url), lambda o: _status(o, old_leaf) != "good")
    assert _status(out, old_leaf) == "revoked", out
    assert "Response verify OK" in out, out
    # and its CRL lists the revocation
    serial = int(old_issued["certificate"]["serial"], 16)
    crl = poll(
        lambda: _crl(root, old_ca["crl_url"]),
        lambda x: x.get_revoked_certificate_by_serial_number(serial) is not None,
    )
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
