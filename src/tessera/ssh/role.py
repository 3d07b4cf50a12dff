"""SSH roles: what a caller of `ssh/sign/<role>` may get. Validated on construction; a role
with no principals is refused (it could issue nothing, or worse, everything)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tessera.core.documents import duration, string_list
from tessera.core.errors import InvalidRequest
from tessera.pki.profile import validate_profile_name
from tessera.ssh.models import CRITICAL_OPTIONS, EXTENSIONS, CertType

_KEYS = {
    "ca",
    "cert_type",
    "allowed_principals",
    "ttl",
    "max_ttl",
    "allowed_critical_options",
    "allowed_extensions",
    "default_extensions",
    "allowed_key_types",
    "key_id_template",
    "backdate",
    "description",
}
KEY_FAMILIES = ("ed25519", "ecdsa", "rsa")
PRINCIPAL_RE = re.compile(r"[A-Za-z0-9*._@+-]{1,255}")
TEMPLATE_FIELDS = ("{display_name}", "{identity}", "{role}", "{serial}")
MAX_BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class Role:
    """A validated role; `allowed_principals` are exact names or globs (`*` matches any run)."""

    name: str
    ca: str
    cert_type: CertType
    allowed_principals: tuple[str, ...]
    ttl: timedelta
    max_ttl: timedelta
    allowed_critical_options: frozenset[str]
    allowed_extensions: frozenset[str]
    default_extensions: tuple[str, ...]
    allowed_key_types: tuple[str, ...]
    key_id_template: str
    backdate: timedelta
    description: str = ""

    @classmethod
    def from_document(cls, name: str, doc: Mapping[str, Any]) -> Role:
        validate_profile_name(name)
        if not isinstance(doc, Mapping):
            raise InvalidRequest("a role is a JSON object")
        unknown = set(doc) - _KEYS
        if unknown:
            raise InvalidRequest(f"unknown role fields: {', '.join(sorted(map(str, unknown)))}")
        ca = doc.get("ca")
        if not isinstance(ca, str):
            raise InvalidRequest("ca (the SSH CA that signs) is required")
        try:
            cert_type = CertType(doc.get("cert_type", "user"))
        except ValueError:
            raise InvalidRequest("cert_type must be 'user' or 'host'") from None
        principals = string_list(doc, "allowed_principals")
        if not principals:
            raise InvalidRequest(
                "allowed_principals is required: a role with no principals issues nothing"
            )
        for p in principals:
            if not PRINCIPAL_RE.fullmatch(p):
                raise InvalidRequest(f"allowed_principals: {p[:64]!r} is not a principal name")
        ttl = duration(doc, "ttl", timedelta(hours=1))
        max_ttl = duration(doc, "max_ttl", max(ttl, timedelta(hours=24)))
        if ttl > max_ttl:
            raise InvalidRequest("ttl must not exceed max_ttl")
        known_options = CRITICAL_OPTIONS if cert_type is CertType.USER else frozenset()
        known_ext = EXTENSIONS if cert_type is CertType.USER else frozenset()
        options = frozenset(string_list(doc, "allowed_critical_options"))
        if options - known_options:
            raise InvalidRequest(
                f"unknown or inapplicable critical options: "
                f"{', '.join(sorted(options - known_options))}"
            )
        allowed_ext = frozenset(
            string_list(doc, "allowed_extensions", ["permit-pty"] if known_ext else [])
        )
        if allowed_ext - known_ext:
            raise InvalidRequest(
                f"unknown or inapplicable extensions: {', '.join(sorted(allowed_ext - known_ext))}"
            )
        defaults = string_list(doc, "default_extensions", sorted(allowed_ext & {"permit-pty"}))
        if set(defaults) - allowed_ext:
            raise InvalidRequest("default_extensions must be among allowed_extensions")
        key_types = string_list(doc, "allowed_key_types", list(KEY_FAMILIES))
        if not key_types or set(key_types) - set(KEY_FAMILIES):
            raise InvalidRequest(f"allowed_key_types: a non-empty subset of {KEY_FAMILIES}")
        template = doc.get("key_id_template", "{display_name}@{role}#{serial}")
        if not isinstance(template, str) or len(template) > 256:
            raise InvalidRequest("key_id_template must be text of at most 256 characters")
        _check_template(template)
        backdate = duration(doc, "backdate", timedelta(seconds=30), minimum=timedelta(0))
        if backdate > MAX_BACKDATE:
            raise InvalidRequest("backdate is at most 5 minutes")
        description = doc.get("description", "")
        if not isinstance(description, str) or len(description) > 1024:
            raise InvalidRequest("description must be text of at most 1024 characters")
        return cls(
            name=name,
            ca=validate_profile_name(ca),
            cert_type=cert_type,
            allowed_principals=principals,
            ttl=ttl,
            max_ttl=max_ttl,
            allowed_critical_options=options,
            allowed_extensions=allowed_ext,
            default_extensions=defaults,
            allowed_key_types=key_types,
            key_id_template=template,
            backdate=backdate,
            description=description,
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "ca": self.ca,
            "cert_type": self.cert_type.value,
            "allowed_principals": list(self.allowed_principals),
            "ttl": int(self.ttl.total_seconds()),
            "max_ttl": int(self.max_ttl.total_seconds()),
            "allowed_critical_options": sorted(self.allowed_critical_options),
            "allowed_extensions": sorted(self.allowed_extensions),
            "default_extensions": list(self.default_extensions),
            "allowed_key_types": list(self.allowed_key_types),
            "key_id_template": self.key_id_template,
            "backdate": int(self.backdate.total_seconds()),
            "description": self.description,
        }

    def allows_principal(self, principal: str) -> bool:
        return any(_glob(p, principal) for p in self.allowed_principals)


def _glob(pattern: str, value: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), value) is not None


def _check_template(template: str) -> None:
    stripped = template
    for f in TEMPLATE_FIELDS:
        stripped = stripped.replace(f, "")
    if "{" in stripped or "}" in stripped:
        raise InvalidRequest(f"key_id_template may use only {', '.join(TEMPLATE_FIELDS)}")
