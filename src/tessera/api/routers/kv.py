"""`/v1/kv/*`: versioned KV secrets (placeholder)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/kv", tags=["kv"])
