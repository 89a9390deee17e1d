"""Errors the routes raise that answer like request validation (422 naming the field), and
faults of the moment (the database away) that answer 503."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.domain.errors import NotFound

log = logging.getLogger(__name__)


class FieldError(Exception):
    """A request that is well formed but refers to something that does not exist."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


async def field_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """``{"detail", "errors": [{"field", "message"}]}`` with status 422."""
    assert isinstance(exc, FieldError)
    return JSONResponse(
        {"detail": str(exc), "errors": [{"field": exc.field, "message": exc.message}]},
        status_code=422,
    )


async def domain_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """:class:`NotFound` answers 404, :class:`Conflict` 409, each with its message."""
    status = 404 if isinstance(exc, NotFound) else 409
    return JSONResponse({"detail": str(exc)}, status_code=status)


# The largest integer both databases store (SQLite INTEGER, PostgreSQL bigint).
MAX_STORED_INT = 2**63 - 1


def _too_big(value: str) -> bool:
    try:
        return abs(int(value)) > MAX_STORED_INT
    except ValueError:
        return False


async def unstorable_value_handler(request: Request, exc: Exception) -> JSONResponse:
    """A value no database column can hold is bad input, not a server fault: an integer past
    64 bits (SQLite raises OverflowError binding it) or text PostgreSQL refuses (a NUL byte,
    ``DataError``). 422, naming the path or query parameter when it is one of those."""
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    fields = sorted({name for name, value in params if isinstance(value, str) and _too_big(value)})
    if fields:
        message = f"out of range: at most {MAX_STORED_INT}"
        errors = [{"field": name, "message": message} for name in fields]
        return JSONResponse({"detail": f"{', '.join(fields)}: {message}", "errors": errors}, 422)
    if isinstance(exc, DataError):  # PostgreSQL's words say which kind of value
        message = f"the database refuses a value of the request: {str(exc.orig).splitlines()[0]}"
    else:
        message = f"a number of the request is out of range (-{MAX_STORED_INT}..{MAX_STORED_INT})"
    return JSONResponse(
        {"detail": message, "errors": [{"field": "body", "message": message}]}, status_code=422
    )


class DatabaseUnavailable:
    """The database away (restarting, unreachable, SQLite locked past its wait) is a passing
    condition: 503 with Retry-After rather than a 500 with a traceback; nothing of the
    request was stored (its transaction rolled back). Outermost, so that the faults of the
    authentication middleware, which reads sessions, answer the same."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except (OperationalError, InterfaceError) as exc:
            if started:  # a stream cut short: nothing else can be said now
                raise
            reason = str(exc.orig or exc).strip().splitlines()[0]
            log.warning(
                "%s %s: the database is unavailable: %s", scope["method"], scope["path"], reason
            )
            response = JSONResponse(
                {"detail": f"the database is unavailable ({reason}); try again shortly"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
            await response(scope, receive, send)


# What every 422 carries (request validation and FieldError alike). FastAPI's spec would
# describe its own default shape, which Vigil never sends; clients (and the fuzz test that
# checks answers against the spec) must read the real one.
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "type": "object",
    "required": ["detail"],  # a route's own HTTPException(422) names no field
    "properties": {
        "detail": {"type": "string", "title": "Detail"},
        "errors": {
            "type": "array",
            "title": "Errors",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string", "title": "Field"},
                    "message": {"type": "string", "title": "Message"},
                },
            },
        },
    },
}


def publish_validation_problem(app: FastAPI) -> None:
    """Make the app's OpenAPI spec describe 422 answers as Vigil sends them."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()  # FastAPI caches it in app.openapi_schema: edited in place, once
        schemas = spec.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = VALIDATION_PROBLEM_SCHEMA
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
