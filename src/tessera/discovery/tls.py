"""TLS endpoint discovery: connect to every endpoint with bounded concurrency, fetch the full
presented chain without verifying it, then judge each chain (tls_checks) and report every
certificate seen as one credential with its endpoint locations."""

from __future__ import annotations

import _ssl
import asyncio
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tessera.core.clock import Clock, SystemClock
from tessera.core.errors import InvalidRequest
from tessera.discovery.models import DiscoveredCredential, Location, Progress, ScanError
from tessera.discovery.tls_checks import CertInfo, Flag, Trust, describe, evaluate, is_self_signed
from tessera.discovery.tls_targets import Endpoint
from tessera.inventory.models import CredentialKind, LocationKind

MAX_CONCURRENCY = 10_000
# OpenSSL refuses servers without secure renegotiation unless told; ssl names it only from 3.12.
_OP_LEGACY_SERVER_CONNECT = getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)


@dataclass(frozen=True)
class TlsScanRequest:
    """What to scan, whom to trust, and how hard: `timeout` (seconds) bounds connect and
    handshake together for each endpoint; at most `concurrency` endpoints are open at once."""

    endpoints: tuple[Endpoint, ...]
    trust: Trust
    concurrency: int = 100
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise InvalidRequest(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
        if not 0 < self.timeout <= 300:
            raise InvalidRequest("timeout must be more than 0 and at most 300 seconds")


@dataclass(frozen=True)
class EndpointResult:
    """One endpoint's outcome: the handshake facts and flags, or `error` when there was none."""

    endpoint: Endpoint
    protocol: str | None = None
    cipher: str | None = None
    chain: tuple[CertInfo, ...] = ()
    flags: tuple[Flag, ...] = ()
    trust_error: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class TlsScanReport:
    """Every endpoint once (in request order), the errors, and the certificates by fingerprint."""

    results: tuple[EndpointResult, ...]
    credentials: tuple[DiscoveredCredential, ...]
    errors: tuple[ScanError, ...] = field(default=())


@dataclass(frozen=True)
class _Fetched:
    protocol: str | None
    cipher: str | None
    chain: tuple[x509.Certificate, ...]


class _FetchError(Exception):
    """An endpoint that gave no usable handshake; the message is for the report."""


def scan_tls(
    request: TlsScanRequest, progress: Progress | None = None, clock: Clock | None = None
) -> TlsScanReport:
    """Run the scan to completion in a fresh event loop (see `scan_tls_async`)."""
    return asyncio.run(scan_tls_async(request, progress, clock))


async def scan_tls_async(
    request: TlsScanRequest, progress: Progress | None = None, clock: Clock | None = None
) -> TlsScanReport:
    """Scan every endpoint; never raises for an endpoint's failure, which becomes its `error`."""
    endpoints = request.endpoints
    if progress is not None:
        progress.total(len(endpoints))
    fetched: list[_Fetched | str] = ["not scanned"] * len(endpoints)
    todo = iter(range(len(endpoints)))
    context = _client_context()

    async def worker() -> None:
        # A fixed pool of workers, rather than one task per endpoint, keeps memory flat for
        # ranges of tens of thousands of endpoints while bounding open connections.
        for i in todo:
            fetched[i] = await _fetch_safely(endpoints[i], context, request.timeout)
            if progress is not None:
                progress.advance()

    workers = min(request.concurrency, len(endpoints))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return _report(endpoints, fetched, request.trust, (clock or SystemClock()).now())


def _report(
    endpoints: Sequence[Endpoint], fetched: Sequence[_Fetched | str], trust: Trust, now: datetime
) -> TlsScanReport:
    # Intermediates other endpoints sent may complete a chain this endpoint left incomplete.
    seen = list(
        {
            c.fingerprint(hashes.SHA256()): c
            for f in fetched
            if isinstance(f, _Fetched)
            for c in f.chain[1:]
            if not is_self_signed(c)
        }.values()
    )
    results: list[EndpointResult] = []
    errors: list[ScanError] = []
    credentials: dict[str, DiscoveredCredential] = {}
    for endpoint, outcome in zip(endpoints, fetched, strict=True):
        if isinstance(outcome, str):
            results.append(EndpointResult(endpoint, error=outcome))
            errors.append(ScanError(endpoint.label, outcome))
            continue
        name = endpoint.sni or endpoint.host
        judged = evaluate(outcome.chain, name, trust, seen, now)
        infos = tuple(describe(c) for c in outcome.chain)
        results.append(
            EndpointResult(
                endpoint,
                protocol=outcome.protocol,
                cipher=outcome.cipher,
                chain=infos,
                flags=tuple(sorted(judged.flags)),
                trust_error=judged.trust_error,
            )
        )
        for info in infos:
            _record(credentials, info, endpoint)
    return TlsScanReport(tuple(results), tuple(credentials.values()), tuple(errors))


def _record(found: dict[str, DiscoveredCredential], info: CertInfo, endpoint: Endpoint) -> None:
    credential = found.get(info.fingerprint)
    if credential is None:
        credential = DiscoveredCredential(
            kind=CredentialKind.X509_CERTIFICATE,
            fingerprint=info.fingerprint,
            name=info.subject_cn or info.subject or info.fingerprint[:16],
            not_after=info.not_after,
            attributes=cert_json(info),
        )
        found[info.fingerprint] = credential
    location = Location(LocationKind.ENDPOINT, endpoint.label)
    if location not in credential.locations:
        credential.locations.append(location)


async def _fetch_safely(
    endpoint: Endpoint, context: ssl.SSLContext, timeout: float
) -> _Fetched | str:
    try:
        return await _fetch(endpoint, context, timeout)
    except _FetchError as exc:
        return str(exc)
    except Exception as exc:  # one endpoint's surprise must never end the scan of the rest
        return f"unexpected {type(exc).__name__}: {exc}"


async def _fetch(endpoint: Endpoint, context: ssl.SSLContext, timeout: float) -> _Fetched:
    loop = asyncio.get_running_loop()
    stage = "connecting"
    transport: asyncio.Transport | None = None
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await loop.create_connection(
                asyncio.Protocol, endpoint.host, endpoint.port
            )
            stage = "in the TLS handshake"
            # An IP literal as server_hostname sends no SNI (ssl never sends IPs as names).
            tls = await loop.start_tls(
                transport,
                protocol,
                context,
                server_hostname=endpoint.sni or endpoint.host,
                ssl_handshake_timeout=timeout,
            )
            if tls is None:
                raise _FetchError("connection closed during the TLS handshake")
            transport = tls
            ssl_object = tls.get_extra_info("ssl_object")
            ders = _peer_chain(ssl_object)
            cipher = ssl_object.cipher()
            protocol_version = ssl_object.version()
    except TimeoutError:
        raise _FetchError(f"timed out after {timeout:g}s {stage}") from None
    except _FetchError:
        raise
    except (OSError, EOFError) as exc:
        raise _FetchError(_describe_os_error(exc, stage)) from None
    finally:
        if transport is not None:
            transport.abort()  # no close_notify: the data is in hand, a slow peer must not stall
    if not ders:
        raise _FetchError("the server presented no certificate")
    try:
        chain = tuple(x509.load_der_x509_certificate(der) for der in ders)
    except ValueError as exc:
        raise _FetchError(f"the server presented an unreadable certificate: {exc}") from None
    return _Fetched(protocol_version, cipher[0] if cipher else None, chain)


def _peer_chain(ssl_object: Any) -> list[bytes]:
    """The chain as the peer sent it (leaf first), verified or not, as DER.

    ssl exposes this publicly from Python 3.13; from 3.10 the C object beneath has the same
    call. Without either, the leaf alone."""
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    chain = list(getter() or []) if getter is not None else []
    if chain:
        return [c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in chain]
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _describe_os_error(exc: BaseException, stage: str) -> str:
    if isinstance(exc, ssl.SSLError):
        reason = (getattr(exc, "reason", None) or "").replace("_", " ").lower()
        if reason == "wrong version number" or "record layer failure" in reason:
            return "not TLS: the server answered the handshake with something else"
        if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return "connection closed during the TLS handshake"
        return f"TLS handshake failed: {reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return f"connection reset {stage}"
    if isinstance(exc, socket.gaierror):
        return "cannot resolve the host name"
    if isinstance(exc, EOFError | ConnectionAbortedError | BrokenPipeError):
        return f"connection closed {stage}"
    return f"{exc.strerror or exc} {stage}" if isinstance(exc, OSError) else str(exc)


def _client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # A scan must see legacy endpoints (old protocols, RSA-1024, SHA-1) to flag them, so the
    # client accepts everything except anonymous suites, which would hide the certificate.
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("ALL:!aNULL:!eNULL:@SECLEVEL=0")
    context.options |= _OP_LEGACY_SERVER_CONNECT
    return context


def cert_json(info: CertInfo) -> dict[str, Any]:
    """One certificate's facts as JSON-ready values."""
    return {
        "fingerprint": info.fingerprint,
        "subject": info.subject,
        "subject_cn": info.subject_cn,
        "issuer": info.issuer,
        "serial": info.serial,
        "sans": list(info.sans),
        "not_before": info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(),
        "key_type": info.key_type,
        "key_size": info.key_size,
        "signature_algorithm": info.signature_algorithm,
        "is_ca": info.is_ca,
    }


def report_json(report: TlsScanReport) -> dict[str, Any]:
    """The report as JSON-ready values: `endpoints`, `errors`, `credentials`."""
    return {
        "endpoints": [_result_json(r) for r in report.results],
        "errors": [{"where": e.where, "message": e.message} for e in report.errors],
        "credentials": [_credential_json(c) for c in report.credentials],
    }


def _result_json(result: EndpointResult) -> dict[str, Any]:
    ep = result.endpoint
    return {
        "endpoint": ep.label,
        "host": ep.host,
        "port": ep.port,
        "sni": ep.sni,
        "protocol": result.protocol,
        "cipher": result.cipher,
        "flags": [str(f) for f in result.flags],
        "trust_error": result.trust_error,
        "error": result.error,
        "chain": [cert_json(c) for c in result.chain],
    }


def _credential_json(credential: DiscoveredCredential) -> dict[str, Any]:
    return {
        "kind": str(credential.kind),
        "fingerprint": credential.fingerprint,
        "name": credential.name,
        "not_after": credential.not_after.isoformat() if credential.not_after else None,
        "locations": [{"kind": str(x.kind), "location": x.location} for x in credential.locations],
        "attributes": credential.attributes,
    }
