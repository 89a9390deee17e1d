"""The action registry: a new action type is one module (here, the top of this file) and the
server validates, stores (secret sealed), shows (schema, has_<secret>) and runs it; the
built-in types come from their modules in vigil.rules.kinds."""

from __future__ import annotations

import threading
from typing import Literal

import pytest
from fastapi.testclient import TestClient
from pydantic import ConfigDict, Field

from tests.conftest import wait_until
from vigil.domain.rules import ActionOptions, RuleSpec, Template, render
from vigil.rules.actions import ActionJob, Executor
from vigil.rules.registry import (
    ActionKind,
    ExecutorContext,
    action_kinds,
    build_executors,
    register_action,
)
from vigil.store import rules as rule_store
from vigil.store.db import Database

# ----- what a new action's module holds: its options, its executor, one registration --------


class Chime(ActionOptions):
    """Ring a chime in a room (a stand-in for a "slack" action)."""

    model_config = ConfigDict(extra="forbid", title="Ring a chime")
    type: Literal["test_chime"] = "test_chime"
    room: str = Field(min_length=1, max_length=40, title="Room")
    volume: int = Field(5, ge=1, le=10, title="Volume")
    token: str | None = Field(None, title="Token", json_schema_extra={"writeOnly": True})
    text: Template = Field("{rule} on {camera}", title="Text")


RUNG: list[tuple[str, str | None, str]] = []
_RUNG_LOCK = threading.Lock()


def _chime_executor(context: ExecutorContext) -> Executor:
    async def ring(job: ActionJob) -> str:
        action = job.action
        assert isinstance(action, Chime)
        with _RUNG_LOCK:
            RUNG.append((action.room, action.token, render(action.text, job.values)))
        return f"rang in {action.room}"

    return ring


register_action(ActionKind(Chime, _chime_executor))

# ---------------------------------------------------------------------------------------------


def test_every_builtin_action_type_has_its_module_and_executor(db: Database) -> None:
    kinds = action_kinds()
    builtin = {"raise_alarm", "record", "bookmark", "mqtt_publish", "webhook", "email"}
    assert builtin | {"web_push", "signage"} <= set(kinds)
    assert kinds["raise_alarm"].executor is None, "the firing itself raises alarms"
    # With a database only: what needs nothing else (and the test's own chime).
    assert set(build_executors(ExecutorContext(db=db))) == {"record", "bookmark", "test_chime"}


def test_a_rule_with_the_new_action_is_validated_by_its_options() -> None:
    base = {"name": "Chime", "trigger": {"kind": "manual"}}
    spec = RuleSpec.model_validate({**base, "actions": [{"type": "test_chime", "room": "Hall"}]})
    (action,) = spec.actions
    assert isinstance(action, Chime) and action.volume == 5
    with pytest.raises(ValueError, match=r"actions\.0\.test_chime\.volume"):
        RuleSpec.model_validate(
            {**base, "actions": [{"type": "test_chime", "room": "Hall", "volume": 11}]}
        )
    with pytest.raises(ValueError, match=r"actions\.0\.text: unknown template field \{nope\}"):
        RuleSpec.model_validate(
            {**base, "actions": [{"type": "test_chime", "room": "Hall", "text": "{nope}"}]}
        )
    with pytest.raises(ValueError, match=r"action type 'nothing' is not one of: .*test_chime"):
        RuleSpec.model_validate({**base, "actions": [{"type": "nothing"}]})


def test_the_new_action_is_in_the_schema_saved_sealed_and_run(
    client: TestClient, db: Database
) -> None:
    schema = client.get("/api/rules/actions/schema")
    assert schema.status_code == 200, schema.text
    chime = schema.json()["actions"]["test_chime"]
    assert chime["title"] == "Ring a chime"
    assert chime["properties"]["volume"] == {
        "default": 5,
        "maximum": 10,
        "minimum": 1,
        "title": "Volume",
        "type": "integer",
    }
    assert chime["properties"]["token"]["writeOnly"] is True
    assert chime["properties"]["text"]["x-template"] is True
    assert "camera" in schema.json()["template_fields"]
    assert schema.json()["actions"]["webhook"]["properties"]["secret"]["writeOnly"] is True

    bad = {"type": "test_chime", "room": "", "token": "t0k3n"}
    rule = {"name": "Chime", "trigger": {"kind": "manual"}, "actions": [bad]}
    r = client.post("/api/rules", json=rule)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["actions.0.test_chime.room"], r.text

    rule["actions"] = [{**bad, "room": "Hall", "text": "{rule}!"}]
    r = client.post("/api/rules", json=rule)
    assert r.status_code == 201, r.text
    assert "t0k3n" not in r.text
    shown = r.json()["actions"][0]
    assert shown["token"] is None and shown["has_token"] is True and shown["room"] == "Hall"
    stored = rule_store.get_rule(db, r.json()["id"])
    assert stored is not None and "t0k3n" not in str(stored.spec), "kept encrypted"

    # Edited without the token: the stored one stays.
    rule["actions"] = [{**rule["actions"][0], "token": None, "volume": 7}]
    r = client.put(f"/api/rules/{r.json()['id']}", json=rule)
    assert r.status_code == 200 and r.json()["actions"][0]["has_token"] is True, r.text

    fired = client.post(f"/api/rules/{r.json()['id']}/trigger", json={})
    assert fired.status_code == 202, fired.text
    wait_until(lambda: ("Hall", "t0k3n", "Chime!") in RUNG, 30, "the chime action to run")
