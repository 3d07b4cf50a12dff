"""API keys: issue, verify cheaply, rotate with an overlap, revoke; each an inventory credential.

The service lives in `tessera.apikeys.service`, kept out of this import so the secret scanner
can use `well_formed` without loading storage."""

from tessera.apikeys.errors import InvalidApiKey
from tessera.apikeys.format import well_formed
from tessera.apikeys.models import (
    ApiKey,
    ApiKeyLimits,
    ApiKeyQuery,
    ApiKeyStatus,
    CreateApiKeyRequest,
    CreatedApiKey,
    RotateApiKeyRequest,
    RotatedApiKey,
    RotationPolicy,
    VerifiedKey,
)

__all__ = [
    "ApiKey",
    "ApiKeyLimits",
    "ApiKeyQuery",
    "ApiKeyStatus",
    "CreateApiKeyRequest",
    "CreatedApiKey",
    "InvalidApiKey",
    "RotateApiKeyRequest",
    "RotatedApiKey",
    "RotationPolicy",
    "VerifiedKey",
    "well_formed",
]
