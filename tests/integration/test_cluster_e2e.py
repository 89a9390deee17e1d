"""Recorder nodes on PostgreSQL and NATS, as real processes: failover and fencing.

A server and several ``vigil recorder --node NAME`` processes share one PostgreSQL
database, one NATS namespace and (one machine) one recordings folder.
"""

from __future__ import annotations

import itertools
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.bus.conftest import NATS_URL
from tests.conftest import Stack, fresh_postgres, wait_until
from vigil.devices.simulator import Simulator
from vigil.store.db import Database
from vigil.store.models import Segment

pytestmark = pytest.mark.slow

CAMERAS = 6
# Generous: these waits say what must happen, not how fast (bench/cluster.py measures that).
MOVE_WITHIN_S = 60


class Cluster(Stack):
    """A server plus recorder nodes on PostgreSQL and NATS."""

    def __init__(self, data_dir: Path, db_url: str, namespace: str) -> None:
        super().__init__(
            data_dir,
            db_url,
            env={
                "VIGIL_BUS__URL": NATS_URL,
                "VIGIL_BUS__NAMESPACE": namespace,
                "VIGIL_RECORDER__HEALTH_INTERVAL_S": "1",
            },
        )

    def placement(self) -> dict[int, str | None]:
        return {c["id"]: c["node"] for c in self.client.get("/api/cameras").json()}

    def recording(self, camera_id: int) -> bool:
        return bool(self.timeline(camera_id)["recording"])


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with fresh_postgres("vigil_cluster") as url:
        c = Cluster(tmp_path / "data", url, f"t{uuid.uuid4().hex[:12]}")
        c.data_dir.mkdir(parents=True)
        try:
            c.start_server()
            yield c
        finally:
            c.stop()


def segments_of(cluster: Cluster) -> dict[int, list[Segment]]:
    db = Database(cluster.db_url)
    try:
        with db.session() as s:
            rows = s.query(Segment).order_by(Segment.camera_id, Segment.start).all()
    finally:
        db.dispose()
    by_camera: dict[int, list[Segment]] = {}
    for seg in rows:
        by_camera.setdefault(seg.camera_id, []).append(seg)
    return by_camera


def assert_recorded_once(cluster: Cluster) -> None:
    """No two segments of a camera overlap: nothing was recorded twice."""
    for camera_id, segs in segments_of(cluster).items():
        for a, b in itertools.pairwise(segs):
            assert a.end is not None and a.end <= b.start, (
                f"camera {camera_id}: {a.node} {a.start}..{a.end} overlaps {b.node} {b.start}"
            )


def add_cameras(cluster: Cluster, sim: Simulator) -> list[dict[str, Any]]:
    return [
        cluster.add_camera(f"cam{i}", sim.url_for("pattern" if i % 2 else "pattern-audio"))
        for i in range(CAMERAS)
    ]


def test_a_killed_nodes_cameras_record_elsewhere_once(
    cluster: Cluster, simulator: Simulator
) -> None:
    for name in ("n1", "n2", "n3"):
        cluster.start_node(name)
    cams = add_cameras(cluster, simulator)
    wait_until(
        lambda: all(cluster.recording(c["id"]) for c in cams), 60, "all recording", cluster.logs
    )
    placed = cluster.placement()
    assert set(placed.values()) == {"n1", "n2", "n3"}, "spread over the nodes"
    nodes_api = {n["name"]: n for n in cluster.client.get("/api/nodes").json()}
    assert sorted(i for n in nodes_api.values() for i in n["cameras"]) == sorted(placed)

    victim = placed[cams[0]["id"]]
    assert victim is not None
    moved = [cid for cid, node in placed.items() if node == victim]
    cluster.nodes[victim].kill()  # kill -9
    cluster.nodes[victim].wait(10)
    killed_at = datetime.now().astimezone()

    def moved_and_recording() -> bool:
        now = cluster.placement()
        return all(now[c] not in (None, victim) and cluster.recording(c) for c in moved)

    wait_until(moved_and_recording, MOVE_WITHIN_S, "cameras recorded elsewhere", cluster.logs)
    for camera_id in moved:
        reasons = [g["reason"] for g in cluster.timeline(camera_id)["gaps"]]
        assert f"recorder node {victim} failed" in reasons, reasons
    time.sleep(3)  # a few more segments on the new nodes
    for segs in segments_of(cluster).values():
        assert not [s for s in segs if s.node == victim and s.start > killed_at]
    assert_recorded_once(cluster)


def test_a_paused_node_past_its_lease_writes_nothing_after(
    cluster: Cluster, simulator: Simulator
) -> None:
    for name in ("n1", "n2"):
        cluster.start_node(name)
    cams = add_cameras(cluster, simulator)
    wait_until(
        lambda: all(cluster.recording(c["id"]) for c in cams), 60, "all recording", cluster.logs
    )
    paused = cluster.nodes["n1"]
    held = [cid for cid, node in cluster.placement().items() if node == "n1"]
    assert held
    paused.send_signal(signal.SIGSTOP)
    paused_at = datetime.now().astimezone()
    wait_until(
        lambda: all(cluster.placement()[c] == "n2" and cluster.recording(c) for c in held),
        MOVE_WITHIN_S,
        "n1's cameras on n2",
        cluster.logs,
    )
    paused.send_signal(signal.SIGCONT)
    time.sleep(6)  # several of n1's rounds: it must find its leases gone and stop
    for segs in segments_of(cluster).values():
        late = [s for s in segs if s.node == "n1" and s.start > paused_at]
        assert not late, f"n1 wrote after its lease ran out: {late}"
    assert all(node == "n2" for node in cluster.placement().values())
    assert_recorded_once(cluster)
