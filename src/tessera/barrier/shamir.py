"""Shamir secret sharing over GF(2^8), used to split the 32-byte root key.

Implements Shamir, "How to share a secret" (Communications of the ACM 22(11), 1979): each
secret byte is the constant term of its own random polynomial of degree ``threshold - 1``
over GF(2^8) with the AES field polynomial x^8 + x^4 + x^3 + x + 1 (0x11B). A share is
``x || y``: one byte x in 1..shares, then the polynomials evaluated at x, one byte per
secret byte. Any ``threshold`` shares recover the secret by Lagrange interpolation at x = 0;
fewer reveal nothing about it. All coefficients come from the injected `Randomness`.

Side channels: the field arithmetic never branches on, or indexes a table by, a secret
value. Multiplication is a fixed 8-iteration shift-and-add loop that selects with masks
(``-(bit) & value``) instead of ``if``; the inverse is a^254 computed by a fixed
square-and-multiply chain (Fermat), which also maps 0 to 0 without a special case. The
only branches depend on public values (lengths, counts, x coordinates). CPython integers
give no hard timing guarantee, but this removes the gross, table- and branch-based leaks.

`combine` cannot know the threshold: given fewer than ``threshold`` distinct shares it
returns bytes that are not the secret. Callers verify the result (the root key unwraps
the keyring under an AEAD, which fails on a wrong key).
"""

from __future__ import annotations

from collections.abc import Sequence

from tessera.core.randomness import Randomness

MAX_SHARES = 255
MAX_SECRET_LEN = 1024
_AES_POLY = 0x11B


class ShamirError(ValueError):
    """Bad split parameters or malformed shares. The message never contains share bytes."""


def _gf_mul(a: int, b: int) -> int:
    """Product in GF(2^8) mod 0x11B; fixed 8 iterations, no data-dependent branch."""
    r = 0
    for _ in range(8):
        r ^= -(b & 1) & a  # add a when the low bit of b is set
        carry = -((a >> 7) & 1)  # all ones when a overflows on the shift
        a = ((a << 1) ^ (carry & _AES_POLY)) & 0xFF
        b >>= 1
    return r


def _gf_inv(a: int) -> int:
    """Inverse a^254 (a^255 = 1 for a != 0); returns 0 for 0. Fixed chain, 13 products."""
    r = a
    for _ in range(6):  # a^3, a^7, a^15, a^31, a^63, a^127
        r = _gf_mul(_gf_mul(r, r), a)
    return _gf_mul(r, r)  # a^254


def split(secret: bytes, shares: int, threshold: int, rng: Randomness) -> list[bytes]:
    """Split `secret` into `shares` shares, any `threshold` of which recover it.

    Share i (1-based) is ``bytes([i]) + y`` with ``len(y) == len(secret)``. Coefficients
    are read from one ``rng.token_bytes(len(secret) * (threshold - 1))`` call: the
    ``threshold - 1`` bytes for secret byte k are its coefficients of degree 1, 2, ...
    """
    if not 1 <= threshold <= shares <= MAX_SHARES:
        raise ShamirError(
            f"need 1 <= threshold <= shares <= {MAX_SHARES}, got threshold={threshold}, "
            f"shares={shares}"
        )
    if not secret:
        raise ShamirError("secret must not be empty")
    if len(secret) > MAX_SECRET_LEN:
        raise ShamirError(f"secret must be at most {MAX_SECRET_LEN} bytes")
    degree = threshold - 1
    coeffs = rng.token_bytes(len(secret) * degree) if degree else b""
    if len(coeffs) != len(secret) * degree:
        raise ShamirError("randomness source returned the wrong number of bytes")
    out: list[bytes] = []
    for x in range(1, shares + 1):
        y = bytearray(len(secret))
        for k, s in enumerate(secret):
            acc = 0
            for c in reversed(coeffs[k * degree : (k + 1) * degree]):  # Horner, high first
                acc = _gf_mul(acc, x) ^ c
            y[k] = _gf_mul(acc, x) ^ s
        out.append(bytes([x]) + bytes(y))
    return out


def combine(parts: Sequence[bytes]) -> bytes:
    """Recover the secret from distinct shares by Lagrange interpolation at x = 0.

    Needs at least the split's threshold of shares; extra shares are harmless. Raises
    `ShamirError` for no shares, unequal or too-short lengths, x = 0, or a repeated x.
    """
    if not parts:
        raise ShamirError("at least one share is required")
    length = len(parts[0])
    if length < 2:
        raise ShamirError("share is too short")
    if any(len(p) != length for p in parts):
        raise ShamirError("shares have different lengths")
    xs = [p[0] for p in parts]
    if 0 in xs:
        raise ShamirError("share has invalid x coordinate 0")
    if len(set(xs)) != len(xs):
        raise ShamirError("duplicate share")
    secret = bytearray(length - 1)
    for i, (xi, part) in enumerate(zip(xs, parts, strict=True)):
        # l_i(0) = prod_{j != i} x_j / (x_j - x_i); subtraction is XOR in GF(2^8).
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = _gf_mul(num, xj)
                den = _gf_mul(den, xj ^ xi)
        basis = _gf_mul(num, _gf_inv(den))
        for k in range(length - 1):
            secret[k] ^= _gf_mul(basis, part[k + 1])
    return bytes(secret)
