"""Errors the routes raise that answer like request validation: 422 naming the field."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from vigil.domain.errors import NotFound


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
