"""Shared options and the client factory for every command module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from tessera.cli.client import ClientError, TesseraClient, default_addr, default_token
from tessera.cli.output import fail

AddrOpt = typer.Option(None, "--addr", envvar="TESSERA_ADDR", help="Server URL.")


@contextmanager
def client(addr: str | None = None) -> Iterator[TesseraClient]:
    """A client for the command; any ClientError becomes one clear line and exit code 1."""
    try:
        c = TesseraClient(addr or default_addr(), default_token())
    except ClientError as exc:
        raise fail(str(exc)) from None
    try:
        yield c
    except ClientError as exc:
        raise fail(str(exc)) from None
    finally:
        c.close()


def key_values(pairs: list[str], option: str) -> dict[str, str]:
    """`key=value` options (repeatable) as a dict; anything else is a clear error."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise fail(f"{option} takes key=value, got {key!r}")
        out[key] = value
    return out
