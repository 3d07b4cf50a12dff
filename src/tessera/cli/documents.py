"""Reading a named JSON document (a PKI profile, an SSH role) from a file or stdin into its
request model, with one clear error line for every way it can be wrong."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from tessera.cli.output import fail
from tessera.cli.pki_files import read_text

M = TypeVar("M", bound=BaseModel)
MAX_DOCUMENT_FILE = 1024 * 1024


def load_named(source: str, name: str, model: type[M], what: str, hint: str) -> M:
    """The document in `source` ('-' = stdin) as `model`. What `read -o json` printed is
    accepted back (its `name` must be `name`), so read → edit → write works."""
    text = read_text(source, what, MAX_DOCUMENT_FILE)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{source} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict):
        raise fail(f"a {what} document is a JSON object with at least {hint}")
    if doc.get("name", name) != name:
        raise fail(f"{source} names {what} {doc['name']!r}, not {name!r}")
    doc.pop("name", None)
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or what
        raise fail(f"{source}: {field}: {first.get('msg')}") from None
