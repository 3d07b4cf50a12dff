"""The scanners' progress on stderr: a rich bar with count, rate and ETA when stderr is a
terminal, nothing otherwise (scripts and pipes get clean output)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich import progress as rp
from rich.text import Text

from tessera.cli.output import err_console
from tessera.discovery.models import Progress, ProgressFactory


class _Rate(rp.ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit

    def render(self, task: rp.Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.0f} {self._unit}/s")


class _Bar:
    """One rich task behind the discovery `Progress` protocol."""

    def __init__(self, bar: rp.Progress, label: str) -> None:
        self._bar = bar
        self._task = bar.add_task(label, total=None)

    def total(self, units: int) -> None:
        self._bar.update(self._task, total=units)

    def advance(self, units: int = 1) -> None:
        self._bar.advance(self._task, units)


@contextmanager
def progress_bars(unit: str) -> Iterator[ProgressFactory | None]:
    """A factory of labelled bars counting `unit`s, or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (
        rp.TextColumn("{task.description}"),
        rp.BarColumn(),
        rp.MofNCompleteColumn(),
        _Rate(unit),
        rp.TimeRemainingColumn(),
    )
    with rp.Progress(*columns, console=err_console, transient=True) as bar:
        yield lambda label: _Bar(bar, label)


@contextmanager
def progress_bar(label: str, unit: str) -> Iterator[Progress | None]:
    """One bar (`label`), or None when stderr is not a terminal."""
    with progress_bars(unit) as factory:
        yield None if factory is None else factory(label)
