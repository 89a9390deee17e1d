"""Deleting footage that lives on recorder nodes, as real processes on PostgreSQL and NATS,
each node on its own data directory: a camera recorded on node a then on node b is deleted
while a is down; b deletes its files at once, a deletes its own once it runs again."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.conftest import STARTUP_S, wait_until
from tests.integration.test_footage_e2e import (
    WITHIN_S,
    SeparateDisks,
    closed_segments,
    cluster,
    pytestmark,
)
from vigil.devices.simulator import Simulator
from vigil.store.models import Segment

__all__ = ["cluster", "pytestmark"]  # the fixture and marks, used by name


def files_of(cluster: SeparateDisks, node: str, segs: list[Segment]) -> list[Path]:
    return [cluster.root / node / "recordings" / s.path for s in segs]


def test_a_deleted_cameras_files_go_from_every_node_also_one_that_was_down(
    cluster: SeparateDisks, simulator: Simulator
) -> None:
    cluster.start_node("a")
    cam = cluster.add_camera("gate", simulator.url_for("pattern"))["id"]
    wait_until(lambda: cluster.placement(cam) == "a", WITHIN_S, "camera on a", cluster.logs)
    wait_until(
        lambda: len(closed_segments(cluster, cam, "a")) >= 3,
        WITHIN_S,
        "three segments recorded on a",
        cluster.logs,
    )
    cluster.start_node("b")
    r = cluster.client.patch("/api/nodes/a", json={"draining": True})
    assert r.status_code == 200, r.text
    wait_until(lambda: cluster.placement(cam) == "b", WITHIN_S, "camera moved to b", cluster.logs)
    wait_until(
        lambda: len(closed_segments(cluster, cam, "b")) >= 2,
        WITHIN_S,
        "two segments recorded on b",
        cluster.logs,
    )
    on_a = files_of(cluster, "a", closed_segments(cluster, cam, "a"))
    on_b = files_of(cluster, "b", closed_segments(cluster, cam, "b"))
    assert all(p.is_file() for p in on_a + on_b)

    cluster.stop_node("a")
    deleted = cluster.client.delete(f"/api/cameras/{cam}", timeout=120)
    assert deleted.status_code == 204, deleted.text
    # b answers: its files went with the request. a is down: its files wait for it.
    assert not any(p.exists() for p in on_b), [p for p in on_b if p.exists()]
    assert all(p.is_file() for p in on_a)

    # Older than the janitor's grace for files without rows (a segment being opened).
    old = time.time() - 3600
    for path in on_a:
        os.utime(path, (old, old))
    cluster.start_node("a", env={"VIGIL_STORAGE__JANITOR_INTERVAL_S": "1"})
    wait_until(
        lambda: not any(p.exists() for p in on_a),
        STARTUP_S,
        "node a deleting the deleted camera's files once back",
        cluster.logs,
    )
