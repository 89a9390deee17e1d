"""Typed option models chosen by a tag: the shared part of the action and behaviour registries.

A registry maps a tag (an action's ``type``, a behaviour's ``type``) to a pydantic model. A
field typed with :func:`tagged` validates a JSON object with the model its tag names, so new
kinds can be added at run time (one module each) without editing a union. Errors keep
pydantic's shape, with the tag in their location as a discriminated union puts it
(``actions.0.webhook.url``), so clients and tests read them as before.

Example:
    >>> from typing import Literal
    >>> class Ping(BaseModel):
    ...     type: Literal["ping"] = "ping"
    ...     times: int = 1
    >>> pings = OptionsRegistry[BaseModel]("action")
    >>> _ = pings.register(Ping)
    >>> pings.parse({"type": "ping", "times": 2})
    Ping(type='ping', times=2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

M = TypeVar("M", bound=BaseModel)

TEMPLATE_MARK = "x-template"
"""JSON-schema key of a field that is a message template (checked when saved)."""


def tag_of(model: type[BaseModel]) -> str:
    """The tag a model declares: the default of its ``type`` field (``Literal["webhook"]``).

    Raises:
        ValueError: The model has no ``type`` field with a string default.
    """
    field = model.model_fields.get("type")
    tag = field.default if field is not None else None
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"{model.__name__} needs a field type: Literal['key'] = 'key'")
    return tag


class OptionsRegistry(Generic[M]):
    """Option models by tag, for one kind of thing ("action", "behaviour").

    Args:
        what: How the things are named in error messages.
        before_lookup: Called before every lookup (loads the modules that register).
    """

    def __init__(self, what: str, before_lookup: Callable[[], None] | None = None) -> None:
        self.what = what
        self._models: dict[str, type[M]] = {}
        self.before_lookup = before_lookup

    def register(self, model: type[M]) -> type[M]:
        """Register a model under its tag (usable as a class decorator).

        Raises:
            ValueError: Another model already has that tag.
        """
        tag = tag_of(model)
        if self._models.get(tag, model) is not model:
            raise ValueError(f"{self.what} type {tag!r} is registered twice")
        self._models[tag] = model
        return model

    def models(self) -> Mapping[str, type[M]]:
        """The registered models by tag."""
        if self.before_lookup is not None:
            self.before_lookup()
        return dict(self._models)

    def model(self, tag: str) -> type[M]:
        """The model registered under ``tag``.

        Raises:
            KeyError: None is (the message lists the known tags).
        """
        found = self.models().get(tag)
        if found is None:
            raise KeyError(
                f"unknown {self.what} type {tag!r}; known: {', '.join(sorted(self._models))}"
            )
        return found

    def parse(self, raw: Any) -> M:
        """Validate one object with the model its ``type`` names (a pydantic validator).

        Raises:
            pydantic_core.PydanticCustomError: Not an object, or an unknown ``type``.
            ValidationError: The options do not fit the model; locations start with the tag.
        """
        if isinstance(raw, BaseModel) and type(raw) in self.models().values():
            return raw  # type: ignore[return-value]  # one of ours, already valid
        if isinstance(raw, BaseModel):
            raw = raw.model_dump()
        if not isinstance(raw, Mapping):
            raise PydanticCustomError("model_type", f"a {self.what} is a JSON object")
        tag = raw.get("type")
        known = self.models()
        if not isinstance(tag, str) or tag not in known:
            message = f"{self.what} type {tag!r} is not one of: {', '.join(sorted(known))}"
            # Braces would be read as placeholders of the message.
            raise PydanticCustomError(
                "union_tag_invalid", message.replace("{", "(").replace("}", ")")
            )
        try:
            return known[tag].model_validate(dict(raw))
        except ValidationError as exc:
            raise ValidationError.from_exception_data(
                exc.title,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(str(e["type"]), str(e["msg"])),
                        loc=(tag, *e["loc"]),
                        input=e["input"],
                    )
                    for e in exc.errors()
                ],
            ) from None

    def schemas(self) -> dict[str, dict[str, Any]]:
        """Each model's JSON schema by tag (``title`` is its label, ``description`` its help)."""
        return {tag: model.model_json_schema() for tag, model in sorted(self.models().items())}


def template_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model marked as message templates (``TEMPLATE_MARK``)."""
    return tuple(
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get(TEMPLATE_MARK)
    )


def write_only_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model marked ``writeOnly`` (secrets: stored encrypted, never shown)."""
    return tuple(
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("writeOnly")
    )
