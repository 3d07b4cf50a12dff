"""Scans the server runs itself (TLS, from the server's network), as background jobs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tessera.auth.models import Principal
from tessera.core.errors import InvalidRequest, TesseraError
from tessera.discovery.models import DiscoveredCredential
from tessera.discovery.service import MAX_BATCH, MAX_SCOPE, DiscoveryService, Scan, ScanKind
from tessera.discovery.service import run_in_background as _background
from tessera.discovery.tls import TlsScanReport, TlsScanRequest, scan_tls
from tessera.discovery.tls_checks import load_trust
from tessera.discovery.tls_targets import expand_targets

log = logging.getLogger("tessera.discovery.runner")
MAX_SERVER_ENDPOINTS = 4096  # a server-run scan is a job, not a sweep of the internet


def with_endpoint_flags(report: TlsScanReport) -> list[DiscoveredCredential]:
    """The report's certificates, each leaf carrying its endpoints' flags and protocol
    (`attributes.endpoints[label] = {"flags": [...], "protocol": …}`) for posture."""
    by_fp = {c.fingerprint: c for c in report.credentials}
    for result in report.results:
        if not result.chain:
            continue
        leaf = by_fp.get(result.chain[0].fingerprint)
        if leaf is None:
            continue
        endpoints = dict(leaf.attributes.get("endpoints", {}))
        endpoints[result.endpoint.label] = {
            "flags": [f.value for f in result.flags], "protocol": result.protocol,
        }  # fmt: skip
        leaf.attributes["endpoints"] = endpoints
    return list(by_fp.values())


def upload_report(
    discovery: DiscoveryService, p: Principal, scan_id: str, found: Sequence[DiscoveredCredential],
    errors: Sequence[Any] = (),
) -> None:  # fmt: skip
    """Send findings in batches the API accepts, then complete the scan."""
    for i in range(0, max(len(found), 1), MAX_BATCH):
        discovery.add_results(p, scan_id, found[i : i + MAX_BATCH], errors[i : i + MAX_BATCH])
    rest = errors[max(len(found), 1) :]
    for i in range(0, len(rest), MAX_BATCH):
        discovery.add_results(p, scan_id, [], rest[i : i + MAX_BATCH])
    discovery.complete(p, scan_id)


class DiscoveryRunner:
    """Starts server-side scans on a daemon thread; their status is the scan row's."""

    def __init__(self, discovery: DiscoveryService) -> None:
        self._discovery = discovery

    def start_tls(self, p: Principal, req: dict[str, Any]) -> Scan:
        """Validate targets now (bad input → 400 before any job), then scan in the background.
        Needs sudo on `discovery/scans/tls`: the server's network position is powerful."""
        endpoints = expand_targets(req["targets"], req["ports"], req["sni"])
        if len(endpoints) > MAX_SERVER_ENDPOINTS:
            raise InvalidRequest(
                f"{len(endpoints)} endpoints: a server-run scan covers at most "
                f"{MAX_SERVER_ENDPOINTS}; run `tessera scan tls --upload` for more"
            )
        request = TlsScanRequest(tuple(endpoints), load_trust([]), req["concurrency"],
                                 req["timeout"])  # fmt: skip
        labels = [e.label for e in endpoints]
        scope = labels if len(labels) <= MAX_SCOPE else []
        asked = {"targets": req["targets"], "ports": req["ports"]}
        scan = self._discovery.start(p, ScanKind.TLS, scope, asked, sudo=True)

        def work() -> None:
            try:
                report = scan_tls(request)
                upload_report(self._discovery, p, scan.id, with_endpoint_flags(report),
                              list(report.errors))  # fmt: skip
            except TesseraError as exc:
                self._discovery.fail(scan.id, exc.detail)
            except Exception as exc:  # the job fails visibly; the server goes on
                log.exception("TLS scan %s failed", scan.id)
                self._discovery.fail(scan.id, f"internal error: {type(exc).__name__}")

        _background(work, f"tls-scan-{scan.id}")
        return scan
