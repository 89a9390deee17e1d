"""``vigil nodes`` and ``vigil cameras pin/unpin`` against a running server and two recorder
nodes: what they change is what the API shows afterwards, and cameras move accordingly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.cluster.two_nodes import FIRST, SECOND, two_node_stack
from tests.conftest import Stack, wait_until
from vigil.cli import app
from vigil.store import nodes
from vigil.store.db import Database
from vigil.store.models import Node
from vigil.store.types import utcnow

# Processes that start slowly on a busy machine: a hang guard, not a speed bar.
pytestmark = pytest.mark.timeout(600)

SPARE = "spare"  # a node row only, down: its last heartbeat is minutes old


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One installation for the module's tests (its processes start in a minute or more on
    a busy machine); each test adds its own cameras."""
    with two_node_stack(tmp_path_factory.mktemp("nodes-cli") / "data") as stack:
        db = Database(stack.db_url)
        nodes.heartbeat(
            db, SPARE, "http://127.0.0.1:9", capacity=7, cpu_count=3, free_disk_bytes=5 * 10**9
        )
        with db.session() as s:
            s.get_one(Node, SPARE).heartbeat_at = utcnow() - timedelta(minutes=5)
        db.dispose()
        yield stack


def vigil(stack: Stack, *args: str, signed_in: bool = True) -> Result:
    """Run ``vigil ARGS --server-url URL`` (in this process: the same code as the command)
    with the administrator's token, or without one."""
    env = {
        "VIGIL_DATA_DIR": str(stack.data_dir),
        "VIGIL_TOKEN": stack.token if signed_in else None,
    }
    return CliRunner().invoke(app, [*args, "--server-url", stack.url], env=env)


def node(stack: Stack, name: str) -> dict[str, object]:
    listed = stack.client.get("/api/nodes").json()
    return next(n for n in listed if n["name"] == name)


def recorded_on(stack: Stack, camera_id: int) -> str | None:
    where: str | None = stack.camera(camera_id)["node"]
    return where


def test_list_drain_and_undrain_a_node(stack: Stack) -> None:
    cam = stack.add_camera("Gate", "rtsp://127.0.0.1:9/none")
    wait_until(lambda: recorded_on(stack, cam["id"]) is not None, 30, "placed", stack.logs)
    where = recorded_on(stack, cam["id"])
    assert where is not None
    other = SECOND if where == FIRST else FIRST

    listed = vigil(stack, "nodes", "list")
    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[1].strip(): line for line in listed.output.splitlines() if "│" in line}
    assert {FIRST, SECOND, SPARE} <= rows.keys(), listed.output
    assert f"1 ({cam['id']})" in rows[where], "the node recording it lists the camera"
    assert "5.0 GB" in rows[SPARE] and " 7 " in rows[SPARE], "capacity and free disk"
    assert "down, " in rows[SPARE] and "alive, " in rows[FIRST] and "alive, " in rows[SECOND]

    drained = vigil(stack, "nodes", "drain", where)
    assert drained.exit_code == 0, drained.output
    assert f"node {where} draining" in drained.output
    assert node(stack, where)["draining"] is True
    wait_until(lambda: recorded_on(stack, cam["id"]) == other, 60, "moved over", stack.logs)
    relisted = vigil(stack, "nodes", "list").output.splitlines()
    assert "yes" in next(line for line in relisted if f"│ {where} " in line)

    undrained = vigil(stack, "nodes", "undrain", where)
    assert undrained.exit_code == 0 and f"node {where} takes cameras again" in undrained.output
    assert node(stack, where)["draining"] is False

    unknown = vigil(stack, "nodes", "drain", "ghost")
    assert unknown.exit_code == 1
    assert "no recorder node 'ghost'" in unknown.output and FIRST in unknown.output

    anonymous = vigil(stack, "nodes", "list", signed_in=False)
    assert anonymous.exit_code == 1 and "VIGIL_TOKEN" in anonymous.output


def test_pin_and_unpin_a_camera(stack: Stack) -> None:
    cam = stack.add_camera("Yard", "rtsp://127.0.0.1:9/none")
    wait_until(lambda: recorded_on(stack, cam["id"]) is not None, 30, "placed", stack.logs)
    target = SECOND if recorded_on(stack, cam["id"]) == FIRST else FIRST

    pinned = vigil(stack, "cameras", "pin", str(cam["id"]), target)
    assert pinned.exit_code == 0, pinned.output
    assert f"pinned to node {target}" in pinned.output
    assert stack.camera(cam["id"])["pinned_node"] == target
    wait_until(lambda: recorded_on(stack, cam["id"]) == target, 60, "moved to its pin")

    unknown = vigil(stack, "cameras", "pin", str(cam["id"]), "ghost")
    assert unknown.exit_code == 1
    assert "no recorder node 'ghost'" in unknown.output and "vigil nodes list" in unknown.output
    assert stack.camera(cam["id"])["pinned_node"] == target, "left as it was"

    down = vigil(stack, "cameras", "pin", str(cam["id"]), SPARE)
    assert down.exit_code == 0 and f"node {SPARE} is down" in down.output

    unpinned = vigil(stack, "cameras", "unpin", str(cam["id"]))
    assert unpinned.exit_code == 0 and "placed by capacity" in unpinned.output
    assert stack.camera(cam["id"])["pinned_node"] is None

    missing = vigil(stack, "cameras", "unpin", "9999")
    assert missing.exit_code == 1 and "9999" in missing.output
