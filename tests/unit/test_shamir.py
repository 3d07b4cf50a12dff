"""Shamir secret sharing over GF(2^8): round trips, refusals, field laws, a hand vector."""

from __future__ import annotations

import random
from itertools import combinations

import pytest

from tessera.barrier.shamir import ShamirError, _gf_inv, _gf_mul, combine, split
from tessera.core.randomness import SystemRandomness

SECRET = bytes(range(0xA0, 0xC0))  # 32 bytes, like the root key


class FixedRandomness:
    """Deterministic `Randomness`: hands out `data` in order and records each request."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.requests: list[int] = []

    def token_bytes(self, n: int) -> bytes:
        self.requests.append(n)
        out, self.data = self.data[:n], self.data[n:]
        assert len(out) == n, "test supplied too few random bytes"
        return out


class NonZeroRandomness:
    """Seeded bytes in 1..255: every polynomial then has its full degree."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def token_bytes(self, n: int) -> bytes:
        return bytes(self._rng.randint(1, 255) for _ in range(n))


def _slow_mul(a: int, b: int) -> int:
    """Reference: carry-less product, then long division by x^8 + x^4 + x^3 + x + 1."""
    p = 0
    for i in range(8):
        if (b >> i) & 1:
            p ^= a << i
    for bit in range(14, 7, -1):
        if (p >> bit) & 1:
            p ^= 0x11B << (bit - 8)
    return p


# --- round trips ---------------------------------------------------------------------------


def test_three_of_five_every_subset_of_three_four_and_five() -> None:
    parts = split(SECRET, shares=5, threshold=3, rng=SystemRandomness())
    assert len(parts) == 5
    assert [p[0] for p in parts] == [1, 2, 3, 4, 5]
    assert all(len(p) == len(SECRET) + 1 for p in parts)
    checked = 0
    for size in (3, 4, 5):
        for subset in combinations(parts, size):
            assert combine(subset) == SECRET
            assert combine(list(reversed(subset))) == SECRET
            checked += 1
    assert checked == 10 + 5 + 1


def test_fewer_than_threshold_shares_do_not_reconstruct() -> None:
    # With a nonzero top coefficient a, interpolating t-1 points of f gives
    # f(0) - a * prod(x_j) != f(0), so *every* byte of the result is wrong.
    parts = split(SECRET, shares=5, threshold=3, rng=NonZeroRandomness(7))
    for subset in combinations(parts, 2):
        wrong = combine(subset)
        assert len(wrong) == len(SECRET)
        assert all(w != s for w, s in zip(wrong, SECRET, strict=True))


def test_single_shares_of_threshold_two_do_not_reconstruct() -> None:
    parts = split(SECRET, shares=4, threshold=2, rng=NonZeroRandomness(11))
    for part in parts:
        # One point interpolates to the constant y: the share body, not the secret.
        assert combine([part]) == part[1:] != SECRET
        assert all(b != s for b, s in zip(part[1:], SECRET, strict=True))


def test_one_of_one_share_is_the_secret() -> None:
    rng = FixedRandomness(b"")
    parts = split(b"\x00\xffroot", shares=1, threshold=1, rng=rng)
    assert parts == [b"\x01\x00\xffroot"]
    assert combine(parts) == b"\x00\xffroot"


def test_threshold_one_every_share_carries_the_secret() -> None:
    parts = split(SECRET, shares=3, threshold=1, rng=SystemRandomness())
    assert parts == [bytes([x]) + SECRET for x in (1, 2, 3)]
    assert all(combine([p]) == SECRET for p in parts)


def test_255_shares() -> None:
    parts = split(SECRET, shares=255, threshold=2, rng=SystemRandomness())
    assert [p[0] for p in parts] == list(range(1, 256))
    assert len(set(parts)) == 255
    assert combine([parts[0], parts[254]]) == SECRET
    assert combine([parts[100], parts[17]]) == SECRET
    assert combine(parts) == SECRET


def test_255_of_255() -> None:
    secret = b"\x01\x80\xfe\x00"
    parts = split(secret, shares=255, threshold=255, rng=NonZeroRandomness(3))
    assert combine(parts) == secret
    assert all(w != s for w, s in zip(combine(parts[:254]), secret, strict=True))


def test_largest_secret() -> None:
    secret = bytes(i % 256 for i in range(1024))
    parts = split(secret, shares=3, threshold=2, rng=SystemRandomness())
    assert combine(parts[1:]) == secret


# --- a hand-checkable vector ---------------------------------------------------------------


def test_fixed_rng_vector_threshold_two() -> None:
    # secret 0x42, coefficient 0x03: f(x) = 0x42 ^ 0x03*x in GF(2^8).
    #   f(1) = 0x42 ^ 0x03 = 0x41
    #   f(2) = 0x42 ^ 0x06 = 0x44            (0x03*0x02 = 0x06, no reduction)
    #   f(3) = 0x42 ^ 0x05 = 0x47            ((x+1)(x+1) = x^2+1 = 0x05)
    rng = FixedRandomness(b"\x03")
    parts = split(b"\x42", shares=3, threshold=2, rng=rng)
    assert rng.requests == [1]
    assert parts == [b"\x01\x41", b"\x02\x44", b"\x03\x47"]
    assert combine([b"\x01\x41", b"\x03\x47"]) == b"\x42"


def test_fixed_rng_vector_with_reduction() -> None:
    # coefficient 0x80 = x^7; x^7 * x = x^8 = x^4+x^3+x+1 = 0x1B (reduced by 0x11B).
    #   f(1) = 0x42 ^ 0x80        = 0xC2
    #   f(2) = 0x42 ^ 0x1B        = 0x59
    #   f(3) = 0x42 ^ (0x1B^0x80) = 0x42 ^ 0x9B = 0xD9
    parts = split(b"\x42", shares=3, threshold=2, rng=FixedRandomness(b"\x80"))
    assert parts == [b"\x01\xc2", b"\x02\x59", b"\x03\xd9"]
    assert combine([b"\x02\x59", b"\x03\xd9"]) == b"\x42"


def test_coefficients_all_come_from_one_rng_request() -> None:
    rng = FixedRandomness(bytes(range(1, 1 + 32 * 4)))
    split(SECRET, shares=6, threshold=5, rng=rng)
    assert rng.requests == [32 * 4]


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "threshold"),
    [(0, 0), (3, 0), (3, 4), (256, 2), (256, 256), (-1, 1), (2, -1)],
)
def test_split_rejects_bad_parameters(shares: int, threshold: int) -> None:
    with pytest.raises(ShamirError, match="threshold"):
        split(SECRET, shares=shares, threshold=threshold, rng=SystemRandomness())


@pytest.mark.parametrize(("secret", "match"), [(b"", "empty"), (bytes(1025), "at most 1024")])
def test_split_rejects_bad_secret(secret: bytes, match: str) -> None:
    with pytest.raises(ShamirError, match=match):
        split(secret, shares=3, threshold=2, rng=SystemRandomness())


def test_split_rejects_short_randomness() -> None:
    class Short:
        def token_bytes(self, n: int) -> bytes:
            return bytes(n - 1)

    with pytest.raises(ShamirError, match="randomness"):
        split(SECRET, shares=3, threshold=2, rng=Short())


def test_combine_refuses_duplicate_share() -> None:
    parts = split(SECRET, shares=3, threshold=2, rng=SystemRandomness())
    with pytest.raises(ShamirError, match="duplicate share") as info:
        combine([parts[0], parts[0]])
    assert parts[0][1:].hex() not in str(info.value)
    # Same x with different bodies is refused too, not silently interpolated.
    with pytest.raises(ShamirError, match="duplicate share"):
        combine([parts[0], parts[1], bytes([1]) + parts[2][1:]])


def test_combine_refuses_mismatched_lengths() -> None:
    parts = split(SECRET, shares=3, threshold=2, rng=SystemRandomness())
    with pytest.raises(ShamirError, match="different lengths"):
        combine([parts[0], parts[1][:-1]])


def test_combine_refuses_x_zero() -> None:
    with pytest.raises(ShamirError, match="x coordinate 0"):
        combine([b"\x00\x42", b"\x01\x41"])


def test_combine_refuses_empty_list_and_short_shares() -> None:
    with pytest.raises(ShamirError, match="at least one"):
        combine([])
    with pytest.raises(ShamirError, match="too short"):
        combine([b"\x01"])
    with pytest.raises(ShamirError, match="too short"):
        combine([b""])


def test_shamir_error_is_a_value_error() -> None:
    assert issubclass(ShamirError, ValueError)


# --- field arithmetic ----------------------------------------------------------------------


def test_mul_matches_reference_for_all_pairs() -> None:
    mismatches = [
        (a, b) for a in range(256) for b in range(256) if _gf_mul(a, b) != _slow_mul(a, b)
    ]
    assert mismatches == []


def test_known_products() -> None:
    # FIPS-197 section 4.2: {57} * {83} = {c1}, {57} * {13} = {fe}.
    assert _gf_mul(0x57, 0x83) == 0xC1
    assert _gf_mul(0x57, 0x13) == 0xFE


def test_inverse_for_all_nonzero() -> None:
    for a in range(1, 256):
        assert _gf_mul(a, _gf_inv(a)) == 1
    assert _gf_inv(0) == 0
    assert len({_gf_inv(a) for a in range(1, 256)}) == 255
