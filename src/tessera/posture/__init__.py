"""Posture: rules over the inventory → findings with a lifecycle, risk scores, compliance map."""

from __future__ import annotations

from datetime import timedelta

from tessera.core.clock import Clock
from tessera.core.randomness import Randomness
from tessera.posture.config import ConfigStore, PostureConfig
from tessera.posture.engine import PostureEngine
from tessera.posture.findings import FindingStatus, FindingStore, NewFinding, Severity
from tessera.posture.models import AcknowledgeRequest, EvaluationResult, Finding, FindingQuery
from tessera.posture.ports import Authorizer
from tessera.posture.service import PostureService
from tessera.storage.db import Database

__all__ = [
    "AcknowledgeRequest", "ConfigStore", "EvaluationResult", "Finding", "FindingQuery",
    "FindingStatus", "FindingStore", "NewFinding", "PostureConfig", "PostureEngine",
    "PostureService", "Severity", "build_posture",
]  # fmt: skip


def build_posture(
    db: Database, clock: Clock, rng: Randomness, authz: Authorizer, node: str,
    interval: timedelta = timedelta(minutes=10),
) -> PostureService:  # fmt: skip
    """The wired service; its `engine.run_once()` is the scheduled step for the worker."""
    config = ConfigStore(db, clock)
    engine = PostureEngine(db, clock, rng, config, node, interval)
    return PostureService(db, clock, authz, engine, config)
