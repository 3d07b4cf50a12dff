"""Principal (who is calling) and tokens as domain objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tessera.policy.models import Policy


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's accessor, its resolved policies and identity."""

    accessor: str
    policy_names: tuple[str, ...]
    policies: tuple[Policy, ...]
    display_name: str
    identity_id: str | None = None
    expires_at: datetime | None = None

    @property
    def is_root(self) -> bool:
        return "root" in self.policy_names


@dataclass(frozen=True)
class TokenInfo:
    """A token's stored properties, never the token itself; `ttl_seconds` is as created."""

    accessor: str
    policies: tuple[str, ...]
    display_name: str
    identity_id: str | None
    meta: Mapping[str, str]
    renewable: bool
    ttl_seconds: int
    created_at: datetime
    expires_at: datetime | None
    max_expires_at: datetime | None
    parent_accessor: str | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class CreateTokenRequest:
    """What a caller asks of a child token; the service narrows it to the caller's
    policies, its policy constraints and the parent's lifetime."""

    policies: tuple[str, ...] = ()
    ttl: timedelta | None = None
    explicit_max_ttl: timedelta | None = None
    display_name: str = "token"
    renewable: bool = True
    identity: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    no_default_policy: bool = False


@dataclass(frozen=True)
class CreatedToken:
    """The token in clear exists only in this object, returned once to the caller."""

    token: str
    info: TokenInfo
