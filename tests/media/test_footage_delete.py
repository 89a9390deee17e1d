"""Deleting and reading footage that a recorder node keeps on its own disk
(media/footage.py, media/storage.py, the node's media API): the node deletes the files of
segments whose rows the server deleted, now when it answers or by its janitor when it is
back; an erasure says when it is complete; snapshots are read from the node (503 naming it
when it is down); a pin names a node that exists."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import free_port, wait_until
from tests.media.test_event_recording import age
from tests.media.test_footage import (
    NODE,
    Recorded,
    RunningNode,
    alive,
    node,
    recorded,
    stop_heartbeat,
)
from tests.privacy.test_subject_requests import open_request, searched
from vigil.config import Settings
from vigil.domain.subject_requests import RequestStatus, TimeRange
from vigil.media.footage import (
    DATA_FILE_PATH,
    DELETE_FILES_PATH,
    NodeUnavailable,
    delete_on_nodes,
    elsewhere,
    fetch_data_file,
)
from vigil.media.storage import enforce_retention, sweep_unindexed
from vigil.privacy.erasure import erase_ranges
from vigil.security.service_token import service_headers
from vigil.store import nodes, recordings
from vigil.store import subject_requests as store
from vigil.store.db import Database
from vigil.store.models import EventRecord, Segment

__all__ = ["node", "recorded"]  # fixtures, used by name

DPO = "dpo"


def on_node(recorded: Recorded, seg: Segment) -> bool:
    return (recorded.node_settings.recordings_dir / seg.path).is_file()


def gone_from_index(db: Database, segs: list[Segment]) -> None:
    recordings.delete_segments(db, [s.id for s in segs])


def test_a_node_deletes_the_files_whose_rows_are_gone_and_keeps_the_others(
    settings: Settings, recorded: Recorded, node: RunningNode, db: Database
) -> None:
    first, second, third = recorded.segments
    # Not on the server's disk: each is the node's to delete.
    assert elsewhere(settings.recordings_dir, recorded.segments) == recorded.segments
    gone_from_index(db, [first, second])
    done = delete_on_nodes(db, settings.data_dir, [first, second])
    assert (sorted(done.deleted), done.pending) == (sorted([first.path, second.path]), {})
    assert [on_node(recorded, s) for s in recorded.segments] == [False, False, True]

    # A path a row still names is kept, whoever asks.
    url = recorded.node_settings.recorder_url + DELETE_FILES_PATH
    headers = service_headers(settings.data_dir)
    kept = httpx.post(url, json={"paths": [third.path, "../../etc/passwd"]}, headers=headers)
    assert kept.status_code == 200, kept.text
    assert kept.json() == {"deleted": [], "absent": ["../../etc/passwd"], "indexed": [third.path]}
    assert on_node(recorded, third)
    assert httpx.post(url, json={"paths": [third.path]}).status_code == 401


def test_a_node_that_is_down_deletes_them_when_its_janitor_runs_again(
    settings: Settings, recorded: Recorded, db: Database
) -> None:
    first, second, third = recorded.segments
    nodes.heartbeat(db, NODE, f"http://127.0.0.1:{free_port()}")
    gone_from_index(db, [first])
    answerless = delete_on_nodes(db, settings.data_dir, [first])
    assert answerless.deleted == []
    assert "did not answer" in str(answerless.pending[NODE]["reason"])
    stop_heartbeat(db)
    gone_from_index(db, [second])
    down = delete_on_nodes(db, settings.data_dir, [first, second])
    assert down.pending == {
        NODE: {"reason": "it is not running", "paths": [first.path, second.path], "images": []}
    }
    assert all(on_node(recorded, s) for s in recorded.segments)

    root = recorded.node_settings.recordings_dir
    # A file just created whose row is not written yet (a segment being opened): kept.
    opening = root / "9" / "opening.mp4"
    opening.parent.mkdir(parents=True)
    opening.write_bytes(b"moov")
    old = time.time() - 3600
    for seg in (first, second, third):
        os.utime(root / seg.path, (old, old))
    swept = sweep_unindexed(db, root, grace_s=600)
    assert sorted(swept) == sorted([first.path, second.path])
    assert [on_node(recorded, s) for s in recorded.segments] == [False, False, True]
    assert opening.is_file()


def test_an_erasure_is_incomplete_while_a_node_keeps_files_and_completes_when_it_is_back(
    settings: Settings, recorded: Recorded, db: Database
) -> None:
    first, middle, last = recorded.segments
    assert middle.end is not None
    row = open_request(db, [recorded.camera_id])
    searched(db, row.id)
    # A snapshot the node's analytics took of the erased footage, in the node's data dir.
    snapshot = snapshot_on_node(recorded, db, "e1", middle.start + timedelta(seconds=0.5))
    nodes.heartbeat(db, NODE, f"http://127.0.0.1:{free_port()}")
    stop_heartbeat(db)
    args = {
        "data_dir": settings.data_dir,
        "recordings_dir": settings.recordings_dir,
        "request_id": row.id,
        "ranges": [TimeRange(recorded.camera_id, middle.start, middle.end)],
        "reason": "granted",
        "username": DPO,
    }
    result = erase_ranges(db, **args)  # type: ignore[arg-type]
    assert not result.complete
    assert result.record["files_pending_on_nodes"] == {
        NODE: {"reason": "it is not running", "paths": [middle.path], "images": [snapshot.name]}
    }
    assert result.record["images_on_nodes"] == 1 and snapshot.path.is_file()
    assert store.get_request(db, row.id).status == RequestStatus.REVIEW
    assert recordings.get_segment(db, middle.id) is None  # the rows go at once
    assert on_node(recorded, middle)

    with RunningNode(recorded.node_settings):
        wait_until(lambda: alive(db), 60, "the node heartbeating again")
        again = erase_ranges(db, **args)  # type: ignore[arg-type]
    assert again.complete, again.record
    assert again.record["files_deleted"] == 1 and again.record["files_pending_on_nodes"] == {}
    assert not on_node(recorded, middle) and not snapshot.path.exists()
    assert on_node(recorded, first) and on_node(recorded, last)
    assert store.get_request(db, row.id).status == RequestStatus.COMPLETED


@dataclass
class NodeSnapshot:
    name: str  # relative to the data directory, as the event row names it
    path: Path  # on the node


def snapshot_on_node(recorded: Recorded, db: Database, event_id: str, at: datetime) -> NodeSnapshot:
    """An event whose snapshot the node's analytics wrote in the node's data directory."""
    relative = f"snapshots/{recorded.camera_id}/{event_id}.jpg"
    written = recorded.node_settings.data_dir / relative
    written.parent.mkdir(parents=True, exist_ok=True)
    written.write_bytes(b"\xff\xd8\xff node's jpeg")
    with db.session() as s:
        s.add(
            EventRecord(
                id=event_id, type="motion", at=at, camera_id=recorded.camera_id, snapshot=relative
            )
        )
    return NodeSnapshot(relative, written)


def test_a_snapshot_on_a_node_is_fetched_and_a_node_that_is_down_is_named(
    client: TestClient, settings: Settings, recorded: Recorded, db: Database
) -> None:
    middle = recorded.segments[1]
    snapshot = snapshot_on_node(recorded, db, "e1", middle.start + timedelta(seconds=0.5))
    relative, written = snapshot.name, snapshot.path
    secret = recorded.node_settings.data_dir / "private.txt"
    secret.write_bytes(b"not served")
    with RunningNode(recorded.node_settings):
        wait_until(lambda: alive(db), 60, "the node heartbeating")
        assert fetch_data_file(db, settings.data_dir, NODE, "private.txt") is None
        url = recorded.node_settings.recorder_url + DATA_FILE_PATH.format(path=relative)
        assert httpx.get(url).status_code == 401
        served = client.get("/api/events/e1/snapshot")
        assert served.status_code == 200, served.text
        assert served.content == written.read_bytes()
    stop_heartbeat(db)
    with pytest.raises(NodeUnavailable, match=f"recorder node {NODE}, which is unavailable"):
        fetch_data_file(db, settings.data_dir, NODE, relative)
    down = client.get("/api/events/e1/snapshot")
    assert down.status_code == 503, down.text
    assert f"recorder node {NODE}" in down.json()["detail"]


def test_a_pin_must_name_a_known_node(client: TestClient, db: Database) -> None:
    nodes.heartbeat(db, "north-1", "http://127.0.0.1:1")
    body = {"name": "gate", "main_url": "rtsp://10.0.0.5/stream", "pinned_node": "nowhere"}
    created = client.post("/api/cameras", json=body)
    assert created.status_code == 422, created.text
    errors = created.json()["errors"]
    assert errors[0]["field"] == "pinned_node"
    assert "'nowhere'" in errors[0]["message"] and "north-1" in errors[0]["message"]
    camera = client.post("/api/cameras", json={**body, "pinned_node": "north-1"})
    assert camera.status_code == 201, camera.text
    cam = camera.json()["id"]
    moved = client.patch(f"/api/cameras/{cam}", json={"pinned_node": "south-9"})
    assert moved.status_code == 422 and "north-1" in moved.text
    assert client.patch(f"/api/cameras/{cam}", json={"pinned_node": None}).status_code == 200
    assert client.get(f"/api/cameras/{cam}").json()["pinned_node"] is None


def test_retention_run_by_another_node_is_followed_by_the_node_that_keeps_the_files(
    settings: Settings, recorded: Recorded, db: Database
) -> None:
    # Every node's janitor applies retention to every camera's rows; another node's pass
    # (its own, empty recordings folder here) deletes these rows.
    age(db, [seg.id for seg in recorded.segments], timedelta(days=3))
    removed = enforce_retention(db, settings.recordings_dir, recorded.camera_id, days=1)
    assert removed == 3 and recordings.camera_segments(db, recorded.camera_id) == []
    assert all(on_node(recorded, s) for s in recorded.segments)
    # The node that recorded them follows the rows on its next janitor pass.
    root = recorded.node_settings.recordings_dir
    assert len(sweep_unindexed(db, root, grace_s=0)) == 3
    assert not any(on_node(recorded, s) for s in recorded.segments)
