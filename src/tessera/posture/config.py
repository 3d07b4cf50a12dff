"""Posture configuration: thresholds and disabled rules, as defaults plus per-environment
overrides, stored as one JSON document (table `posture_config`).

Document shape (every part optional):
    {"defaults": {"thresholds": {...}, "disabled_rules": [...]},
     "environments": {"<env>": {"thresholds": {...}, "disabled_rules": [...]}}}
An environment's thresholds overlay the defaults key by key; its `disabled_rules`, when given,
replace the default list. With no document stored, `DEFAULT_DOCUMENT` applies: the built-in
thresholds, and `self-signed` disabled in `dev`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

from sqlalchemy.orm import Session

from tessera.core.clock import Clock
from tessera.core.errors import InvalidRequest
from tessera.inventory.models import validate_name
from tessera.posture.models import RuleId
from tessera.storage.db import Database
from tessera.storage.models_lifecycle import PostureConfigRow

MAX_ENVIRONMENTS = 256
_ROW_ID = 1


@dataclass(frozen=True)
class Thresholds:
    """Limits the rules apply; durations in days, key sizes in bits."""

    expiring_days: int = 30  # expiring within → medium
    expiring_high_days: int = 7  # expiring within → high
    max_tls_validity_days: int = 398  # CA/Browser Forum limit for TLS server certificates
    stale_days: int = 90
    rotation_days: int = 90
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256


_LIMITS = {
    "expiring_days": (1, 3650), "expiring_high_days": (0, 3650),
    "max_tls_validity_days": (1, 36500), "stale_days": (1, 3650), "rotation_days": (1, 3650),
    "min_rsa_bits": (512, 16384), "min_ec_bits": (160, 571),
}  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """What applies in one environment: thresholds and the rules switched off."""

    thresholds: Thresholds
    disabled: frozenset[RuleId]

    def enabled(self, rule: RuleId) -> bool:
        return rule not in self.disabled


DEFAULT_DOCUMENT: Mapping[str, Any] = MappingProxyType(
    {"defaults": {"thresholds": {}, "disabled_rules": []},
     "environments": {"dev": {"disabled_rules": [RuleId.SELF_SIGNED.value]}}}
)  # fmt: skip


@dataclass(frozen=True)
class PostureConfig:
    """A validated configuration; `for_environment` answers which settings apply where."""

    defaults: Settings
    environments: Mapping[str, Settings]
    document: Mapping[str, Any]

    def for_environment(self, environment: str | None) -> Settings:
        if environment is None:
            return self.defaults
        return self.environments.get(environment, self.defaults)

    @classmethod
    def from_document(cls, doc: Any) -> PostureConfig:
        """Validate a document; InvalidRequest names the offending field."""
        if not isinstance(doc, Mapping):
            raise InvalidRequest("the posture configuration must be a JSON object")
        _only(doc, {"defaults", "environments"}, "")
        default_part = _part(doc.get("defaults", {}), "defaults")
        defaults = _settings(default_part, Settings(Thresholds(), frozenset()), "defaults")
        envs_doc = doc.get("environments", {})
        if not isinstance(envs_doc, Mapping):
            raise InvalidRequest("environments must be an object of environment names")
        if len(envs_doc) > MAX_ENVIRONMENTS:
            raise InvalidRequest(f"environments: at most {MAX_ENVIRONMENTS}")
        envs = {}
        for name, part in envs_doc.items():
            validate_name(name, "environment")
            envs[name] = _settings(_part(part, f"environments.{name}"), defaults,
                                   f"environments.{name}")  # fmt: skip
        normal = {"defaults": default_part, "environments": {k: _part(v, k) for k, v in
                                                             envs_doc.items()}}  # fmt: skip
        return cls(defaults, MappingProxyType(envs), MappingProxyType(normal))


def _only(doc: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(doc) - allowed)
    if extra:
        prefix = f"{where}." if where else ""
        raise InvalidRequest(f"unknown field {prefix}{extra[0]} (allowed: {sorted(allowed)})")


def _part(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{where} must be an object")
    _only(value, {"thresholds", "disabled_rules"}, where)
    return dict(value)


def _settings(part: Mapping[str, Any], base: Settings, where: str) -> Settings:
    raw = part.get("thresholds", {})
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"{where}.thresholds must be an object")
    _only(raw, {f.name for f in fields(Thresholds)}, f"{where}.thresholds")
    values: dict[str, int] = {}
    for key, value in raw.items():
        low, high = _LIMITS[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidRequest(f"{where}.thresholds.{key} must be an integer {low}-{high}")
        values[key] = value
    thresholds = replace(base.thresholds, **values)
    if thresholds.expiring_high_days > thresholds.expiring_days:
        raise InvalidRequest(f"{where}.thresholds: expiring_high_days must not exceed "
                             "expiring_days")  # fmt: skip
    disabled = base.disabled
    if "disabled_rules" in part:
        listed = part["disabled_rules"]
        if not isinstance(listed, list) or not all(isinstance(r, str) for r in listed):
            raise InvalidRequest(f"{where}.disabled_rules must be a list of rule ids")
        known = {r.value for r in RuleId}
        for rule in listed:
            if rule not in known:
                raise InvalidRequest(f"{where}.disabled_rules: unknown rule {rule!r}")
        disabled = frozenset(RuleId(r) for r in listed)
    return Settings(thresholds, disabled)


DEFAULT_CONFIG = PostureConfig.from_document(DEFAULT_DOCUMENT)


class ConfigStore:
    """Reads and replaces the stored document (no policy checks: the service does them)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db, self._clock = db, clock

    def load(self, session: Session | None = None) -> PostureConfig:
        if session is None:
            with self._db.session() as s:
                return self.load(s)
        row = session.get(PostureConfigRow, _ROW_ID)
        return DEFAULT_CONFIG if row is None else PostureConfig.from_document(row.document)

    def save(self, doc: Mapping[str, Any], updated_by: str) -> PostureConfig:
        config = PostureConfig.from_document(doc)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = s.get(PostureConfigRow, _ROW_ID)
            stored = {k: dict(v) if isinstance(v, Mapping) else v
                      for k, v in config.document.items()}  # fmt: skip
            if row is None:
                s.add(PostureConfigRow(id=_ROW_ID, document=stored, updated_at=now,
                                       updated_by=updated_by[:128]))  # fmt: skip
            else:
                row.document, row.updated_at, row.updated_by = stored, now, updated_by[:128]
        return config
