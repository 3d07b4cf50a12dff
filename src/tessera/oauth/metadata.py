"""Authorization server metadata (RFC 8414), also served as an OpenID Connect discovery
document, and the standard paths of every endpoint."""

from __future__ import annotations

from typing import Any

from tessera.oauth.keys import SIGNING_ALGORITHMS
from tessera.oauth.models import ASSERTION_ALGORITHMS, AuthMethod, GrantType

TOKEN_PATH = "/oauth2/token"
INTROSPECTION_PATH = "/oauth2/introspect"
REVOCATION_PATH = "/oauth2/revoke"
JWKS_PATH = "/oauth2/jwks"
OAUTH_METADATA_PATH = "/.well-known/oauth-authorization-server"
OPENID_METADATA_PATH = "/.well-known/openid-configuration"


def endpoint_urls(issuer: str) -> dict[str, str]:
    base = issuer.rstrip("/")
    return {
        "token_endpoint": base + TOKEN_PATH,
        "introspection_endpoint": base + INTROSPECTION_PATH,
        "revocation_endpoint": base + REVOCATION_PATH,
        "jwks_uri": base + JWKS_PATH,
    }


def server_metadata(issuer: str, *, openid: bool = False) -> dict[str, Any]:
    """The metadata document. No authorization endpoint: this server only serves machines
    (client credentials and token exchange), so no response type is supported."""
    methods = [m.value for m in AuthMethod]
    doc: dict[str, Any] = {
        "issuer": issuer,
        **endpoint_urls(issuer),
        "grant_types_supported": [g.value for g in GrantType],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "access_token_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
    }
    if openid:
        doc["subject_types_supported"] = ["public"]
        doc["id_token_signing_alg_values_supported"] = list(SIGNING_ALGORITHMS)
    return doc
