"""Fuzz every operation of the server's OpenAPI spec with schemathesis, in-process on SQLite.

- As an administrator (bearer token), over seeded objects (cameras, a rule, an alarm and its
  event, a bookmark, an evidence lock, a group) so that generated ids hit existing objects as
  well as missing ones: no answer is a 5xx (except a 503 the operation documents: a part it
  needs, a recorder, is not running), and answers the spec describes match it.
- Without credentials: every generated request answers 401, except the public paths; so do
  other methods and spellings of every path.

``VIGIL_FUZZ_EXAMPLES`` sets the random examples per operation (default 4; e.g. 200 for a deep
local run) on top of schemathesis' deterministic coverage cases (boundary values, wrong
types, missing fields). Generation is derandomised (``VIGIL_FUZZ_SEED``): CI sends the same
requests every run.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from tests.api.test_alarms import fire, manual_rule
from tests.conftest import ADMIN_PASSWORD, authorise
from vigil.api.app import create_app
from vigil.api.auth import PUBLIC_PATHS
from vigil.config import Settings, StorageSettings
from vigil.security.sessions import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from vigil.store.types import utcnow

EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "4"))
SEED = int(os.environ.get("VIGIL_FUZZ_SEED", "5"))
BASE_URL = "http://testserver"


def _spec() -> dict[str, Any]:
    """The server's OpenAPI spec; building the app touches neither disk nor database."""
    scratch = Path(tempfile.gettempdir()) / "vigil-fuzz-spec"
    app = create_app(Settings(data_dir=scratch, database_url=f"sqlite:///{scratch}/unused.db"))
    return app.openapi()


def _schema(**phases: Any) -> schemathesis.BaseSchema:
    config = {
        "seed": SEED,
        "generation": {"deterministic": True, "max-examples": EXAMPLES},
        "phases": {"stateful": {"enabled": False}, **phases},
    }
    return schemathesis.openapi.from_dict(SPEC, config=schemathesis.Config.from_dict(config))


SPEC = _spec()
admin_schema = _schema()
# Without credentials every answer is the gate's 401: boundary cases of the bodies would
# only repeat it, so random requests alone (and the explicit spellings below).
anonymous_schema = _schema(coverage={"enabled": False})

# Ids of seeded objects per path parameter. The fixture fills it; the hook reads it while
# requests are drawn, so that about half the generated ids name objects that exist
# (hypothesis alone would rarely guess them).
KNOWN: dict[str, list[Any]] = {}


@admin_schema.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> Any:
    """Generated path parameters, or the same with seeded ids put in."""
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)  # none, or a negative case's whole value
    known = {k: KNOWN[k] for k in path_parameters if KNOWN.get(k)}
    if not known:
        return st.just(path_parameters)
    existing = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in known.items()})
    return st.one_of(st.just(path_parameters), existing.map(lambda e: {**path_parameters, **e}))


@dataclass
class Target:
    """The running app, the administrator's header and token id, errors logged meanwhile."""

    client: TestClient
    admin: dict[str, str]
    token_id: int
    errors: list[logging.LogRecord]


class _Errors(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


def _created(r: httpx.Response) -> int:
    assert r.status_code == 201, r.text
    created: int = r.json()["id"]
    return created


def _camera(client: TestClient, name: str) -> int:
    return _created(
        client.post("/api/cameras", json={"name": name, "main_url": f"rtsp://10.0.0.1/{name}"})
    )


def seed(client: TestClient) -> None:
    """Put back the seeded objects a previous operation deleted, and note their ids."""
    cams = [c["id"] for c in client.get("/api/cameras").json()][:2]
    while len(cams) < 2:
        cams.append(_camera(client, f"Seeded {len(cams)} {utcnow():%H%M%S%f}"))
    KNOWN["camera_id"] = cams
    if not KNOWN.get("alarm_id"):  # alarms and events are never deleted
        rule = manual_rule(client, f"Panic {utcnow():%H%M%S%f}", priority=1)
        alarm = fire(client, rule, cams[0])
        KNOWN["alarm_id"] = [alarm]
        KNOWN["event_id"] = [client.get(f"/api/alarms/{alarm}").json()["event_id"]]
        now = utcnow()
        lock = client.post(
            "/api/evidence-locks",
            json={"camera_id": cams[1], "start": now.isoformat(),
                  "end": (now + timedelta(minutes=1)).isoformat(), "reason": "case 1"},
        )  # fmt: skip
        KNOWN["lock_id"] = [_created(lock)]
    if not client.get("/api/rules").json():
        manual_rule(client, f"Panic {utcnow():%H%M%S%f}", priority=1)
    KNOWN["rule_id"] = [r["id"] for r in client.get("/api/rules").json()][:3]
    if not client.get("/api/bookmarks").json():
        mark = {"camera_id": cams[0], "at": utcnow().isoformat(), "label": "m"}
        _created(client.post("/api/bookmarks", json=mark))
    KNOWN["bookmark_id"] = [b["id"] for b in client.get("/api/bookmarks").json()][:3]
    if not client.get("/api/camera-groups").json():
        name = f"all {utcnow():%H%M%S%f}"
        _created(client.post("/api/camera-groups", json={"name": name, "camera_ids": cams}))
    KNOWN["group_id"] = [g["id"] for g in client.get("/api/camera-groups").json()][:3]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("fuzz")
    config = Settings(
        data_dir=root / "data",
        database_url=f"sqlite:///{root / 'vigil.db'}",
        storage=StorageSettings(min_free_bytes=0, segment_seconds=2.0),
    )
    errors: list[logging.LogRecord] = []
    handler = _Errors(errors)
    logging.getLogger("vigil").addHandler(handler)
    try:
        with TestClient(create_app(config)) as client:
            token = authorise(client, config.db_url)
            prefix = token.split("_")[1]
            token_id = next(
                t["id"] for t in client.get("/api/tokens").json() if t["prefix"] == prefix
            )
            seed(client)
            admin = {"Authorization": client.headers.pop("Authorization")}
            yield Target(client, admin, token_id, errors)
    finally:
        logging.getLogger("vigil").removeHandler(handler)
        KNOWN.clear()


@pytest.fixture
def admin_target(target: Target) -> Iterator[Target]:
    """The target with its seeded objects back; afterwards the administrator must still be
    signed in (else every later operation would be fuzzed blind, answering 401) and nothing
    may have logged an error (a background task failing on what was sent)."""
    target.client.headers.update(target.admin)
    try:
        seed(target.client)
    finally:
        target.client.headers.pop("Authorization")
    target.errors.clear()
    yield target
    me = target.client.get("/api/auth/me", headers=target.admin)
    assert me.status_code == 200, f"the administrator was signed out: {me.text}"
    logged = [f"{r.name}: {r.getMessage()}" for r in target.errors]
    assert not logged, f"errors logged while fuzzing: {logged}"


def send(client: TestClient, case: schemathesis.Case, headers: dict[str, str]) -> httpx.Response:
    """Send a generated request through the in-process client, serialised exactly as
    schemathesis' own transport would (query, JSON, forms, multipart), without cookies."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    kwargs["headers"] = {**(kwargs.get("headers") or {}), **headers}
    kwargs.pop("auth", None)
    prepared = requests.Request(**kwargs).prepare()
    client.cookies.clear()
    body = prepared.body
    return client.request(
        prepared.method or case.method,
        prepared.url or BASE_URL,
        headers=dict(prepared.headers),
        content=body.encode() if isinstance(body, str) else body,
    )


def documented_unavailable(response: httpx.Response, case: schemathesis.Case) -> bool:
    """A 503 that the operation's spec announces: a part it needs (a recorder node) is not
    running, which no request can change. Any other 5xx is a bug."""
    documented = case.operation.definition.raw.get("responses", {})
    return response.status_code == 503 and "503" in documented


SPEC_CHECKS = [response_schema_conformance, content_type_conformance, response_headers_conformance]
# Repeatable (derandomised, no example database) and without time limits: a slow request on
# a busy machine is not a failure.
FUZZ = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@admin_schema.parametrize()
@settings(max_examples=EXAMPLES, **FUZZ)
def test_administrator_gets_no_server_error(case: schemathesis.Case, admin_target: Target) -> None:
    own_token = {"token_id": admin_target.token_id}
    if case.path == "/api/tokens/{token_id}" and case.path_parameters == own_token:
        return  # revoking the fuzz's own token would leave every later request unsigned
    response = send(admin_target.client, case, admin_target.admin)
    checks = list(SPEC_CHECKS)
    if not documented_unavailable(response, case):
        checks.append(not_a_server_error)
    case.validate_response(response, checks=checks)


@anonymous_schema.parametrize()
@settings(max_examples=max(3, EXAMPLES // 2), **FUZZ)
def test_nobody_gets_past_the_gate_without_credentials(
    case: schemathesis.Case, target: Target
) -> None:
    response = send(target.client, case, {})
    where = f"{case.method} {case.formatted_path}"
    if case.path in PUBLIC_PATHS:
        assert response.status_code < 500, (where, response.text)
    else:
        assert response.status_code == 401, (where, response.status_code, response.text)


def _spellings(path: str) -> list[str]:
    """Other ways to write a path that a router or proxy may take for the same one."""
    filled = path.replace("{", "").replace("}", "")
    inner = filled.removeprefix("/api/")
    return [
        filled + "/",
        "/api//" + inner,
        f"/static/%2e%2e/api/{inner}",
        f"/api/health/%2e%2e/{inner}",
        f"/api/auth/login/%2e%2e/%2e%2e/{inner}",
        filled + "%00",
        filled + "?access_token=x",
    ]


def test_no_method_or_spelling_of_a_path_skips_the_gate(target: Target) -> None:
    answered: list[str] = []
    for path, item in SPEC["paths"].items():
        if path in PUBLIC_PATHS:
            continue
        filled = path.replace("{", "").replace("}", "")
        for method in ("HEAD", "OPTIONS", "TRACE", "PROPFIND", *(m.upper() for m in item)):
            r = target.client.request(method, filled)
            if r.status_code != 401:
                answered.append(f"{method} {filled}: {r.status_code}")
        for spelling in _spellings(path):
            r = target.client.get(spelling)
            # Else only the router's own 404 (no such route or file), never a route's answer.
            if r.status_code != 401 and r.json() != {"detail": "Not Found"}:
                answered.append(f"GET {spelling}: {r.status_code} {r.text[:80]}")
    assert not answered, answered


def test_values_no_database_column_holds_are_refused_with_422(
    client: TestClient, settings: Settings
) -> None:
    """What the fuzz found on SQLite, checked on both databases: an integer past 64 bits, a
    NUL byte in text (PostgreSQL cannot store one) answer 422, never 500."""
    huge = 2**70
    r = client.post("/api/camera-groups", json={"name": "g", "camera_ids": [huge]})
    assert r.status_code == 422, r.text
    r = client.get(f"/api/alarms/{huge}")
    if r.status_code == 422:  # SQLite cannot bind it; PostgreSQL compares it: 404
        assert [e["field"] for e in r.json()["errors"]] == ["alarm_id"], r.text
    else:
        assert r.status_code == 404, r.text
    camera = client.post("/api/cameras", json={"name": "Gate", "main_url": "rtsp://10.0.0.1/g"})
    mark = {"camera_id": camera.json()["id"], "at": utcnow().isoformat(), "label": "nul\x00"}
    r = client.post("/api/bookmarks", json=mark)
    if settings.db_url.startswith("postgresql"):
        assert r.status_code == 422 and "NUL" in r.json()["detail"], r.text
        assert client.get("/api/bookmarks").json() == [], "nothing half-stored"
    else:
        assert r.status_code == 201, r.text


def test_non_ascii_codes_and_csrf_tokens_are_refused_not_crashed(client: TestClient) -> None:
    """Secrets compared with ``hmac.compare_digest`` raised TypeError on non-ASCII text."""
    assert client.post("/api/auth/totp/setup").status_code == 200
    r = client.post("/api/auth/totp/confirm", json={"code": "١٢٣٤٥٦"})  # Arabic-Indic digits
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code", r.text
    signed_in = client.post(
        "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    # Secure cookies: the http test client would not send them back by itself.
    session = signed_in.cookies[SESSION_COOKIE]
    csrf = signed_in.json()["csrf_token"]
    by_session = {
        "Authorization": "",
        "Cookie": f"{SESSION_COOKIE}={session}; {CSRF_COOKIE}={csrf}",
    }
    r = client.get("/api/bookmarks", headers=by_session)
    assert r.status_code == 200, "signed in by the session"
    mark = {"camera_id": None, "at": utcnow().isoformat(), "label": "m"}
    forged = {**by_session, CSRF_HEADER: "jeton-forgé".encode("latin-1")}  # type: ignore[dict-item]
    r = client.post("/api/bookmarks", json=mark, headers=forged)
    assert r.status_code == 403 and CSRF_HEADER in r.json()["detail"], r.text
    r = client.post("/api/bookmarks", json=mark, headers={**by_session, CSRF_HEADER: csrf})
    assert r.status_code != 403, "the right token passes"
