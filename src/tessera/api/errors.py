"""Every error leaves as `application/problem+json` (RFC 9457) with a stable `type`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException

from tessera.core.context import annotate_error
from tessera.core.errors import (
    PROBLEM_BASE,
    Conflict,
    InvalidRequest,
    MalformedJSON,
    NotFound,
    StorageUnavailable,
    TesseraError,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("tessera.api")


def problem_response(err: TesseraError, headers: dict[str, str] | None = None) -> JSONResponse:
    annotate_error(err.slug)
    return JSONResponse(
        err.to_problem(), status_code=err.status, media_type=PROBLEM_JSON, headers=headers
    )


def _validation_problem(exc: RequestValidationError) -> TesseraError:
    errors: list[dict[str, Any]] = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            return MalformedJSON("the request body is not valid JSON")
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        # never echo input values back: they might be secrets
        errors.append({"field": loc, "message": str(e.get("msg", "invalid"))})
    summary = "; ".join(f"{x['field']}: {x['message']}" for x in errors[:5])
    return InvalidRequest(summary or "the request is not valid", errors=errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(TesseraError)
    async def _tessera(_: Request, exc: TesseraError) -> JSONResponse:
        if exc.status >= 500 and not isinstance(exc, StorageUnavailable):
            log.warning("request failed: %s", exc.slug)
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(_validation_problem(exc))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return problem_response(NotFound("no such endpoint"))
        if exc.status_code == 400:  # Starlette could not parse the body (e.g. nesting too deep)
            return problem_response(MalformedJSON("the request body could not be parsed"))
        body = {
            "type": f"{PROBLEM_BASE}http-{exc.status_code}",
            "title": str(exc.detail),
            "status": exc.status_code,
            "detail": str(exc.detail),
        }
        return JSONResponse(
            body,
            status_code=exc.status_code,
            media_type=PROBLEM_JSON,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(OperationalError)
    async def _db(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", type(exc.orig).__name__)
        return problem_response(StorageUnavailable("the database cannot be reached"))

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # a value the database cannot store (e.g. NUL in PostgreSQL text): the caller's input
        return problem_response(InvalidRequest("a value cannot be stored (invalid characters)"))

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # a concurrent writer won a uniqueness race (e.g. two nodes creating one name)
        return problem_response(Conflict("the object was created or changed concurrently"))

    @app.exception_handler(SATimeoutError)
    async def _pool(_: Request, exc: SATimeoutError) -> JSONResponse:
        return problem_response(StorageUnavailable("the database is busy; retry shortly"))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return problem_response(TesseraError("an internal error occurred; see the server log"))
