"""Standard and labelled vectors: RFC 4231 HMAC-SHA256 (the keyed token hash) and token samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tessera.auth import tokens

SAMPLES = json.loads((Path(__file__).parent / "token_samples.json").read_text())["samples"]


# RFC 4231 section 4.3 (test case 2) and 4.7 (test case 6); ASCII data, as tokens are
@pytest.mark.parametrize(
    ("key", "data", "expected"),
    [
        (
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            b"\xaa" * 131,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ],
)
def test_token_hash_is_rfc4231_hmac_sha256(key: bytes, data: bytes, expected: str) -> None:
    assert tokens.token_hash(key, data.decode("ascii")).hex() == expected


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["why"] for s in SAMPLES])
def test_token_samples(sample: dict[str, object]) -> None:
    assert tokens.well_formed(str(sample["token"])) is sample["valid"]


def test_generated_tokens_match_the_documented_shape() -> None:
    class Counter:
        n = 0

        def token_bytes(self, k: int) -> bytes:
            self.n += 1
            return bytes([self.n]) * k

    rng = Counter()
    tok = tokens.generate_token(rng)
    assert tokens.TOKEN_RE.fullmatch(tok)
    assert tokens.well_formed(tok)
    assert tok != tokens.generate_token(rng)
