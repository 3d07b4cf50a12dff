"""Rendering for the CLI: rich tables for people, JSON for scripts; errors as one line."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Scripts read our output through pipes: do not cut tables or wrap errors at 80 columns there.
_WIDTH = None if sys.stdout.isatty() else 250
console = Console(width=_WIDTH)
err_console = Console(stderr=True, soft_wrap=True)


class Output(StrEnum):
    """CLI output format: `table` for people, `json` for scripts."""

    table = "table"
    json = "json"


OutputOpt = typer.Option(Output.table, "--output", "-o", help="table or json")


def emit(
    data: BaseModel | Sequence[BaseModel] | dict[str, Any],
    output: Output,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Print one object as key/value rows or a list as a table; `json` prints it verbatim."""
    if isinstance(data, BaseModel):
        plain: Any = data.model_dump(mode="json")
    elif isinstance(data, dict):
        plain = data
    else:
        plain = [d.model_dump(mode="json") for d in data]
    if output is Output.json:
        typer.echo(json.dumps(plain, indent=2, sort_keys=True))
        return
    if isinstance(plain, dict):
        table = Table(show_header=False, title=title, box=None)
        table.add_column(style="bold")
        table.add_column()
        for key, value in plain.items():
            table.add_row(key, _cell(value))
    else:
        cols = list(columns or (plain[0].keys() if plain else []))
        table = Table(title=title)
        for col in cols:
            table.add_column(col)
        for row in plain:
            table.add_row(*[_cell(row.get(col)) for col in cols])
    console.print(table)


def emit_page(page: Any, output: Output, columns: Sequence[str]) -> None:
    """A keyset page (`items`, `next_cursor`): JSON as it is, or a table followed by the
    option that fetches the next page when there is one."""
    if output is Output.json:
        emit(page, output)
        return
    emit(page.items, output, columns)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}", highlight=False)


def emit_names(names: Sequence[str], output: Output) -> None:
    """A list of names: one per line, or `{"names": [...]}` as JSON."""
    if output is Output.json:
        emit({"names": list(names)}, output)
        return
    for name in names:
        console.print(name, highlight=False)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | dict):
        return json.dumps(value) if value else "-"
    return str(value)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, markup=True)
    return typer.Exit(code)
