"""Deduplication of file findings into one credential per (kind, fingerprint), and the links
between a private key, its certificates and its SSH public keys (all share the SPKI hash)."""

from __future__ import annotations

from collections.abc import Iterable

from tessera.discovery.keyinfo import Finding
from tessera.discovery.models import DiscoveredCredential, Location
from tessera.inventory.models import CredentialKind


def merge(found: Iterable[tuple[Finding, Location]]) -> list[DiscoveredCredential]:
    """One credential per (kind, fingerprint), in first-seen order, with every location and
    every `formats` (encodings, or SSH file styles) it was found in.

    A private key seen in more than one place gets `duplicate_locations: true`; it counts as
    `unencrypted` when any copy is, and `unencrypted_locations` names those copies."""
    merged: dict[tuple[CredentialKind, str], DiscoveredCredential] = {}
    for finding, location in found:
        key = (finding.kind, finding.fingerprint)
        cred = merged.get(key)
        if cred is None:
            cred = DiscoveredCredential(
                kind=finding.kind,
                fingerprint=finding.fingerprint,
                name=finding.name,
                not_after=finding.not_after,
                attributes=dict(finding.attributes),
            )
            cred.attributes["formats"] = []
            if finding.kind is CredentialKind.PRIVATE_KEY:
                cred.attributes["unencrypted_locations"] = []
            merged[key] = cred
        if location not in cred.locations:
            cred.locations.append(location)
        fmt = finding.attributes.get("format") or finding.attributes.get("source")
        if fmt and fmt not in cred.attributes["formats"]:
            cred.attributes["formats"].append(fmt)
        if finding.kind is CredentialKind.PRIVATE_KEY:
            _merge_private(cred, finding, location)
    credentials = list(merged.values())
    _link(credentials)
    return credentials


def _merge_private(cred: DiscoveredCredential, finding: Finding, location: Location) -> None:
    attrs = cred.attributes
    if finding.attributes.get("unencrypted"):
        attrs["unencrypted"] = True
        if location.location not in attrs["unencrypted_locations"]:
            attrs["unencrypted_locations"].append(location.location)
    # SSH fingerprints come from any copy: a PEM copy of an OpenSSH key has the same key.
    for extra in ("ssh_fingerprint", "ssh_key_type"):
        if extra in finding.attributes:
            attrs.setdefault(extra, finding.attributes[extra])
    attrs["duplicate_locations"] = len(cred.locations) > 1


def _link(credentials: list[DiscoveredCredential]) -> None:
    """Private key ↔ certificates (`certificates`, `private_key_found`) and private key ↔ SSH
    public key (`ssh_public_key_found`, `private_key_found`), matched by public key."""
    keys = {c.fingerprint: c for c in credentials if c.kind is CredentialKind.PRIVATE_KEY}
    for key in keys.values():
        key.attributes["certificates"] = []
    for cred in credentials:
        if cred.kind is CredentialKind.X509_CERTIFICATE:
            owner = keys.get(cred.attributes.get("public_key_fingerprint", ""))
        elif cred.kind is CredentialKind.SSH_KEY:
            owner = keys.get(cred.fingerprint)
        else:
            continue
        cred.attributes["private_key_found"] = owner is not None
        if owner is None:
            continue
        if cred.kind is CredentialKind.X509_CERTIFICATE:
            owner.attributes["certificates"].append(cred.fingerprint)
        else:
            owner.attributes["ssh_public_key_found"] = True
