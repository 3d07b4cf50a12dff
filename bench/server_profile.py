"""Optional profiling of the server with py-spy (`--py-spy RAW`).

Contract: `py_spy(pid, raw_out, rate)` is a context manager that runs
`py-spy record --gil --threads --format raw` on `pid` for the duration of the block and
raises `RuntimeError` when no profile was written. `summarise_profile(raw)` reads the
collapsed stacks and returns a `ProfileSummary`: the top functions by self time, and the
tessera/SQLAlchemy functions by inclusive time.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ProfileRow:
    function: str
    self_pct: float
    incl_pct: float


@dataclass
class ProfileSummary:
    """py-spy --gil samples of the server: where the GIL-holding thread spends its time."""

    samples: int
    top_self: list[ProfileRow]
    top_inclusive: list[ProfileRow]  # tessera and SQLAlchemy frames only


@contextlib.contextmanager
def py_spy(pid: int, raw_out: Path, rate: int) -> Iterator[None]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
    cmd += ["--output", str(raw_out), "--gil", "--threads"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # let it attach
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if not raw_out.exists():
            raise RuntimeError(f"py-spy wrote no profile: {err.strip()[-500:]}")


_FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


def summarise_profile(raw: Path, top: int = 25) -> ProfileSummary:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [name for f in stack.split(";") if (name := _frame_name(f)) is not None]
        if not frames:
            continue
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for name in set(frames):
            incl[name] = incl.get(name, 0) + count
    rows = [
        ProfileRow(
            function=name,
            self_pct=round(100 * own.get(name, 0) / total, 1),
            incl_pct=round(100 * n / total, 1),
        )
        for name, n in incl.items()
    ]
    by_self = sorted(rows, key=lambda r: (-r.self_pct, -r.incl_pct))[:top]
    ours = (r for r in rows if "tessera" in r.function or "sqlalchemy" in r.function)
    by_incl = sorted(ours, key=lambda r: -r.incl_pct)[:top]
    return ProfileSummary(samples=total, top_self=by_self, top_inclusive=by_incl)


def _frame_name(frame: str) -> str | None:
    frame = frame.strip()
    if frame.startswith("process ") or frame.startswith("thread "):
        return None
    m = _FRAME_RE.match(frame)
    if m is None:
        return frame
    file = m.group("file")
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({file})"
