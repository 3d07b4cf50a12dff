"""The agent's configuration file (`agent.yaml`, or JSON): the server, how to log in, where
health is reported, how to retry, and the certificates to keep fresh.

Every mistake is reported as `InvalidRequest` naming the field; a token given inline is kept
as a `SecretStr` so it never shows in a repr or an error.
"""

from __future__ import annotations

import grp
import importlib
import ipaddress
import json
import math
import pwd
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tessera.core.durations import MAX_SECONDS, parse_duration
from tessera.core.errors import InvalidRequest, NotFound

MAX_CONFIG_BYTES = 1024 * 1024
DEFAULT_RENEW_AT = 2 / 3
KEY_TYPES = ("ec-p256", "ec-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096")


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, float) and math.isfinite(value) and 0 <= value <= MAX_SECONDS:
        return timedelta(seconds=value)  # sub-second retry delays are fine in seconds
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError("must be a duration like 30, '90s', '15m' or '24h'")
    try:
        return parse_duration(value)
    except InvalidRequest as exc:
        raise ValueError(exc.detail) from None


def _mode(value: Any) -> int:
    # YAML 1.1 reads 0640 as an octal int already; JSON has no octal, so strings are octal
    if isinstance(value, bool):
        raise ValueError("must be an octal mode such as '0640'")
    if isinstance(value, str):
        try:
            value = int(value, 8)
        except ValueError:
            raise ValueError("must be an octal mode such as '0640'") from None
    if not isinstance(value, int) or not 0 <= value <= 0o777:
        raise ValueError("must be an octal mode between '0000' and '0777', written as a string")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Mode = Annotated[int, BeforeValidator(_mode)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppRoleAuth(_Frozen):
    """AppRole login: the role id (inline or in a file) and the file holding the secret id."""

    role_id: str | None = Field(None, min_length=1, max_length=256)
    role_id_file: Path | None = None
    secret_id_file: Path | None = None

    @model_validator(mode="after")
    def _one_role_id(self) -> AppRoleAuth:
        if (self.role_id is None) == (self.role_id_file is None):
            raise ValueError("give exactly one of 'role_id' or 'role_id_file'")
        return self


class AuthConfig(_Frozen):
    """Exactly one way to obtain a token."""

    token: SecretStr | None = None
    token_file: Path | None = None
    approle: AppRoleAuth | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AuthConfig:
        given = [self.token is not None, self.token_file is not None, self.approle is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'token', 'token_file' or 'approle'")
        return self


class HealthConfig(_Frozen):
    """Where health is reported: an HTTP listener on loopback and/or a JSON status file."""

    listen: str | None = Field(None, description="host:port on loopback, e.g. 127.0.0.1:9101")
    status_file: Path | None = None

    @field_validator("listen")
    @classmethod
    def _loopback(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        host = host.strip("[]")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be host:port, e.g. 127.0.0.1:9101")
        # health names the certificates and their errors: it stays on this host
        if host != "localhost":
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise ValueError("must be a loopback address (127.0.0.1, ::1 or localhost)")
        return value

    def address(self) -> tuple[str, int] | None:
        if self.listen is None:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class RetryConfig(_Frozen):
    """Exponential backoff after a failure: `initial`, doubling up to `max`, minus jitter."""

    initial: Duration = Field(default=timedelta(seconds=2))
    max: Duration = Field(default=timedelta(minutes=5))
    jitter: float = Field(0.2, ge=0, le=1, description="Fraction of each delay drawn at random.")

    @model_validator(mode="after")
    def _ordered(self) -> RetryConfig:
        if self.initial <= timedelta(0) or self.max < self.initial:
            raise ValueError("need 0 < initial <= max")
        return self


class CertificateConfig(_Frozen):
    """One certificate the agent keeps valid on disk."""

    name: str | None = Field(None, min_length=1, max_length=128)
    profile: str = Field(min_length=1, max_length=128)
    common_name: str | None = Field(None, min_length=1, max_length=64)
    alt_names: tuple[str, ...] = Field((), max_length=100)
    ip_sans: tuple[str, ...] = Field((), max_length=100)
    uri_sans: tuple[str, ...] = Field((), max_length=100)
    ttl: Duration | None = None
    key_type: str | None = None
    identity: str | None = Field(None, max_length=255)
    cert_file: Path | None = None
    key_file: Path | None = None
    chain_file: Path | None = None
    combined_file: Path | None = Field(None, description="Certificate, chain and key in one.")
    cert_includes_chain: bool = Field(False, description="Append the chain to cert_file.")
    renew_at: float = Field(DEFAULT_RENEW_AT, gt=0, lt=1)
    reload: tuple[str, ...] = Field((), description="argv run after a write; no shell.")
    reload_timeout: Duration = Field(default=timedelta(seconds=30))
    owner: str | int | None = None
    group: str | int | None = None
    mode: Mode = 0o644
    key_mode: Mode = 0o600

    @field_validator("key_type")
    @classmethod
    def _key_type(cls, value: str | None) -> str | None:
        if value is not None and value not in KEY_TYPES:
            raise ValueError("must be one of " + ", ".join(KEY_TYPES))
        return value

    @field_validator("reload")
    @classmethod
    def _argv(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not arg or "\x00" in arg for arg in value):
            raise ValueError("must be a list of non-empty arguments")
        return value

    @field_validator("key_mode")
    @classmethod
    def _private(cls, value: int) -> int:
        if value & 0o027:
            raise ValueError("a private key may be readable by its group at most ('0600', '0640')")
        return value

    @field_validator("mode")
    @classmethod
    def _not_writable(cls, value: int) -> int:
        if value & 0o022:
            raise ValueError("must not be writable by group or others")
        return value

    @field_validator("owner", "group")
    @classmethod
    def _account(cls, value: str | int | None, info: Any) -> str | int | None:
        if value is None or isinstance(value, int):
            return value
        try:
            (pwd.getpwnam if info.field_name == "owner" else grp.getgrnam)(value)
        except KeyError:
            raise ValueError(
                f"no such {'user' if info.field_name == 'owner' else 'group'}"
            ) from None
        return value

    @model_validator(mode="after")
    def _files(self) -> CertificateConfig:
        if self.common_name is None and not (self.alt_names or self.ip_sans or self.uri_sans):
            raise ValueError("give a common_name or at least one SAN")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file")
        if self.cert_file is not None and self.key_file is None:
            raise ValueError("cert_file needs key_file")
        if self.cert_file is None and self.combined_file is None:
            raise ValueError("give cert_file and key_file, or combined_file")
        if self.chain_file is not None and self.cert_file is None:
            raise ValueError("chain_file needs cert_file")
        if len(set(self.paths())) != len(self.paths()):
            raise ValueError("each file must be a different path")
        return self

    @property
    def label(self) -> str:
        """The name used in logs and health: `name`, else the common name or first SAN."""
        return self.name or self.common_name or (self.alt_names + self.ip_sans + self.uri_sans)[0]

    def paths(self) -> list[Path]:
        files = (self.cert_file, self.key_file, self.chain_file, self.combined_file)
        return [p for p in files if p is not None]


class AgentConfig(_Frozen):
    """The whole configuration file."""

    server: str = Field(min_length=1, max_length=2048)
    ca_file: Path | None = Field(None, description="CA bundle to verify an https server.")
    auth: AuthConfig
    health: HealthConfig = Field(default_factory=HealthConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    certificates: tuple[CertificateConfig, ...] = Field(min_length=1, max_length=1000)

    @field_validator("server")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _unique(self) -> AgentConfig:
        labels = [c.label for c in self.certificates]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"certificate names must be unique; repeated: {', '.join(dupes)}")
        paths = [p.resolve() for c in self.certificates for p in c.paths()]
        if len(set(paths)) != len(paths):
            raise ValueError("two certificates write the same file")
        return self


def parse_config(data: Any, origin: str = "config") -> AgentConfig:
    """Validate already-decoded data; every error becomes one `InvalidRequest` line per field."""
    if not isinstance(data, dict):
        raise InvalidRequest(f"{origin}: the top level must be a mapping")
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(f"{origin}: {_describe(exc)}") from None


def load_config(path: Path) -> AgentConfig:
    """Read and validate `path` (`.json` as JSON, anything else as YAML)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"config file {path} does not exist") from None
    except OSError as exc:
        raise InvalidRequest(f"cannot read config file {path}: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InvalidRequest(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
    return parse_config(_decode(path, raw), str(path))


def _decode(path: Path, raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{path}: not UTF-8 text") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{path}: invalid JSON at line {exc.lineno}") from None
    try:
        # PyYAML is optional (JSON always works); imported by name so no stubs are needed
        yaml: Any = importlib.import_module("yaml")
    except ImportError:
        raise InvalidRequest(f"{path}: YAML needs PyYAML; install it or use JSON") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidRequest(f"{path}: invalid YAML{where}") from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
