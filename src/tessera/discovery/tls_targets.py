"""TLS scan targets: `host[:port]`, `[v6]:port`, CIDR ranges and `sni@host:port`, expanded into
endpoints (one per address, port and server name) under a size limit."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from tessera.core.errors import InvalidRequest

MAX_ENDPOINTS = 65_536
"""Most endpoints one scan may expand to (addresses times ports times server names)."""

DEFAULT_PORTS: tuple[int, ...] = (443,)

_LABEL_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_MAX_LISTED = 10

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, order=True)
class Endpoint:
    """One TLS endpoint to scan: `host` is a DNS name or an IP literal (no brackets);
    `sni` is the server name sent in the handshake, None to send none."""

    host: str
    port: int
    sni: str | None = None

    @property
    def address(self) -> str:
        """`host:port`, with the host in brackets when it is an IPv6 literal."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def label(self) -> str:
        """`host:port`, followed by `#sni` when the server name differs from the host."""
        if self.sni and self.sni.lower() != self.host.lower():
            return f"{self.address}#{self.sni}"
        return self.address


@dataclass(frozen=True)
class _Spec:
    """One parsed target before expansion."""

    hosts: str | IPAddress | IPNetwork
    port: int | None
    sni: str | None

    def host_count(self) -> int:
        return self.hosts.num_addresses if isinstance(self.hosts, IPNetwork) else 1

    def host_names(self) -> Iterator[str]:
        if isinstance(self.hosts, IPNetwork):
            # hosts() leaves out network and broadcast addresses, except in /31, /32 and /128.
            return (str(a) for a in self.hosts.hosts())
        return iter([str(self.hosts)])


def parse_ports(text: str) -> tuple[int, ...]:
    """`443,8443` or `8000-8010` as sorted unique ports; anything else is an error."""
    ports: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        low, sep, high = part.partition("-")
        try:
            first = _port(low)
            last = _port(high) if sep else first
        except ValueError:
            raise InvalidRequest(
                f"bad port list {text!r}: {part!r} is not a port (1-65535)"
            ) from None
        if last < first:
            raise InvalidRequest(f"bad port list {text!r}: range {part!r} runs backwards")
        ports.update(range(first, last + 1))
    return tuple(sorted(ports))


def read_targets(lines: Iterable[str]) -> list[str]:
    """Targets from a file's lines: one per line, blank lines and `#` comments ignored."""
    out = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            out.append(text)
    return out


def expand_targets(
    targets: Sequence[str],
    ports: Sequence[int] = DEFAULT_PORTS,
    sni_names: Sequence[str] = (),
    limit: int = MAX_ENDPOINTS,
) -> list[Endpoint]:
    """Every endpoint the targets name, in order and without duplicates.

    Targets without a port use `ports`; targets without `sni@` are scanned once per name in
    `sni_names`, or with their own host name (none for IP addresses) when it is empty. Raises
    InvalidRequest listing every bad target, or when the expansion would exceed `limit`."""
    if not targets:
        raise InvalidRequest("no targets given")
    if not ports:
        raise InvalidRequest("no ports given")
    try:
        snis = [_sni(name) for name in sni_names]
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    specs: list[_Spec] = []
    bad: list[str] = []
    for raw in targets:
        try:
            specs.append(_parse(raw.strip()))
        except ValueError as exc:
            bad.append(f"{raw!r} ({exc})")
    if bad:
        shown = "; ".join(bad[:_MAX_LISTED])
        more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise InvalidRequest(f"bad target{'s' if len(bad) > 1 else ''}: {shown}{more}")
    total = sum(
        s.host_count() * (1 if s.port else len(ports)) * (1 if s.sni else max(1, len(snis)))
        for s in specs
    )
    if total > limit:
        raise InvalidRequest(
            f"the targets expand to {total:,} endpoints, more than the limit of {limit:,}: "
            "narrow the ranges, ports or server names"
        )
    seen: set[Endpoint] = set()
    out: list[Endpoint] = []
    for spec in specs:
        for endpoint in _expand(spec, ports, snis):
            if endpoint not in seen:
                seen.add(endpoint)
                out.append(endpoint)
    return out


def _expand(spec: _Spec, ports: Sequence[int], snis: Sequence[str]) -> Iterator[Endpoint]:
    names: Sequence[str | None] = [spec.sni] if spec.sni else (snis or [None])
    for host in spec.host_names():
        is_ip = not isinstance(spec.hosts, str)
        for port in [spec.port] if spec.port else ports:
            for name in names:
                yield Endpoint(host, port, name if name or is_ip else host)


def _parse(raw: str) -> _Spec:
    if not raw:
        raise ValueError("empty")
    sni: str | None = None
    if "@" in raw:
        name, _, raw = raw.partition("@")
        sni = _sni(name)
    port: int | None = None
    if raw.startswith("["):
        inside, sep, rest = raw[1:].partition("]")
        if not sep:
            raise ValueError("missing ']'")
        if rest:
            if not rest.startswith(":"):
                raise ValueError("expected ':port' after ']'")
            port = _port(rest[1:])
        return _Spec(_address(inside, v6_only=True), port, sni)
    if raw.count(":") == 1:
        raw, _, port_text = raw.partition(":")
        port = _port(port_text)
    if ":" in raw or "/" in raw or _looks_numeric(raw):
        return _Spec(_address(raw, v6_only=False), port, sni)
    return _Spec(_hostname(raw), port, sni)


def _address(text: str, v6_only: bool) -> IPAddress | IPNetwork:
    try:
        value: IPAddress | IPNetwork = (
            ipaddress.ip_network(text, strict=False) if "/" in text else ipaddress.ip_address(text)
        )
    except ValueError:
        raise ValueError("not an IP address or CIDR range") from None
    if v6_only and value.version != 6:
        raise ValueError("brackets are for IPv6 addresses")
    if isinstance(value, IPNetwork) and value.num_addresses == 1:
        return value.network_address
    return value


def _looks_numeric(text: str) -> bool:
    # A last label of digits means an IPv4 literal (possibly malformed), never a DNS name.
    return text.rstrip(".").rsplit(".", 1)[-1].isdigit()


def _hostname(text: str) -> str:
    name = text.rstrip(".")
    if not name or len(name) > 253:
        raise ValueError("not a host name")
    if not all(_LABEL_RE.match(label) for label in name.split(".")):
        raise ValueError("not a host name (ASCII letters, digits, '-' and '_'; IDNs as xn--)")
    return name.lower()


def _sni(text: str) -> str:
    try:
        return _hostname(text.strip())
    except ValueError:
        raise ValueError(f"bad server name {text!r}: not a DNS host name") from None


def _port(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"bad port {text!r}")
    return int(text)
