"""HTTP API: FastAPI app factory and one router per domain."""

from tessera.api.app import create_app

__all__ = ["create_app"]
