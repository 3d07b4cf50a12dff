"""Inventory: identities and the single credential spine every domain records into."""

from tessera.inventory.models import (
    CreateIdentityRequest,
    Credential,
    CredentialKind,
    CredentialQuery,
    CredentialSource,
    CredentialStatus,
    Identity,
    IdentityKind,
    IdentityQuery,
    IdentityStatus,
    LocationKind,
    Page,
    RecordCredential,
    UpdateIdentityRequest,
)
from tessera.inventory.service import InventoryService

__all__ = [
    "CreateIdentityRequest",
    "Credential",
    "CredentialKind",
    "CredentialQuery",
    "CredentialSource",
    "CredentialStatus",
    "Identity",
    "IdentityKind",
    "IdentityQuery",
    "IdentityStatus",
    "InventoryService",
    "LocationKind",
    "Page",
    "RecordCredential",
    "UpdateIdentityRequest",
]
