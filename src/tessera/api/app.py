"""FastAPI app factory: routers, problem+json errors, the gate middleware and /metrics."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tessera import __version__
from tessera.api import errors
from tessera.api.middleware import GateMiddleware, Metrics
from tessera.api.routers import (
    apikeys,
    auth_cert,
    auth_methods,
    database,
    discovery,
    identities,
    kv,
    notify,
    oauth,
    pki,
    pki_public,
    posture,
    ssh,
    sys,
    tokens,
)
from tessera.app import Container


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="Tessera",
        version=__version__,
        description="Machine identity management: one inventory of every non-human credential.",
    )
    app.state.container = container
    metrics = Metrics()
    errors.install(app)
    app.include_router(sys.router)
    app.include_router(tokens.router)
    app.include_router(apikeys.router)
    app.include_router(auth_methods.router)
    app.include_router(auth_cert.router)
    app.include_router(identities.router)
    app.include_router(pki.router)
    app.include_router(pki_public.router)
    app.include_router(ssh.router)
    app.include_router(kv.router)
    app.include_router(database.router)
    app.include_router(database.leases)
    app.include_router(discovery.router)
    app.include_router(notify.router)
    app.include_router(oauth.standard)
    app.include_router(oauth.router)
    app.include_router(posture.router)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        metrics.sealed.set(1 if container.barrier.sealed else 0)
        for sink, count in container.auditor.failures.items():
            metrics.audit_failures.labels(sink).set(count)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(GateMiddleware, container=container, metrics=metrics)
    return app
