"""Errors the routes raise that answer like request validation: 422 naming the field."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


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
