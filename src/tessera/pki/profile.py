"""Issuance profiles: what a caller of `pki/issue/<profile>` may get. Validated on construction;
`Profile.from_document` is the only way user input becomes a profile."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tessera.core.documents import duration, flag, parse_enum, string_list
from tessera.core.errors import InvalidRequest
from tessera.core.text import check_text
from tessera.pki import names
from tessera.pki.errors import KeyNotAllowed, NameNotAllowed
from tessera.pki.models import KeyType, SubjectFields
from tessera.pki.x509build import is_country_code

PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,127}")
MAX_PATTERNS = 200


class Usage(StrEnum):
    """Key usage and extended key usage of issued certificates."""

    SERVER = "server"
    CLIENT = "client"
    SERVER_AND_CLIENT = "server_and_client"
    CODE_SIGNING = "code_signing"

    def eku(self) -> list[x509.ObjectIdentifier]:
        return {
            Usage.SERVER: [ExtendedKeyUsageOID.SERVER_AUTH],
            Usage.CLIENT: [ExtendedKeyUsageOID.CLIENT_AUTH],
            Usage.SERVER_AND_CLIENT: [
                ExtendedKeyUsageOID.SERVER_AUTH,
                ExtendedKeyUsageOID.CLIENT_AUTH,
            ],
            Usage.CODE_SIGNING: [ExtendedKeyUsageOID.CODE_SIGNING],
        }[self]


_KEYS = {
    "issuer", "description", "allowed_domains", "allow_wildcard_certificates",
    "allow_ip_sans", "allowed_ip_ranges", "allowed_uri_sans", "allowed_email_sans",
    "allowed_key_types", "default_key_type", "ttl", "max_ttl", "usage", "subject",
    "auto_renew", "renew_at",
}  # fmt: skip
_SUBJECT_KEYS = {"organization", "organizational_unit", "country", "locality", "state"}


def validate_profile_name(name: str) -> str:
    if not isinstance(name, str) or not PROFILE_NAME.fullmatch(name):
        raise InvalidRequest(
            "a profile or CA name is 1-128 characters of a-z, 0-9, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Profile:
    """A validated profile; every field has a safe default (nothing is allowed by default)."""

    name: str
    issuer: str
    description: str = ""
    allowed_domains: tuple[str, ...] = ()
    allow_wildcard_certificates: bool = False
    allow_ip_sans: bool = False
    allowed_ip_ranges: tuple[str, ...] = ()
    allowed_uri_sans: tuple[str, ...] = ()
    allowed_email_sans: tuple[str, ...] = ()
    allowed_key_types: tuple[KeyType, ...] = (
        KeyType.EC_P256, KeyType.EC_P384, KeyType.ED25519,
        KeyType.RSA_2048, KeyType.RSA_3072, KeyType.RSA_4096,
    )  # fmt: skip
    default_key_type: KeyType = KeyType.EC_P256
    ttl: timedelta = timedelta(days=30)
    max_ttl: timedelta = timedelta(days=90)
    usage: Usage = Usage.SERVER
    subject: SubjectFields = field(default_factory=SubjectFields)
    auto_renew: bool = False  # the scheduler re-certifies the key at `renew_at` of the lifetime
    renew_at: float = 2 / 3

    @classmethod
    def from_document(cls, name: str, doc: Mapping[str, Any]) -> Profile:
        validate_profile_name(name)
        if not isinstance(doc, Mapping):
            raise InvalidRequest("a profile is a JSON object")
        unknown = set(doc) - _KEYS
        if unknown:
            raise InvalidRequest(f"unknown profile fields: {', '.join(sorted(map(str, unknown)))}")
        issuer = doc.get("issuer")
        if not isinstance(issuer, str):
            raise InvalidRequest("issuer (the name of the CA that signs) is required")
        validate_profile_name(issuer)
        domains = tuple(names.normalise_pattern(p) for p in _listed(doc, "allowed_domains"))
        ranges = _listed(doc, "allowed_ip_ranges")
        names.parse_networks(ranges)
        key_types = tuple(
            parse_enum(KeyType, k, "allowed_key_types")
            for k in _listed(doc, "allowed_key_types", [k.value for k in KeyType])
        )
        if not key_types:
            raise InvalidRequest("allowed_key_types must name at least one key type")
        default_kt = parse_enum(
            KeyType, doc.get("default_key_type", key_types[0].value), "default_key_type"
        )
        if default_kt not in key_types:
            raise InvalidRequest("default_key_type must be one of allowed_key_types")
        ttl = duration(doc, "ttl", timedelta(days=30))
        max_ttl = duration(doc, "max_ttl", max(ttl, timedelta(days=90)))
        if ttl > max_ttl:
            raise InvalidRequest("ttl must not exceed max_ttl")
        subject = doc.get("subject", {})
        if not isinstance(subject, Mapping) or set(subject) - _SUBJECT_KEYS:
            raise InvalidRequest(f"subject takes only: {', '.join(sorted(_SUBJECT_KEYS))}")
        for k, v in subject.items():
            check_text(v, f"subject.{k}", 64)
        country = subject.get("country", "")
        if country and not is_country_code(country):
            raise InvalidRequest("subject.country is a two-letter ISO 3166 code")
        return cls(
            name=name,
            issuer=issuer,
            description=check_text(
                str(doc.get("description", "")), "description", 1024, allow_empty=True
            ),
            allowed_domains=domains,
            allow_wildcard_certificates=flag(doc, "allow_wildcard_certificates"),
            allow_ip_sans=flag(doc, "allow_ip_sans"),
            allowed_ip_ranges=tuple(ranges),
            allowed_uri_sans=tuple(names.check_uri(u) for u in _listed(doc, "allowed_uri_sans")),
            allowed_email_sans=tuple(
                names.normalise_email_pattern(p) for p in _listed(doc, "allowed_email_sans")
            ),
            allowed_key_types=key_types,
            default_key_type=default_kt,
            ttl=ttl,
            max_ttl=max_ttl,
            usage=parse_enum(Usage, doc.get("usage", "server"), "usage"),
            subject=SubjectFields(**{k: str(v) for k, v in subject.items()}),
            auto_renew=flag(doc, "auto_renew"),
            renew_at=_fraction(doc.get("renew_at", 2 / 3)),
        )

    def to_document(self) -> dict[str, Any]:
        s = self.subject
        return {
            "issuer": self.issuer,
            "description": self.description,
            "allowed_domains": list(self.allowed_domains),
            "allow_wildcard_certificates": self.allow_wildcard_certificates,
            "allow_ip_sans": self.allow_ip_sans,
            "allowed_ip_ranges": list(self.allowed_ip_ranges),
            "allowed_uri_sans": list(self.allowed_uri_sans),
            "allowed_email_sans": list(self.allowed_email_sans),
            "allowed_key_types": [k.value for k in self.allowed_key_types],
            "default_key_type": self.default_key_type.value,
            "ttl": int(self.ttl.total_seconds()),
            "max_ttl": int(self.max_ttl.total_seconds()),
            "usage": self.usage.value,
            "subject": {k: v for k, v in vars(s).items() if v},
            "auto_renew": self.auto_renew,
            "renew_at": self.renew_at,
        }

    # -- checks applied at issuance ---------------------------------------------------------
    def check_dns(self, name: str) -> str:
        normal = names.normalise_dns(name)
        names.DomainRules(self.allowed_domains, self.allow_wildcard_certificates).check(normal)
        return normal

    def check_ip(self, value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        ip = names.parse_ip(value)
        if not self.allow_ip_sans:
            raise NameNotAllowed(f"IP SAN {ip}: the profile allows no IP addresses")
        ranges = names.parse_networks(self.allowed_ip_ranges)
        if ranges and not any(ip in net for net in ranges):
            raise NameNotAllowed(f"IP SAN {ip} is outside the profile's ranges")
        return ip

    def check_uri(self, uri: str) -> str:
        names.check_uri(uri)
        if not any(names.glob_match(p, uri, "/") for p in self.allowed_uri_sans):
            raise NameNotAllowed(f"URI SAN {uri[:80]!r} is not allowed by the profile")
        return uri

    def check_email(self, email: str) -> str:
        value = names.check_email(email)
        if not any(names.glob_match(p, value, "@") for p in self.allowed_email_sans):
            raise NameNotAllowed(f"email SAN {value!r} is not allowed by the profile")
        return value

    def check_key_type(self, key_type: KeyType) -> None:
        if key_type not in self.allowed_key_types:
            allowed = ", ".join(k.value for k in self.allowed_key_types)
            raise KeyNotAllowed(f"key type {key_type.value} is not allowed (allowed: {allowed})")


def _listed(doc: Mapping[str, Any], key: str, default: Sequence[str] = ()) -> tuple[str, ...]:
    return string_list(doc, key, default, MAX_PATTERNS)


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise InvalidRequest("renew_at must be a number between 0 and 1 (exclusive)")
    return float(value)
