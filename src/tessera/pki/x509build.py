"""Certificate, CSR and responder-certificate construction (RFC 5280 profiles) with pyca."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from tessera.core.errors import InvalidRequest
from tessera.core.text import check_text
from tessera.pki.keys import PrivateKey, PublicKey, signature_hash
from tessera.pki.models import SubjectFields


def subject_name(common_name: str | None, fields: SubjectFields) -> x509.Name:
    """A DN in the usual order: C, ST, L, O, OU, CN (empty values left out). Every value is
    checked here, so a bad one is an InvalidRequest (400) wherever it came from: at most 64
    characters (RFC 5280 upper bounds), no control or direction-override characters, and the
    country two ASCII letters (a PrintableString ISO 3166 code)."""
    attrs = [
        (NameOID.COUNTRY_NAME, "country", fields.country),
        (NameOID.STATE_OR_PROVINCE_NAME, "state", fields.state),
        (NameOID.LOCALITY_NAME, "locality", fields.locality),
        (NameOID.ORGANIZATION_NAME, "organization", fields.organization),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "organizational_unit", fields.organizational_unit),
        (NameOID.COMMON_NAME, "common_name", common_name or ""),
    ]
    out = []
    for oid, label, value in attrs:
        if not value:
            continue
        check_text(value, label, 64)
        if oid == NameOID.COUNTRY_NAME and not is_country_code(value):
            raise InvalidRequest("country must be a two-letter ISO 3166 code")
        try:
            out.append(x509.NameAttribute(oid, value))
        except ValueError as exc:
            raise InvalidRequest(f"{label}: {exc}") from None
    return x509.Name(out)


def is_country_code(value: str) -> bool:
    """Two ASCII letters: what a countryName PrintableString (RFC 5280 §A.1) can hold."""
    return len(value) == 2 and value.isascii() and value.isalpha()


@dataclass(frozen=True)
class Issuer:
    """What signing needs of the issuing CA."""

    name: x509.Name
    key: PrivateKey
    public_key: PublicKey
    ocsp_url: str | None = None
    ca_issuers_url: str | None = None
    crl_url: str | None = None

    @cached_property
    def extensions(self) -> tuple[x509.ExtensionType, ...]:
        """What every certificate this issuer signs carries about it (computed once): AKI,
        AIA (OCSP, caIssuers) and the CRL distribution point."""
        out: list[x509.ExtensionType] = [
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.public_key)
        ]
        access = [
            x509.AccessDescription(method, x509.UniformResourceIdentifier(url))
            for method, url in (
                (AuthorityInformationAccessOID.OCSP, self.ocsp_url),
                (AuthorityInformationAccessOID.CA_ISSUERS, self.ca_issuers_url),
            )
            if url
        ]
        if access:
            out.append(x509.AuthorityInformationAccess(access))
        if self.crl_url:
            point = x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(self.crl_url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
            out.append(x509.CRLDistributionPoints([point]))
        return tuple(out)


@dataclass(frozen=True)
class Names:
    """Validated subject alternative names."""

    dns: tuple[str, ...] = ()
    ips: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()
    uris: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    def general_names(self) -> list[x509.GeneralName]:
        out: list[x509.GeneralName] = [x509.DNSName(d) for d in self.dns]
        out += [x509.IPAddress(ip) for ip in self.ips]
        out += [x509.UniformResourceIdentifier(u) for u in self.uris]
        out += [x509.RFC822Name(e) for e in self.emails]
        return out

    def as_text(self) -> list[str]:
        return [*self.dns, *(str(ip) for ip in self.ips), *self.uris, *self.emails]

    def __bool__(self) -> bool:
        return bool(self.dns or self.ips or self.uris or self.emails)


def _common(
    builder: x509.CertificateBuilder, issuer: Issuer, public_key: PublicKey
) -> x509.CertificateBuilder:
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
    )
    for ext in issuer.extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder


def ca_certificate(
    subject: x509.Name,
    public_key: PublicKey,
    issuer: Issuer,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    path_length: int | None,
) -> x509.Certificate:
    """A CA certificate: basicConstraints CA (critical), keyCertSign + cRLSign + digitalSignature
    (the CA may sign OCSP responses itself)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
    )
    builder = _common(builder, issuer, public_key)
    return builder.sign(issuer.key, signature_hash(issuer.key))


def leaf_certificate(
    subject: x509.Name,
    public_key: PublicKey,
    issuer: Issuer,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    sans: Names,
    eku: list[x509.ObjectIdentifier],
) -> x509.Certificate:
    """An end-entity certificate. With an empty subject the SAN extension is critical
    (RFC 5280 §4.2.1.6)."""
    key_encipherment = isinstance(public_key, rsa.RSAPublicKey) and (
        ExtendedKeyUsageOID.SERVER_AUTH in eku
    )
    # the extension list is assembled once (no builder copy per extension): issuance is hot
    exts = list(_leaf_static(key_encipherment, tuple(eku)))
    if sans:
        value = x509.SubjectAlternativeName(sans.general_names())
        exts.append(x509.Extension(value.oid, len(subject) == 0, value))
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    exts.append(x509.Extension(ski.oid, False, ski))
    exts += [x509.Extension(ext.oid, False, ext) for ext in issuer.extensions]
    builder = (
        x509.CertificateBuilder(extensions=exts)
        .subject_name(subject)
        .issuer_name(issuer.name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    return builder.sign(issuer.key, signature_hash(issuer.key))


@lru_cache(maxsize=64)
def _leaf_static(
    key_encipherment: bool, eku: tuple[x509.ObjectIdentifier, ...]
) -> tuple[x509.Extension[x509.ExtensionType], ...]:
    """basicConstraints CA:FALSE (critical), keyUsage (critical), extendedKeyUsage."""
    values: tuple[tuple[x509.ExtensionType, bool], ...] = (
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(digital_signature=True, key_encipherment=key_encipherment), True),
        (x509.ExtendedKeyUsage(list(eku)), False),
    )
    return tuple(x509.Extension(v.oid, critical, v) for v, critical in values)


def responder_certificate(
    subject: x509.Name,
    public_key: PublicKey,
    issuer: Issuer,
    serial: int,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """A delegated OCSP responder certificate (RFC 6960 §4.2.2.2): id-kp-OCSPSigning and
    id-pkix-ocsp-nocheck, so clients do not check the responder's own status."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key), critical=False
        )
    )
    return builder.sign(issuer.key, signature_hash(issuer.key))


def ca_csr(
    subject: x509.Name, key: PrivateKey, path_length: int | None
) -> x509.CertificateSigningRequest:
    """A CSR for an intermediate to be signed by an external root."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
        .sign(key, signature_hash(key))
    )


def _key_usage(
    *, digital_signature: bool = False, key_encipherment: bool = False, cert_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
