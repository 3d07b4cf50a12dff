"""Scan a byte stream in bounded windows: decode UTF-8 leniently, carry an overlap between
windows so secrets across a chunk boundary are found once, and keep line numbers exact."""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from tessera.discovery.secrets.matching import Hit, Matcher
from tessera.discovery.secrets.models import Rule

BINARY_SNIFF = 8192


@dataclass(frozen=True)
class LocatedHit:
    """A hit with its 1-based line and column in the whole stream."""

    hit: Hit
    line: int
    column: int


def is_binary(head: bytes) -> bool:
    """Git's own heuristic: a NUL byte in the first 8 KiB."""
    return b"\0" in head[:BINARY_SNIFF]


def scan_chunks(
    chunks: Iterable[bytes],
    matcher: Matcher,
    rules: Sequence[Rule],
    path: str,
    *,
    overlap: int,
    commit: str | None = None,
) -> Iterator[LocatedHit]:
    """Every hit in the concatenated chunks, each once, in stream order per window.

    A window owns the hits whose match ends in its range; the next window starts `overlap`
    characters before that range ends, so a match up to `overlap` long is never cut in two."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    it = iter(chunks)
    carry, carry_line, owned_from = "", 1, 0
    seen: set[tuple[int, str]] = set()  # (line, fingerprint): two rules, one secret, one report
    rank = {rule.id: i for i, rule in enumerate(rules)}
    nxt = next(it, None)
    while True:
        cur, nxt = nxt, next(it, None) if nxt is not None else None
        final = nxt is None
        window = carry + decoder.decode(cur or b"", final=final)
        limit = len(window) if final else max(len(window) - overlap, owned_from)
        hits = [h for h in matcher.scan(window, rules, path, commit) if owned_from < h.end <= limit]
        hits.sort(key=lambda h: h.start)
        located: list[LocatedHit] = []
        line, pos = carry_line, 0
        for h in hits:
            line += window.count("\n", pos, h.start)
            pos = h.start
            column = h.start - (window.rfind("\n", 0, h.start) + 1) + 1
            located.append(LocatedHit(h, line, column))
        # the earlier (more specific) rule wins when several report one secret on one line
        located.sort(key=lambda x: rank[x.hit.rule.id])
        kept = []
        for lh in located:
            if (lh.line, lh.hit.fingerprint) not in seen:
                seen.add((lh.line, lh.hit.fingerprint))
                kept.append(lh)
        yield from sorted(kept, key=lambda x: (x.line, x.column))
        if final:
            return
        keep_from = max(0, limit - overlap)
        carry_line += window.count("\n", 0, keep_from)
        carry = window[keep_from:]
        owned_from = limit - keep_from
