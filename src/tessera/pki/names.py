"""Subject-alternative-name rules of a profile: DNS patterns, IP ranges, URI and email globs.

DNS patterns: `host.example.com` (exactly that name), `*.example.com` (any name below
example.com, at any depth), or a glob such as `web-*.example.com` where `*` stays within one
label. A wildcard certificate name `*.D` is allowed only when a `*.S` pattern covers all of it
(D is S or below S) and the profile allows wildcard certificates.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from tessera.core.errors import InvalidRequest
from tessera.pki.errors import NameNotAllowed

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_PATTERN_LABEL = re.compile(r"[a-z0-9*]([a-z0-9*-]{0,61}[a-z0-9*])?")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'+/=?^_`{|}~-]{1,64}@([a-z0-9.-]{1,253})")
MAX_URI = 2048


def normalise_dns(name: str, *, allow_wildcard: bool = True) -> str:
    """A lower-case DNS name of LDH labels (≤ 253 chars), optionally `*.` + such a name."""
    lowered = name.strip().lower().rstrip(".")
    if len(lowered) > 253 or not lowered:
        raise InvalidRequest(f"{name!r} is not a valid DNS name")
    labels = lowered.split(".")
    first = 1 if allow_wildcard and labels[0] == "*" and len(labels) > 2 else 0
    if not all(_LABEL.fullmatch(label) for label in labels[first:]):
        raise InvalidRequest(f"{name!r} is not a valid DNS name")
    return lowered


def normalise_pattern(pattern: str) -> str:
    lowered = pattern.strip().lower().rstrip(".")
    labels = lowered.split(".")
    if len(lowered) > 253 or not lowered or not all(_PATTERN_LABEL.fullmatch(x) for x in labels):
        raise InvalidRequest(f"allowed_domains: {pattern!r} is not a DNS name or pattern")
    return lowered


@dataclass(frozen=True)
class DomainRules:
    """Compiled `allowed_domains` of a profile."""

    patterns: tuple[str, ...]
    allow_wildcard_certificates: bool

    def check(self, name: str) -> None:
        """Raise NameNotAllowed unless `name` (already normalised) is allowed."""
        if name.startswith("*."):
            if not self.allow_wildcard_certificates:
                raise NameNotAllowed(f"wildcard name {name!r}: the profile allows no wildcards")
            base = name[2:]
            for p in self.patterns:
                if p.startswith("*.") and (base == p[2:] or base.endswith(p[1:])):
                    return
            raise NameNotAllowed(f"wildcard name {name!r} is outside the profile's domains")
        if not any(_dns_match(p, name) for p in self.patterns):
            raise NameNotAllowed(f"DNS name {name!r} is outside the profile's domains")


def _dns_match(pattern: str, name: str) -> bool:
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        return name.endswith(pattern[1:])
    if "*" not in pattern:
        return name == pattern
    regex = ".".join(re.escape(label).replace(r"\*", "[a-z0-9-]*") for label in pattern.split("."))
    return re.fullmatch(regex, name) is not None


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidRequest(f"{value!r} is not an IP address") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        # an iPAddress SAN holds 16 octets: the zone ('%eth0') would be silently dropped
        raise InvalidRequest(f"{value!r}: an IP SAN cannot carry a zone index")
    return ip


def parse_networks(
    values: Sequence[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v, strict=False))
        except ValueError:
            raise InvalidRequest(f"allowed_ip_ranges: {v!r} is not a CIDR range") from None
    return tuple(out)


def check_uri(uri: str) -> str:
    """A URI with a scheme, no whitespace or controls, at most 2048 characters."""
    if len(uri) > MAX_URI or any(c.isspace() or ord(c) < 0x21 or ord(c) > 0x7E for c in uri):
        raise InvalidRequest(f"{uri[:80]!r} is not a valid URI")
    parts = urlsplit(uri)
    if not parts.scheme or not (parts.netloc or parts.path):
        raise InvalidRequest(f"{uri[:80]!r} is not an absolute URI")
    return uri


def check_email(email: str) -> str:
    """An address whose domain is a DNS name; the domain is returned in lower case (domains
    are case-insensitive, so 'ops@Example.com' is 'ops@example.com')."""
    local, at, domain = email.strip().rpartition("@")
    normal = f"{local}{at}{domain.lower()}"
    m = _EMAIL.fullmatch(normal)
    if m is None:
        raise InvalidRequest(f"{email[:80]!r} is not a valid email address")
    normalise_dns(m.group(1), allow_wildcard=False)
    return normal


def normalise_email_pattern(pattern: str) -> str:
    """An email glob with its domain part in lower case, as `check_email` leaves addresses."""
    local, at, domain = pattern.strip().rpartition("@")
    return f"{local}{at}{domain.lower()}"


def glob_match(pattern: str, value: str, separator: str) -> bool:
    """`**` matches anything; `*` matches within one `separator`-delimited part."""
    regex = re.escape(pattern).replace(r"\*\*", "\x00").replace(r"\*", f"[^{separator}]*")
    return re.fullmatch(regex.replace("\x00", ".*"), value) is not None
