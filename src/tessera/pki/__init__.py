"""PKI: certificate authorities, profiles, issuance, revocation, CRL and OCSP (RFC 5280, 6960).

`build_pki` wires the services; other packages use the `Pki` bundle and the models.
"""

from __future__ import annotations

from dataclasses import dataclass

from tessera.barrier.service import Barrier
from tessera.core.clock import Clock
from tessera.core.randomness import Randomness
from tessera.inventory.service import InventoryService
from tessera.pki.cas import CAService
from tessera.pki.crl import CrlService
from tessera.pki.issuance import IssuanceService
from tessera.pki.keystore import SoftwareKeyStore
from tessera.pki.ocsp import OcspResponder
from tessera.pki.ports import Authorizer, KeyStore
from tessera.pki.profiles import ProfileService
from tessera.pki.revocation import RevocationService
from tessera.pki.scheduler import PkiScheduler
from tessera.storage.db import Database

__all__ = [
    "CAService",
    "CrlService",
    "IssuanceService",
    "OcspResponder",
    "Pki",
    "PkiScheduler",
    "ProfileService",
    "RevocationService",
    "build_pki",
]


@dataclass
class Pki:
    """The wired PKI services of one server."""

    keystore: KeyStore
    cas: CAService
    profiles: ProfileService
    issuance: IssuanceService
    revocation: RevocationService
    crls: CrlService
    ocsp: OcspResponder
    scheduler: PkiScheduler


def build_pki(
    db: Database,
    clock: Clock,
    rng: Randomness,
    barrier: Barrier,
    authz: Authorizer,
    inventory: InventoryService,
    base_url: str,
) -> Pki:
    keystore = SoftwareKeyStore(db, barrier, clock, rng)
    cas = CAService(db, clock, rng, keystore, authz, inventory, base_url)
    profiles = ProfileService(db, clock, authz)
    issuance = IssuanceService(db, clock, rng, cas, authz, inventory, profiles)
    revocation = RevocationService(db, clock, authz, inventory)
    crls = CrlService(db, clock, cas)
    ocsp = OcspResponder(db, clock, cas)
    scheduler = PkiScheduler(db, clock, barrier, cas, crls)
    revocation.on_revoke(ocsp.forget)
    cas.on_profiles_changed(profiles.forget)
    cas.on_profiles_changed(issuance.forget)
    revocation.on_revoke(issuance.forget)
    revocation.on_revoke(scheduler.wake)
    inventory.add_revoker(revocation)

    def on_seal() -> None:
        cas.forget()
        crls.forget()
        ocsp.forget()

    barrier.add_listener(lambda: None, on_seal)
    return Pki(keystore, cas, profiles, issuance, revocation, crls, ocsp, scheduler)
