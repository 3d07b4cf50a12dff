"""External JWT verification: a test issuer serves its JWKS over real HTTP on loopback; every
bad-input case is refused with InvalidToken naming the check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tessera.auth import jwtverify
from tessera.auth.jwtverify import (
    MAX_TOKEN_BYTES,
    InvalidToken,
    JwksUnavailable,
    JwtVerifier,
    TrustedIssuer,
)
from tessera.core.clock import FakeClock
from tessera.core.errors import InvalidRequest

ISS = "https://ci.example.test"
AUD = "tessera.example.test"


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    algo = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = json.loads(algo.to_jwk(key.public_key()))
    jwk.update(kid=kid, use="sig")
    return jwk


class Issuer:
    """A test OIDC issuer: signing keys and a JWKS document served on 127.0.0.1."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rotated = ec.generate_private_key(ec.SECP256R1())
        self.keys = [public_jwk(self.rsa, "rsa-1"), public_jwk(self.ec, "ec-1")]
        self.fetches = 0
        self.body_override: bytes | None = None
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                body = issuer.body_override or json.dumps({"keys": issuer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    srv = Issuer()
    yield srv
    srv.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(clock: FakeClock, issuer: Issuer) -> JwtVerifier:
    issuer.keys = [public_jwk(issuer.rsa, "rsa-1"), public_jwk(issuer.ec, "ec-1")]
    issuer.body_override = None
    return JwtVerifier(clock, timeout=5)


@pytest.fixture
def trusted(issuer: Issuer) -> TrustedIssuer:
    return TrustedIssuer(issuer=ISS, jwks_url=issuer.jwks_url, algorithms=("RS256", "ES256"))


def claims(clock: FakeClock, **over: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    base = {
        "iss": ISS,
        "aud": AUD,
        "sub": "repo:acme/web:ref:refs/heads/main",
        "repository": "acme/web",
        "ref": "refs/heads/main",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, body: dict[str, Any], kid: str = "rsa-1", **headers: Any) -> str:
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid, "typ": "JWT", **headers})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], body: dict[str, Any], mac_key: bytes | None) -> str:
    """A token built by hand: PyJWT itself refuses to MAC with a public key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    sig = b"" if mac_key is None else hmac.new(mac_key, signing_input.encode(), hashlib.sha256)
    return signing_input + "." + (b64(sig.digest()) if mac_key is not None else "")  # type: ignore[union-attr]


def refused(
    verifier: JwtVerifier, token: str, trusted: TrustedIssuer, match: str, **kw: Any
) -> None:
    with pytest.raises(InvalidToken, match=match):
        verifier.verify(token, trusted, kw.pop("audience", AUD), **kw)


# -- accepted ---------------------------------------------------------------------------------


def test_ci_token_verifies_against_jwks_over_http(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    before = issuer.fetches
    got = verifier.verify(sign(issuer.rsa, claims(clock)), trusted, AUD, typ="JWT")
    assert got["repository"] == "acme/web"
    got = verifier.verify(sign(issuer.ec, claims(clock), kid="ec-1"), trusted, AUD)
    assert got["ref"] == "refs/heads/main"
    assert issuer.fetches == before + 1  # cached for the second token


def test_aud_array_containing_the_audience_is_accepted(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    token = sign(issuer.rsa, claims(clock, aud=["other", AUD]))
    assert verifier.verify(token, trusted, AUD)["aud"] == ["other", AUD]
    assert verifier.verify(token, trusted, ("x", "other"))["sub"]


def test_key_rotation_new_kid_triggers_one_refetch(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    verifier.verify(sign(issuer.rsa, claims(clock)), trusted, AUD)
    issuer.keys = [*issuer.keys, public_jwk(issuer.rotated, "ec-2")]
    clock.advance(trusted.jwks_min_refresh)
    before = issuer.fetches
    token = sign(issuer.rotated, claims(clock), kid="ec-2")
    assert verifier.verify(token, trusted, AUD)["sub"]
    assert issuer.fetches == before + 1


def test_unknown_kid_refetch_is_rate_limited(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    verifier.verify(sign(issuer.rsa, claims(clock)), trusted, AUD)
    clock.advance(trusted.jwks_min_refresh)
    before = issuer.fetches
    for _ in range(5):
        refused(verifier, sign(issuer.rsa, claims(clock), kid="nope"), trusted, "kid names no key")
    assert issuer.fetches == before + 1


def test_static_keys_issuer(verifier: JwtVerifier, issuer: Issuer, clock: FakeClock) -> None:
    static = TrustedIssuer(
        issuer=ISS, static_keys=(public_jwk(issuer.ec, "k"),), algorithms=("ES256",)
    )
    assert verifier.verify(sign(issuer.ec, claims(clock), kid="k"), static, AUD)["sub"]
    refused(verifier, sign(issuer.rsa, claims(clock), kid="k"), static, "does not allow alg")


# -- refused ----------------------------------------------------------------------------------


def test_alg_none(verifier: JwtVerifier, trusted: TrustedIssuer, clock: FakeClock) -> None:
    token = hand_made({"alg": "none", "kid": "rsa-1", "typ": "JWT"}, claims(clock), None)
    refused(verifier, token, trusted, "alg is not allowed")


@pytest.mark.parametrize("form", ["pem", "der", "jwk"])
def test_hs256_maced_with_the_public_key(
    form: str, verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    pub = issuer.rsa.public_key()
    mac_key = {
        "pem": pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": pub.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk": json.dumps(public_jwk(issuer.rsa, "rsa-1")).encode(),
    }[form]
    token = hand_made({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, claims(clock), mac_key)
    refused(verifier, token, trusted, "alg is not allowed")
    # even an issuer configured to allow it cannot exist
    with pytest.raises(InvalidRequest):
        TrustedIssuer(issuer=ISS, jwks_url=trusted.jwks_url, algorithms=("RS256", "HS256"))


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c"])
def test_key_carrying_headers(
    header: str, verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    value: Any = {
        "jku": "https://evil.test/jwks",
        "x5u": "https://evil.test/cert.pem",
        "jwk": public_jwk(issuer.rsa, "rsa-1"),
        "x5c": ["MIIB"],
    }[header]
    token = sign(issuer.rsa, claims(clock), **{header: value})
    refused(verifier, token, trusted, f"the {header} header is not accepted")


def test_unknown_kid(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    refused(verifier, sign(issuer.rsa, claims(clock), kid="missing"), trusted, "kid names no key")


def test_bad_signature(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    forged = sign(issuer.rotated, claims(clock), kid="ec-1")  # right kid, someone else's key
    refused(verifier, forged, trusted, "signature does not verify")


def test_kid_of_another_key_type(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    refused(verifier, sign(issuer.rsa, claims(clock), kid="ec-1"), trusted, "not a key for RS256")


def test_alg_outside_issuer_allowlist(
    verifier: JwtVerifier, issuer: Issuer, clock: FakeClock
) -> None:
    only_rsa = TrustedIssuer(issuer=ISS, jwks_url=issuer.jwks_url, algorithms=("RS256",))
    refused(
        verifier, sign(issuer.ec, claims(clock), kid="ec-1"), only_rsa, "does not allow alg ES256"
    )


def test_expired(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    token = sign(issuer.rsa, claims(clock))
    clock.advance(timedelta(seconds=300) + trusted.leeway)
    refused(verifier, token, trusted, "expired")


def test_missing_exp(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    refused(verifier, sign(issuer.rsa, claims(clock, exp=None)), trusted, "no valid exp")


def test_not_yet_valid(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    later = int(clock.now().timestamp()) + 120
    token = sign(issuer.rsa, claims(clock, nbf=later, iat=None, exp=later + 300))
    refused(verifier, token, trusted, "not valid yet")
    clock.advance(120 - 30)  # within the leeway it is accepted
    assert verifier.verify(token, trusted, AUD)["sub"]


def test_wrong_issuer(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    token = sign(issuer.rsa, claims(clock, iss=ISS + "/"))  # exact match, not a prefix
    refused(verifier, token, trusted, "issuer is not the expected one")


def test_missing_aud(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    refused(verifier, sign(issuer.rsa, claims(clock, aud=None)), trusted, "no valid aud")


def test_wrong_aud_string(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    refused(verifier, sign(issuer.rsa, claims(clock, aud=AUD.upper())), trusted, "not meant for")


def test_wrong_aud_array(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    token = sign(issuer.rsa, claims(clock, aud=["a", AUD + ".evil"]))
    refused(verifier, token, trusted, "not meant for")


def test_wrong_typ(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    token = sign(issuer.rsa, claims(clock), typ="at+jwt")
    refused(verifier, token, trusted, "typ is not JWT", typ="JWT")
    assert verifier.verify(token, trusted, AUD, typ="application/AT+JWT")["sub"]


def test_oversized_token_refused_before_parsing(
    verifier: JwtVerifier,
    trusted: TrustedIssuer,
    issuer: Issuer,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed = []
    monkeypatch.setattr(jwtverify.jwt, "get_unverified_header", lambda t: parsed.append(t))
    token = sign(issuer.rsa, claims(clock, pad="x" * MAX_TOKEN_BYTES))
    refused(verifier, token, trusted, "too large")
    assert parsed == []


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "é.é.é", "eyJhbGciOiJSUzI1NiJ9..x"])
def test_malformed(token: str, verifier: JwtVerifier, trusted: TrustedIssuer) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(token, trusted, AUD)


# -- issuers and key sets -------------------------------------------------------------------


def test_trusted_issuer_refuses_symmetric_private_and_keyless() -> None:
    with pytest.raises(InvalidRequest):
        TrustedIssuer(issuer=ISS)
    with pytest.raises(InvalidRequest):
        TrustedIssuer(issuer=ISS, static_keys=({"kty": "oct", "k": "c2VjcmV0"},))
    priv = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(InvalidRequest):
        TrustedIssuer(issuer=ISS, static_keys=(priv,), algorithms=("ES256",))
    with pytest.raises(InvalidRequest):
        TrustedIssuer(issuer=ISS, jwks_url="file:///etc/passwd")


def test_oversized_jwks_is_refused(verifier: JwtVerifier, issuer: Issuer, clock: FakeClock) -> None:
    issuer.body_override = b'{"keys": [' + b" " * (300 * 1024) + b"]}"
    fresh = TrustedIssuer(issuer=ISS, jwks_url=issuer.jwks_url + "?big")
    with pytest.raises(JwksUnavailable):
        verifier.verify(sign(issuer.rsa, claims(clock)), fresh, AUD)


def test_failed_refetch_keeps_the_cached_keys(
    verifier: JwtVerifier, trusted: TrustedIssuer, issuer: Issuer, clock: FakeClock
) -> None:
    verifier.verify(sign(issuer.rsa, claims(clock)), trusted, AUD)
    issuer.body_override = b"not json"
    clock.advance(timedelta(hours=2))  # past the cache's max age: a refetch is due and fails
    assert verifier.verify(sign(issuer.rsa, claims(clock)), trusted, AUD)["sub"]
