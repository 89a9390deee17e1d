"""Rule specs at rest: webhook secrets are encrypted in the stored JSON and never shown.

A stored webhook action keeps ``secret`` null and the token in ``secret_encrypted``; the
dispatcher decrypts it into the action it hands to the executor.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from vigil.domain.rules import Action, RuleSpec
from vigil.security.secrets import SecretBox

SEALED = "secret_encrypted"
_ACTION = TypeAdapter(Action)


def seal(
    spec: RuleSpec, secrets: SecretBox, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON to store. A webhook without a secret keeps the stored secret of the
    previous version's webhook with the same URL (so editing a rule never needs it again)."""
    kept = {
        a.get("url"): a[SEALED]
        for a in (previous or {}).get("actions", [])
        if a.get("type") == "webhook" and a.get(SEALED)
    }
    stored = spec.model_dump(mode="json")
    for action in stored["actions"]:
        if action["type"] != "webhook":
            continue
        secret = action.pop("secret", None)
        action["secret"] = None
        if secret:
            action[SEALED] = secrets.encrypt(secret)
        elif action["url"] in kept:
            action[SEALED] = kept[action["url"]]
    return stored


def _plain(action: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in action.items() if k != SEALED}


def unseal(stored: dict[str, Any]) -> RuleSpec:
    """The spec without its secrets (what the engine and the API work with)."""
    return RuleSpec.model_validate(
        {**stored, "actions": [_plain(a) for a in stored.get("actions", [])]}
    )


def has_secret(stored_action: dict[str, Any]) -> bool:
    """Whether a stored webhook action has a secret."""
    return bool(stored_action.get(SEALED))


def action_for_job(stored_action: dict[str, Any], secrets: SecretBox) -> Action:
    """The action as an executor gets it: with its secret decrypted."""
    plain = _plain(stored_action)
    if token := stored_action.get(SEALED):
        plain["secret"] = secrets.decrypt(str(token))
    return _ACTION.validate_python(plain)
