"""The disk guard of a recorder node that keeps its own disk: it makes room from footage in
its own folder, never by deleting another node's rows whose files lie elsewhere."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from vigil.config import StorageSettings
from vigil.media.storage import DiskGuard
from vigil.store import cameras as camera_store
from vigil.store import recordings
from vigil.store.db import Database
from vigil.store.models import Segment
from vigil.store.types import utcnow

SEGMENT_BYTES = 1000


def _record(db: Database, root: Path, camera_id: int, node: str, ages_min: list[int]) -> None:
    """Index finished segments of ``node`` that ended ``ages_min`` minutes ago, their files
    under ``root`` (that node's disk)."""
    now = utcnow()
    with db.session() as s:
        for age in ages_min:
            rel = f"{node}/{camera_id}/{age}.mp4"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"\0" * SEGMENT_BYTES)
            end = now - timedelta(minutes=age)
            s.add(
                Segment(
                    camera_id=camera_id,
                    node=node,
                    path=rel,
                    start=end - timedelta(seconds=10),
                    end=end,
                    bytes=SEGMENT_BYTES,
                )
            )


def _paths(db: Database, node: str) -> set[str]:
    return {s.path for s in recordings.oldest_closed_segments(db, limit=1000) if s.node == node}


def _guard(db: Database, root: Path, node: str, budget: int) -> DiskGuard:
    settings = StorageSettings(min_free_bytes=0, disk_budget_bytes=budget)
    guard = DiskGuard(db, root, settings, node=node)
    guard.segment_estimate = SEGMENT_BYTES
    return guard


def test_a_full_node_deletes_its_own_oldest_not_another_nodes_older_footage(
    db: Database, tmp_path: Path
) -> None:
    disk_a, disk_b = tmp_path / "a", tmp_path / "b"
    camera = camera_store.create_camera(db, name="gate", main_url="rtsp://x/1").id
    _record(db, disk_b, camera, "node-b", [50, 40, 30])  # older, on node b's own disk
    _record(db, disk_a, camera, "node-a", [28, 26, 24, 22, 20, 10, 5])
    b_before = _paths(db, "node-b")

    # Node a's budget counts its own 7 segments, not node b's: room for one more means
    # deleting some of its own (the guard deletes five at a time).
    guard = _guard(db, disk_a, "node-a", budget=7 * SEGMENT_BYTES)
    assert guard.has_room()

    assert _paths(db, "node-b") == b_before, "node b's footage is not node a's to delete"
    assert all((disk_b / p).is_file() for p in b_before)
    assert _paths(db, "node-a") == {f"node-a/{camera}/10.mp4", f"node-a/{camera}/5.mp4"}
    assert sorted(p.name for p in disk_a.rglob("*.mp4")) == ["10.mp4", "5.mp4"]


def test_footage_of_other_nodes_in_this_folder_goes_when_the_node_has_none_of_its_own(
    db: Database, tmp_path: Path
) -> None:
    # A folder shared by the nodes, or this node under an earlier name: the files are here.
    shared = tmp_path / "shared"
    camera = camera_store.create_camera(db, name="gate", main_url="rtsp://x/1").id
    _record(db, shared, camera, "recorder-1", [30, 20])
    _record(db, tmp_path / "elsewhere", camera, "node-b", [60])  # on another disk

    guard = DiskGuard(
        db, shared, StorageSettings(min_free_bytes=10**18), node="node-a"
    )  # the disk reads full whatever is deleted: the guard deletes all it may
    assert not guard.has_room()

    assert _paths(db, "recorder-1") == set()
    assert not any(shared.rglob("*.mp4"))
    assert _paths(db, "node-b") == {f"node-b/{camera}/60.mp4"}, "not in this folder: kept"
