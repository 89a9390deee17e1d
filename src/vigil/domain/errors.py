"""Errors the domain and its services raise that the API answers in one way everywhere:
:class:`NotFound` as 404 and :class:`Conflict` as 409, with the error's message."""

from __future__ import annotations


class NotFound(LookupError):
    """What was asked for does not exist (any more)."""


class Conflict(ValueError):
    """The request is valid but cannot be done in the present state."""


class LeaseLost(RuntimeError):
    """This recorder node no longer holds the camera's lease: it must not write for it."""
