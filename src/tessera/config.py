"""Server settings: flags, then `TESSERA_*` environment variables, then defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_LISTEN = "127.0.0.1:8700"
DEFAULT_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Resolved server settings; `database_url` and `unseal_keys` are kept out of `repr`."""

    data_dir: Path
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    listen: str = DEFAULT_LISTEN
    dev: bool = False
    audit_files: tuple[Path, ...] = ()
    audit_stdout: bool = False
    unseal_key_file: Path | None = None
    unseal_keys: tuple[str, ...] = field(default=(), repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY
    token_cache_ttl: float = 1.0
    public_url: str | None = None
    tls_login_listen: str | None = None  # host:port of the mutual-TLS certificate login
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_login_crl_files: tuple[Path, ...] = ()

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @property
    def url(self) -> str:
        if self.public_url:
            return self.public_url
        host, port = self.host_port
        return f"http://{host}:{port}"
