"""Footage from where it lives (media/footage.py): the server's own files read in place,
another node's fetched from a real recorder media API into a bounded, checked cache, and a
node that cannot serve its footage named in one error (503 at the API)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import av
import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.conftest import free_port, wait_until
from tests.media.test_recording import record_file, segments_of
from vigil.api.recorder_app import create_recorder_app
from vigil.config import RecorderSettings, ServerSettings, Settings, StorageSettings
from vigil.evidence.chain import verify_camera_chain
from vigil.media.footage import SEGMENT_PATH, Footage, FootageUnavailable, Resolved
from vigil.media.playback import export_mp4
from vigil.security.service_token import ENV_VAR, TOKEN_FILE, service_headers, service_token
from vigil.store import cameras as camera_store
from vigil.store import nodes
from vigil.store.db import Database
from vigil.store.models import Node, Segment
from vigil.store.types import utcnow

NODE = "node-a"


@dataclass
class Recorded:
    """One camera's clip recorded by ``NODE`` into the node's own data directory."""

    camera_id: int
    segments: list[Segment]
    node_settings: Settings

    @property
    def span(self) -> tuple[Segment, Segment]:
        return self.segments[0], self.segments[-1]


def share_token(server_dir: Path, node_dir: Path) -> None:
    """The node is given the installation's token, as ``VIGIL_INTERNAL_TOKEN`` does on
    another machine (the file, here: both roles run in this process)."""
    node_dir.mkdir(parents=True, exist_ok=True)
    (node_dir / TOKEN_FILE).write_text(service_token(server_dir))


@pytest.fixture
def recorded(
    db: Database,
    settings: Settings,
    h264_clip: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Recorded:
    monkeypatch.delenv(ENV_VAR, raising=False)
    share_token(settings.data_dir, tmp_path / NODE)
    node_settings = Settings(
        data_dir=tmp_path / NODE,
        database_url=settings.db_url,
        storage=StorageSettings(min_free_bytes=0, segment_seconds=2.0),
        # The embedded bus link looks for a server: none answers on this port.
        server=ServerSettings(port=free_port()),
        recorder=RecorderSettings(node_name=NODE, port=free_port(), health_interval_s=0.5),
    )
    node_settings.ensure_dirs()
    camera_id, _ = record_file(db, node_settings, h264_clip)
    with db.session() as s:
        s.execute(update(Segment).where(Segment.camera_id == camera_id).values(node=NODE))
    # Recorded already: the running node must not record it again.
    camera_store.update_camera(db, camera_id, enabled=False)
    segs = segments_of(db, camera_id)
    assert len(segs) == 3 and all(s.end is not None and s.sha256 for s in segs)
    return Recorded(camera_id, segs, node_settings)


class RunningNode:
    """A real recorder process's media API (uvicorn in a thread, lifespan and all)."""

    def __init__(self, settings: Settings) -> None:
        config = uvicorn.Config(
            create_recorder_app(settings),
            host="127.0.0.1",
            port=settings.recorder.port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="test-recorder")

    def __enter__(self) -> RunningNode:
        self.thread.start()
        wait_until(lambda: self.server.started, 30, "the recorder's media API up")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def node(recorded: Recorded, db: Database) -> Iterator[RunningNode]:
    with RunningNode(recorded.node_settings) as running:
        wait_until(lambda: alive(db), 30, "node heartbeating")
        yield running


def alive(db: Database) -> bool:
    node = nodes.get_node(db, NODE)
    return node is not None and nodes.is_alive(node)


def footage(settings: Settings, *, cache_bytes: int = 1024**3) -> Footage:
    return Footage(
        Database(settings.db_url),
        recordings_dir=settings.recordings_dir,
        data_dir=settings.data_dir,
        cache_bytes=cache_bytes,
    )


def duration_s(path: Path) -> float:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = sum(1 for _ in c.decode(stream))
        assert stream.average_rate is not None
        return float(frames / stream.average_rate)


def stop_heartbeat(db: Database) -> None:
    """The node as the server sees it once it has been silent past the timeout."""
    with db.session() as s:
        s.execute(
            update(Node)
            .where(Node.name == NODE)
            .values(heartbeat_at=utcnow() - nodes.NODE_TIMEOUT - timedelta(seconds=1))
        )


def test_a_file_on_this_machine_is_read_in_place(
    settings: Settings, recorded: Recorded, tmp_path: Path
) -> None:
    # Shared storage: the server's recordings folder is the node's. No node runs.
    shared = recorded.node_settings.recordings_dir
    settings.storage.recordings_dir = shared
    first, last = recorded.span
    assert last.end is not None
    found = footage(settings).resolve(recorded.camera_id, first.start, last.end)
    assert not found.unavailable
    assert [f.fetch for f in found.files] == [None, None, None]
    assert all(f.path.is_relative_to(shared) for f in found.files)
    export = export_mp4(found.files, first.start, last.end, tmp_path / "out.mp4")
    assert export.duration_s == pytest.approx(6.0, abs=0.2)
    assert not (settings.data_dir / "footage-cache").exists(), "nothing was copied"


def test_a_remote_file_is_fetched_once_then_read_from_the_cache(
    settings: Settings, recorded: Recorded, node: RunningNode, db: Database, tmp_path: Path
) -> None:
    first, last = recorded.span
    assert last.end is not None
    store = footage(settings)
    files = store.segment_files(recorded.camera_id, first.start, last.end)
    assert all(f.fetch is not None for f in files), "not on the server's disk: fetched"
    export = export_mp4(files, first.start, last.end, tmp_path / "out.mp4")
    assert duration_s(export.path) == pytest.approx(6.0, abs=0.2)
    cached = sorted((settings.data_dir / "footage-cache").glob("*.mp4"))
    assert len(cached) == 3
    inodes = {p: p.stat().st_ino for p in cached}

    # Again, with the node gone: the copies are used as they are, not fetched anew.
    node.__exit__()
    stop_heartbeat(db)
    again = footage(settings).segment_files(recorded.camera_id, first.start, last.end)
    export2 = export_mp4(again, first.start, last.end, tmp_path / "out2.mp4")
    assert export2.duration_s == pytest.approx(export.duration_s)
    assert {p: p.stat().st_ino for p in cached} == inodes


def test_the_cache_keeps_to_its_bound_dropping_the_least_recently_used(
    settings: Settings, recorded: Recorded, node: RunningNode
) -> None:
    a, b, c = recorded.segments
    store = footage(settings, cache_bytes=a.bytes + b.bytes + c.bytes - 1)
    for seg in (a, b, a, c):  # a used again after b: b is the oldest when c comes
        store.fetch(seg)
    kept = {p.name for p in (settings.data_dir / "footage-cache").glob("*.mp4")}
    assert kept == {f"{a.id}.mp4", f"{c.id}.mp4"}


def test_a_copy_that_does_not_match_the_index_is_refused(
    settings: Settings, recorded: Recorded, node: RunningNode, db: Database
) -> None:
    seg = recorded.segments[1]
    on_node = recorded.node_settings.recordings_dir / seg.path
    data = bytearray(on_node.read_bytes())
    data[-100] ^= 0xFF  # same size, other content
    on_node.write_bytes(bytes(data))
    store = footage(settings)
    with pytest.raises(FootageUnavailable, match="SHA-256"):
        store.fetch(seg)
    first, last = recorded.span
    assert last.end is not None
    # Verification still sees the node's copy, and says what is wrong with it.
    report = verify_camera_chain(
        db, store.root, recorded.camera_id, first.start, last.end, locate=store.locate
    )
    assert [(p.segment_id, p.kind) for p in report.problems] == [(seg.id, "altered")]
    assert report.verified == 2

    with db.session() as s:  # an index that no longer gives the file's size
        s.execute(update(Segment).where(Segment.id == seg.id).values(bytes=seg.bytes + 1))
    with pytest.raises(FootageUnavailable, match="bytes"):
        footage(settings).fetch(_fresh(db, seg))


def _fresh(db: Database, seg: Segment) -> Segment:
    with db.session() as s:
        row = s.get(Segment, seg.id)
        assert row is not None
        return row


def test_a_node_that_is_down_makes_its_footage_unavailable(
    settings: Settings, recorded: Recorded, db: Database
) -> None:
    first, last = recorded.span
    assert last.end is not None
    store = footage(settings)
    # A node that never registered: its files were this machine's, and they are gone (as
    # a file deleted behind Vigil's back always was: nothing to play, not an outage).
    assert store.resolve(recorded.camera_id, first.start, last.end) == Resolved([], [])
    # Heartbeating, but nothing answers where it said its media API is.
    nodes.heartbeat(db, NODE, f"http://127.0.0.1:{free_port()}")
    files = store.segment_files(recorded.camera_id, first.start, last.end)
    with pytest.raises(FootageUnavailable, match="did not answer"):
        export_mp4(files, first.start, last.end, settings.data_dir / "x.mp4")
    # Silent past the timeout.
    stop_heartbeat(db)
    with pytest.raises(FootageUnavailable) as caught:
        store.segment_files(recorded.camera_id, first.start, last.end)
    message = str(caught.value)
    assert f"footage of camera {recorded.camera_id} from" in message
    assert f"recorder node {NODE}, which is unavailable" in message
    assert (caught.value.start, caught.value.end) == (first.start, last.end)


def test_a_node_refuses_a_caller_without_the_installations_token(
    settings: Settings, recorded: Recorded, node: RunningNode
) -> None:
    (settings.data_dir / TOKEN_FILE).write_text("another installation's token")
    with pytest.raises(FootageUnavailable, match=r"401.*VIGIL_INTERNAL_TOKEN"):
        footage(settings).fetch(recorded.segments[0])


def test_the_node_serves_only_its_own_segments_with_ranges(
    recorded: Recorded, node: RunningNode, db: Database
) -> None:
    settings = recorded.node_settings
    base = settings.recorder_url
    seg = recorded.segments[0]
    url = base + SEGMENT_PATH.format(segment_id=seg.id)
    headers = service_headers(settings.data_dir)
    assert httpx.get(url).status_code == 401
    whole = httpx.get(url, headers=headers)
    assert whole.status_code == 200
    assert whole.content == (settings.recordings_dir / seg.path).read_bytes()
    part = httpx.get(url, headers={**headers, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole.content[10:20]
    missing = httpx.get(base + SEGMENT_PATH.format(segment_id=10**9), headers=headers)
    assert missing.status_code == 404 and "not in the index" in missing.text
    with db.session() as s:
        s.execute(update(Segment).where(Segment.id == seg.id).values(node="node-b"))
    other = httpx.get(url, headers=headers)
    assert other.status_code == 404 and "recorded by node node-b" in other.text


def test_the_api_answers_503_naming_the_node(
    client: TestClient, recorded: Recorded, db: Database
) -> None:
    nodes.heartbeat(db, NODE, f"http://127.0.0.1:{free_port()}")
    stop_heartbeat(db)  # it ran, and stopped
    first, last = recorded.span
    assert last.end is not None
    cam = recorded.camera_id
    span = {"start": first.start.isoformat(), "end": last.end.isoformat()}
    export = client.get(f"/api/cameras/{cam}/export", params=span)
    assert export.status_code == 503, export.text
    assert f"recorder node {NODE}, which is unavailable" in export.json()["detail"]
    play = client.get(f"/api/cameras/{cam}/playback.mp4", params={"start": span["start"]})
    assert play.status_code == 503 and "unavailable" in play.json()["detail"]
    body = {**span, "reason": "case 1", "requested_by": "inspector"}
    evidence = client.post(f"/api/cameras/{cam}/evidence-export", json=body)
    assert evidence.status_code == 503 and "unavailable" in evidence.json()["detail"]
