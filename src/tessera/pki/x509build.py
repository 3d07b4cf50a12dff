"""Certificate, CSR and responder-certificate construction (RFC 5280 profiles) with pyca."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from tessera.pki.keys import PrivateKey, PublicKey, signature_hash
from tessera.pki.models import SubjectFields


def subject_name(common_name: str | None, fields: SubjectFields) -> x509.Name:
    """A DN in the usual order: C, ST, L, O, OU, CN (empty values left out)."""
    attrs = [
        (NameOID.COUNTRY_NAME, fields.country),
        (NameOID.STATE_OR_PROVINCE_NAME, fields.state),
        (NameOID.LOCALITY_NAME, fields.locality),
        (NameOID.ORGANIZATION_NAME, fields.organization),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, fields.organizational_unit),
        (NameOID.COMMON_NAME, common_name or ""),
    ]
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs if value])


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
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_encipherment=key_encipherment), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(sans.general_names()), critical=len(subject) == 0
        )
    builder = _common(builder, issuer, public_key)
    return builder.sign(issuer.key, signature_hash(issuer.key))


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
