"""`tessera scan … --upload`: send what a local scan found to the server's inventory, as one
scan job (opened, filled in batches, completed so that what was not seen again is marked)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import typer

from tessera.api.schemas_discovery import ScanOut
from tessera.cli.common import client
from tessera.cli.output import err_console
from tessera.discovery.models import DiscoveredCredential, Location, ScanError
from tessera.inventory.models import LocationKind

BATCH = 500
UploadOpt = typer.Option(
    False, "--upload", help="Record the findings in the server's inventory (TESSERA_ADDR/TOKEN)."
)


def _found(c: DiscoveredCredential) -> dict[str, Any]:
    return {
        "kind": c.kind.value,
        "fingerprint": c.fingerprint,
        "name": c.name[:512],
        "locations": [{"kind": x.kind.value, "location": x.location[:1024]} for x in c.locations],
        "not_after": None if c.not_after is None else c.not_after.isoformat(),
        "attributes": c.attributes,
    }


def upload(
    kind: str,
    scope: Sequence[str],
    found: Sequence[DiscoveredCredential],
    errors: Sequence[ScanError],
    addr: str | None,
) -> ScanOut:
    """Open a scan, send findings and errors in batches, complete it; returns the final scan."""
    with client(addr) as c:
        scan = c.request("POST", "/v1/discovery/scans", ScanOut,
                         json={"kind": kind, "scope": list(scope)})  # fmt: skip
        path = f"/v1/discovery/scans/{scan.id}"
        items = [_found(f) for f in found]
        errs = [{"where": e.where[:1024], "message": e.message[:1024]} for e in errors]
        for i in range(0, max(len(items), len(errs), 1), BATCH):
            body = {"credentials": items[i : i + BATCH], "errors": errs[i : i + BATCH]}
            c.request("POST", f"{path}/results", ScanOut, json=body)
        done = c.request("POST", f"{path}/complete", ScanOut)
    err_console.print(
        f"Uploaded scan {done.id}: {done.credentials} credentials "
        f"({done.new_credentials} new), {done.missing} locations no longer found.",
        highlight=False,
    )
    return done


def absolute_file_locations(
    found: Sequence[DiscoveredCredential], root: str
) -> list[DiscoveredCredential]:
    """File locations made absolute (`root` is a directory they are relative to, or the one
    file scanned), so re-scans from elsewhere name the same place."""
    is_dir = os.path.isdir(root)
    for cred in found:
        fixed = []
        for loc in cred.locations:
            if loc.kind is LocationKind.FILE and not loc.location.startswith("/"):
                rel, _, line = loc.location.rpartition(":")
                where = os.path.join(root, rel) if is_dir else root
                loc = Location(LocationKind.FILE, f"{where}:{line}")
            fixed.append(loc)
        cred.locations = fixed
    return list(found)
