"""`tessera agent`: keeps certificates issued by Tessera valid on disk (login, issue, atomic
writes, renewal at a fraction of the lifetime, reload, retries, health)."""

from tessera.agent.client import AgentCallError, AgentClient, Issued, build_client
from tessera.agent.config import AgentConfig, CertificateConfig, load_config, parse_config
from tessera.agent.health import HealthReport, HealthServer, Status
from tessera.agent.runner import Agent, ReloadFailed, backoff_delay, renewal_time

__all__ = [
    "Agent",
    "AgentCallError",
    "AgentClient",
    "AgentConfig",
    "CertificateConfig",
    "HealthReport",
    "HealthServer",
    "Issued",
    "ReloadFailed",
    "Status",
    "backoff_delay",
    "build_client",
    "load_config",
    "parse_config",
    "renewal_time",
]
