"""From a request and its profile to exactly what will be signed, or a typed refusal.

CSR handling: the CSR's signature must verify; its subject common name and SANs are taken (or
replaced by names given in the request) and every one must be allowed by the profile, else the
request is refused. Every other extension a CSR asks for (key usage, extended key usage, basic
constraints, …) is dropped: the profile alone decides them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from tessera.core.errors import InvalidRequest
from tessera.pki import keys, names
from tessera.pki.errors import NameNotAllowed, TTLTooLong
from tessera.pki.keys import PrivateKey, PublicKey
from tessera.pki.models import IssueRequest
from tessera.pki.pem import load_csr
from tessera.pki.profile import Profile
from tessera.pki.x509build import Names, subject_name

MAX_SANS = 100


@dataclass(frozen=True)
class Plan:
    """A fully validated issuance: nothing here can be refused any more."""

    subject: x509.Name
    common_name: str
    sans: Names
    public_key: PublicKey
    private_key: PrivateKey | None
    ttl: timedelta


def plan(profile: Profile, req: IssueRequest, constraints: Mapping[str, Any]) -> Plan:
    """Validate names, key and lifetime against the profile and the policy constraints."""
    ttl = _ttl(profile, req.ttl, constraints)
    private: PrivateKey | None = None
    if req.public_key is not None:
        public = keys.as_certificate_key(req.public_key)
        requested = _names_of(req)
    elif req.csr_pem is not None:
        csr = load_csr(req.csr_pem)
        public = keys.as_certificate_key(csr.public_key())
        profile.check_key_type(keys.key_type_of(public))
        requested = _names_of_csr(csr) if not _has_names(req) else _names_of(req)
    else:
        key_type = req.key_type or profile.default_key_type
        profile.check_key_type(key_type)
        requested = _names_of(req)
        private = keys.generate(key_type)
        public = keys.as_certificate_key(private.public_key())
    cn, sans = _check_names(profile, *requested)
    return Plan(subject_name(cn, profile.subject), cn or "", sans, public, private, ttl)


def _ttl(profile: Profile, wanted: timedelta | None, constraints: Mapping[str, Any]) -> timedelta:
    limit = profile.max_ttl
    policy_max = constraints.get("max_ttl")
    if policy_max is not None:
        limit = min(limit, timedelta(seconds=int(policy_max)))
    if wanted is None:
        return min(profile.ttl, limit)
    if wanted <= timedelta(0):
        raise InvalidRequest("ttl must be positive")
    if wanted > limit:
        raise TTLTooLong(
            f"ttl {int(wanted.total_seconds())}s is above the maximum of "
            f"{int(limit.total_seconds())}s for this profile and policy"
        )
    return wanted


Requested = tuple[str | None, list[str], list[str], list[str], list[str]]


def _has_names(req: IssueRequest) -> bool:
    return bool(req.common_name or req.dns_names or req.ip_addresses or req.uris or req.emails)


def _names_of(req: IssueRequest) -> Requested:
    return (
        req.common_name,
        list(req.dns_names),
        list(req.ip_addresses),
        list(req.uris),
        list(req.emails),
    )


def _names_of_csr(csr: x509.CertificateSigningRequest) -> Requested:
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None
    dns: list[str] = []
    ips: list[str] = []
    uris: list[str] = []
    emails: list[str] = []
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        ext = None
    except ValueError:
        raise InvalidRequest("the CSR's extensions cannot be parsed") from None
    for gn in ext or []:
        if isinstance(gn, x509.DNSName):
            dns.append(gn.value)
        elif isinstance(gn, x509.IPAddress):
            ips.append(str(gn.value))
        elif isinstance(gn, x509.UniformResourceIdentifier):
            uris.append(gn.value)
        elif isinstance(gn, x509.RFC822Name):
            emails.append(gn.value)
        else:
            raise NameNotAllowed(f"the CSR asks for a {type(gn).__name__} SAN, never issued")
    return cn, dns, ips, uris, emails


def _check_names(
    profile: Profile,
    cn: str | None,
    dns: list[str],
    ips: list[str],
    uris: list[str],
    emails: list[str],
) -> tuple[str | None, Names]:
    if len(dns) + len(ips) + len(uris) + len(emails) > MAX_SANS:
        raise InvalidRequest(f"at most {MAX_SANS} subject alternative names")
    dns_ok = _unique(profile.check_dns(d) for d in dns)
    ip_ok = _unique(profile.check_ip(i) for i in ips)
    uri_ok = _unique(profile.check_uri(u) for u in uris)
    email_ok = _unique(profile.check_email(e) for e in emails)
    if cn is not None:
        cn = cn.strip()
        others = {str(i) for i in ip_ok} | set(uri_ok) | set(email_ok)
        if cn.lower() in dns_ok:
            cn = cn.lower()
        elif cn not in others:
            # a common name is a host name the profile allows, added as a SAN (RFC 6125)
            try:
                normal = names.normalise_dns(cn)
            except InvalidRequest:
                raise NameNotAllowed(
                    f"common_name {cn[:64]!r} must be one of the SANs or an allowed DNS name"
                ) from None
            cn = profile.check_dns(normal)
            dns_ok.insert(0, cn)
        if len(cn) > 64:
            raise InvalidRequest(
                "common_name is limited to 64 characters (RFC 5280 ub-common-name)"
            )
    elif dns_ok and len(dns_ok[0]) <= 64:
        cn = dns_ok[0]
    sans = Names(tuple(dns_ok), tuple(ip_ok), tuple(uri_ok), tuple(email_ok))
    if not sans:
        raise InvalidRequest("at least one name (DNS, IP, URI or email SAN) is required")
    return cn, sans


def _unique(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


__all__ = ["Plan", "plan"]
