"""Rule specs at rest: secrets are encrypted in the stored JSON and never shown.

An action's secrets are its options' ``writeOnly`` fields (a webhook's ``secret``). A stored
action keeps each of them null and its token in ``<field>_encrypted``
(``secret_encrypted``); the dispatcher decrypts them into the action it hands to the
executor, and the API shows ``has_<field>`` instead.
"""

from __future__ import annotations

from typing import Any

from vigil.domain.options import write_only_fields
from vigil.domain.rules import ACTIONS, Action, ActionOptions, RuleSpec
from vigil.rules.registry import load_action_kinds
from vigil.security.secrets import SecretBox

SEALED_SUFFIX = "_encrypted"
SEALED = "secret" + SEALED_SUFFIX
"""Where a webhook's encrypted secret is stored."""


def _secrets_of(action_type: object) -> tuple[str, ...]:
    if not isinstance(action_type, str):
        return ()
    try:
        return write_only_fields(ACTIONS.model(action_type))
    except KeyError:
        return ()


def _identity(action: dict[str, Any], model: type[ActionOptions]) -> tuple[Any, ...]:
    """Which previous action of the same type an edited one takes its stored secrets from."""
    return (action.get("type"), *(action.get(f) for f in model.keep_secrets_by))


def seal(
    spec: RuleSpec, secrets: SecretBox, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON to store. A secret left empty keeps the stored one of the previous version's
    action of the same type (and the same ``keep_secrets_by`` fields: a webhook's URL), so
    editing a rule never needs it again."""
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for old in (previous or {}).get("actions", []):
        if _secrets_of(old.get("type")):
            kept.setdefault(_identity(old, ACTIONS.model(old["type"])), old)
    stored = spec.model_dump(mode="json")
    for action, parsed in zip(stored["actions"], spec.actions, strict=True):
        fields = write_only_fields(type(parsed))
        if not fields:
            continue
        before = kept.get(_identity(action, type(parsed)), {})
        for field in fields:
            secret = action.pop(field, None)
            action[field] = None
            if secret:
                action[field + SEALED_SUFFIX] = secrets.encrypt(str(secret))
            elif before.get(field + SEALED_SUFFIX):
                action[field + SEALED_SUFFIX] = before[field + SEALED_SUFFIX]
    return stored


def _plain(action: dict[str, Any]) -> dict[str, Any]:
    sealed = {f + SEALED_SUFFIX for f in _secrets_of(action.get("type"))}
    return {k: v for k, v in action.items() if k not in sealed}


def unseal(stored: dict[str, Any]) -> RuleSpec:
    """The spec without its secrets (what the engine and the API work with)."""
    load_action_kinds()
    return RuleSpec.model_validate(
        {**stored, "actions": [_plain(a) for a in stored.get("actions", [])]}
    )


def has_secrets(stored_action: dict[str, Any]) -> dict[str, bool]:
    """``has_<field>`` for each secret of a stored action: whether one is set."""
    return {
        f"has_{f}": bool(stored_action.get(f + SEALED_SUFFIX))
        for f in _secrets_of(stored_action.get("type"))
    }


def has_secret(stored_action: dict[str, Any]) -> bool:
    """Whether a stored action has any secret set."""
    return any(has_secrets(stored_action).values())


def action_for_job(stored_action: dict[str, Any], secrets: SecretBox) -> Action:
    """The action as an executor gets it: with its secrets decrypted."""
    plain = _plain(stored_action)
    for field in _secrets_of(stored_action.get("type")):
        if token := stored_action.get(field + SEALED_SUFFIX):
            plain[field] = secrets.decrypt(str(token))
    return ACTIONS.parse(plain)
