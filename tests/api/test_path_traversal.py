"""No route serves a file from outside the data directory, whatever the request or a stored
row names: ``..`` (plain and percent-encoded), absolute paths, symlinks out of the data
directory, NUL bytes and over-long names each get a clear 4xx (never a 5xx, never the file).

Covered: event and alarm snapshots, track thumbnails, a data-subject request's reference
photo and export, playback, export and evidence export (segment paths in the index),
integrity checks, retention's deletions, the web client's static files, and the recorder's
media API.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.api.test_alarms import fire, manual_rule
from tests.media.test_recording import record_file, segments_of
from vigil.api.recorder_app import create_recorder_app
from vigil.config import Settings
from vigil.domain.subject_requests import RequestKind, SearchCriteria
from vigil.media.storage import remove_segments
from vigil.security.service_token import service_token
from vigil.store import subject_requests as request_store
from vigil.store.db import Database
from vigil.store.models import Alarm, EventRecord, Segment, TrackRecord
from vigil.store.models_subject_requests import SubjectRequest
from vigil.store.types import utcnow

SECRET = b"SECRET outside the served folders"
PASSWD = b"root:x:0:0"  # what /etc/passwd would show


def served_nothing_secret(status: int, body: bytes) -> bool:
    """A clear refusal: a 4xx that carries none of the files it was pointed at."""
    return 400 <= status < 500 and SECRET not in body and PASSWD not in body


@dataclass
class Layout:
    """A data directory with a file to serve and, around it, files that must never be."""

    data_dir: Path
    good: str  # relative to the data directory, in a served folder
    outside: Path  # a secret beside the data directory

    def bad_paths(self, *, nul: bool) -> dict[str, str]:
        """Stored paths that must be refused, by what they try."""
        paths = {
            "parent": "../outside/secret.jpg",
            "parent from a served folder": "snapshots/../../outside/secret.jpg",
            "etc": "../../../../../../../../../etc/passwd",
            "absolute": str(self.outside / "secret.jpg"),
            "absolute etc": "/etc/passwd",
            "encoded": "snapshots/%2e%2e%2f%2e%2e%2foutside/secret.jpg",
            "backslashes": "snapshots\\..\\..\\outside\\secret.jpg",
            "data dir, not a served folder": "keys.pem",
            "served folder to a file beside it": "snapshots/../keys.pem",
            "symlink out": "snapshots/link.jpg",
            "symlinked folder out": "snapshots/out/secret.jpg",
            "over-long name": "snapshots/" + "n" * 300 + ".jpg",
            "a folder": "snapshots",
        }
        if nul:  # PostgreSQL text cannot hold a NUL byte at all
            paths["NUL"] = "snapshots/good.jpg\x00../../outside/secret.jpg"
        return paths


@pytest.fixture
def layout(settings: Settings, tmp_path: Path) -> Layout:
    data = settings.data_dir
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(SECRET)
    (data / "snapshots").mkdir(parents=True)
    (data / "snapshots" / "good.jpg").write_bytes(b"\xff\xd8 the good snapshot")
    (data / "keys.pem").write_bytes(SECRET)  # like signing.key: in the data dir, never served
    (data / "snapshots" / "link.jpg").symlink_to(outside / "secret.jpg")
    (data / "snapshots" / "out").symlink_to(outside, target_is_directory=True)
    return Layout(data, "snapshots/good.jpg", outside)


@dataclass
class Stored:
    """Rows naming a file, and the URL that serves each."""

    urls: dict[str, str]
    event_id: str
    alarm_id: int
    track_id: int
    request_id: int


def store_rows(client: TestClient, db: Database, path: str) -> Stored:
    """An event and its alarm, a track, and a data-subject request, all naming ``path``."""
    camera = client.post("/api/cameras", json={"name": "Gate", "main_url": "rtsp://10.0.0.1/g"})
    camera_id = camera.json()["id"]
    alarm_id = fire(client, manual_rule(client, "Panic"), camera_id)
    event_id = client.get(f"/api/alarms/{alarm_id}").json()["event_id"]
    now = utcnow()
    criteria = SearchCriteria(camera_ids=[camera_id], start=now - timedelta(hours=1), end=now)
    request = request_store.create_request(
        db, kind=RequestKind.ACCESS, subject="A. Person", legal_reference="Art. 15",
        requester_contact="a@example.org", criteria=criteria, created_by="admin",
    )  # fmt: skip
    with db.session() as s:
        s.add(TrackRecord(camera_id=camera_id, track_id=1, object_class="person",
                          first_at=now, last_at=now, node="rec1"))  # fmt: skip
        s.flush()
        track_id = s.scalars(select(TrackRecord.id)).one()
    stored = Stored({}, event_id, alarm_id, track_id, request.id)
    stored.urls = {
        "event snapshot": f"/api/events/{event_id}/snapshot",
        "alarm snapshot": f"/api/alarms/{alarm_id}/snapshot",
        "track thumbnail": f"/api/tracks/{track_id}/thumbnail",
        "reference photo": f"/api/privacy/requests/{request.id}/face",
        "access export": f"/api/privacy/requests/{request.id}/export.zip",
    }
    point_rows(db, stored, path)
    return stored


def point_rows(db: Database, stored: Stored, path: str) -> None:
    """Write ``path`` into every row that names a file, as a tampered database would."""
    with db.session() as s:
        s.execute(
            update(EventRecord).where(EventRecord.id == stored.event_id).values(snapshot=path)
        )
        s.execute(update(Alarm).where(Alarm.id == stored.alarm_id).values(snapshot=path))
        s.execute(
            update(TrackRecord).where(TrackRecord.id == stored.track_id).values(thumbnail=path)
        )
        s.execute(
            update(SubjectRequest)
            .where(SubjectRequest.id == stored.request_id)
            .values(face_image=path, export_file=path)
        )  # fmt: skip


def test_a_stored_path_serves_only_files_of_the_served_folders(
    client: TestClient, db: Database, layout: Layout, settings: Settings
) -> None:
    stored = store_rows(client, db, layout.good)
    for what, url in stored.urls.items():  # the route works: it can fail below
        r = client.get(url)
        assert r.status_code == 200 and r.content == b"\xff\xd8 the good snapshot", (what, r.text)
    served: list[str] = []
    for attempt, path in layout.bad_paths(nul=settings.db_url.startswith("sqlite")).items():
        point_rows(db, stored, path)
        for what, url in stored.urls.items():
            r = client.get(url)
            if not served_nothing_secret(r.status_code, r.content):
                served.append(f"{what} with {attempt} ({path[:60]!r}): {r.status_code}")
    assert not served, served
    assert (layout.outside / "secret.jpg").read_bytes() == SECRET, "nothing was changed"


REQUEST_ATTEMPTS = [
    "/api/events/..%2F..%2F..%2Fetc%2Fpasswd/snapshot",
    "/api/events/%2e%2e/snapshot",
    "/api/events/%00/snapshot",
    "/api/alarms/..%2F1/snapshot",
    "/api/tracks/..%2Fsecret.txt/thumbnail",
    "/api/tracks/%2Fetc%2Fpasswd/thumbnail",
    "/api/privacy/requests/..%2F1/face",
    "/api/privacy/requests/1/hits/..%2F..%2Fkeys.pem/thumbnail.jpg",
    "/api/cameras/..%2F1/playback.mp4?start=2025-01-01T00:00:00Z",
    "/api/cameras/1/playback.mp4/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/cameras/1/export?start=..%2F..%2Fetc%2Fpasswd&end=2025-01-01T00:00:00Z",
    "/api/cameras/" + "9" * 400 + "/export",
    "/api/events/" + "e" * 5000 + "/snapshot",
]


def test_a_path_in_the_request_is_refused_clearly(
    client: TestClient, db: Database, layout: Layout
) -> None:
    store_rows(client, db, layout.good)  # objects exist: the ids 1 are real ones
    for url in REQUEST_ATTEMPTS:
        r = client.get(url)
        assert served_nothing_secret(r.status_code, r.content), (url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json"), (url, "not a file")


@pytest.fixture
def recorded(
    client: TestClient, db: Database, settings: Settings, h264_clip: Path
) -> Iterator[tuple[int, list[Segment]]]:
    """A camera with three recorded segments."""
    camera_id, _ = record_file(db, settings, h264_clip)
    segments = segments_of(db, camera_id)
    assert len(segments) >= 3
    yield camera_id, segments


def _window(segments: list[Segment]) -> dict[str, str]:
    assert segments[-1].end is not None
    return {"start": segments[0].start.isoformat(), "end": segments[-1].end.isoformat()}


def _repoint(db: Database, paths: dict[int, str]) -> None:
    with db.session() as s:
        for seg_id, path in paths.items():
            s.execute(update(Segment).where(Segment.id == seg_id).values(path=path))


def _media_answers(client: TestClient, camera_id: int, window: dict[str, str]) -> dict[str, int]:
    """What playback, export, evidence export and the integrity check answer."""
    body = {**window, "reason": "case 9", "requested_by": "investigator 7"}
    answers = {
        "playback": client.get(
            f"/api/cameras/{camera_id}/playback.mp4", params={"start": window["start"]}
        ),
        "export": client.get(f"/api/cameras/{camera_id}/export", params=window),
        "evidence export": client.post(f"/api/cameras/{camera_id}/evidence-export", json=body),
        "integrity": client.get(f"/api/cameras/{camera_id}/integrity", params=window),
    }
    for what, r in answers.items():
        assert SECRET not in r.content, f"{what} served a file outside the recordings"
    return {what: r.status_code for what, r in answers.items()}


def test_segments_outside_the_recordings_are_never_played_or_exported(
    client: TestClient,
    db: Database,
    settings: Settings,
    recorded: tuple[int, list[Segment]],
    tmp_path: Path,
) -> None:
    camera_id, segments = recorded
    window = _window(segments)
    root = settings.recordings_dir
    assert _media_answers(client, camera_id, window) == {
        "playback": 200, "export": 200, "evidence export": 200, "integrity": 200,
    }  # fmt: skip
    # The files move out of the recordings (their bytes marked), the index follows them
    # there by "..", an absolute path and a symlink.
    outside = tmp_path / "outside-recordings"
    outside.mkdir()
    moved = []
    for i, seg in enumerate(segments[:3]):
        target = outside / f"{i}.mp4"
        shutil.move(root / seg.path, target)
        target.write_bytes(target.read_bytes() + SECRET)
        moved.append(target)
    link = root / "link.mp4"
    link.symlink_to(moved[2])
    _repoint(
        db,
        {
            segments[0].id: os.path.relpath(moved[0], root),  # "../../outside-…"
            segments[1].id: str(moved[1]),
            segments[2].id: "link.mp4",
        },
    )
    assert (root / os.path.relpath(moved[0], root)).read_bytes().endswith(SECRET)
    answers = _media_answers(client, camera_id, {**window, "end": segments[2].end.isoformat()})
    assert answers == {
        "playback": 404, "export": 404, "evidence export": 404, "integrity": 200,
    }, answers  # fmt: skip
    integrity = client.get(f"/api/cameras/{camera_id}/integrity", params=window).json()
    kinds = {p["segment_id"]: p["kind"] for p in integrity["problems"]}
    assert [kinds[s.id] for s in segments[:3]] == ["index_altered"] * 3
    # Retention deletes index rows, never files outside the recordings.
    remove_segments(db, root, list(segments_of(db, camera_id))[:3])
    assert all(p.exists() for p in moved) and link.exists() is False


def test_unreadable_segment_paths_answer_404_not_500(
    client: TestClient, db: Database, settings: Settings, recorded: tuple[int, list[Segment]]
) -> None:
    camera_id, segments = recorded
    names = ["%2e%2e%2f%2e%2e%2fsecret.mp4", "x" * 300 + ".mp4", "y/" * 400 + "z.mp4"]
    if settings.db_url.startswith("sqlite"):
        names[2] = "0.mp4\x00../../secret.mp4"
    _repoint(db, {seg.id: name for seg, name in zip(segments, names, strict=False)})
    window = {**_window(segments), "end": segments[2].end.isoformat()}  # type: ignore[union-attr]
    answers = _media_answers(client, camera_id, window)
    assert answers == {
        "playback": 404, "export": 404, "evidence export": 404, "integrity": 200,
    }, answers  # fmt: skip
    remove_segments(db, settings.recordings_dir, list(segments_of(db, camera_id)))
    assert segments_of(db, camera_id) == [], "the bad rows are gone, nothing else broke"


def test_an_export_is_named_safely_whatever_the_camera_is_called(
    client: TestClient, recorded: tuple[int, list[Segment]]
) -> None:
    camera_id, segments = recorded
    renamed = client.patch(f"/api/cameras/{camera_id}", json={"name": "../../../etc/passwd"})
    assert renamed.status_code == 200, renamed.text
    window = _window(segments)
    body = {**window, "reason": "case 9", "requested_by": "investigator 7"}
    for r in (
        client.get(f"/api/cameras/{camera_id}/export", params=window),
        client.post(f"/api/cameras/{camera_id}/evidence-export", json=body),
    ):
        assert r.status_code == 200, r.text
        disposition = r.headers["content-disposition"]
        filename = disposition.split("filename=")[-1].strip('"')
        assert "/" not in filename and "\\" not in filename and not filename.startswith(".")


STATIC_ATTEMPTS = [
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/api/app.py",
    "/static/js/%2e%2e/%2e%2e/%2e%2e/config.py",
    "/static/..%5c..%5capi%5capp.py",
    "/static/%2fetc%2fpasswd",
    "/static//etc/passwd",
    "/static/index.html%00.js",
    "/static/" + "x" * 300,
    "/static/" + ("y" * 200 + "/") * 30 + "z.js",
    "/%2e%2e/%2e%2e/etc/passwd",
]


def test_static_files_stay_in_the_web_folder(client: TestClient) -> None:
    r = client.get("/static/index.html")
    assert r.status_code == 200 and b"<html" in r.content  # it serves: it can fail below
    for url in STATIC_ATTEMPTS:
        r = client.get(url)
        assert served_nothing_secret(r.status_code, r.content), (url, r.status_code)
        assert b"create_app" not in r.content and b"BaseSettings" not in r.content, url


MEDIA_ATTEMPTS = [
    "/media/cameras/..%2F..%2F..%2Fetc%2Fpasswd/snapshot.jpg",
    "/media/cameras/%2e%2e/snapshot.jpg",
    "/media/cameras/1%00/snapshot.jpg",
    "/media/cameras/1/snapshot.jpg/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/media/health/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/media/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/media/cameras/1/" + "n" * 300,
]


def test_the_recorders_media_api_serves_no_path(settings: Settings) -> None:
    # Its routes take camera ids only: none of these reaches one, so no recorder service
    # needs to run (the app's lifespan is not started).
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    client = TestClient(create_recorder_app(settings), raise_server_exceptions=False)
    signed = {"Authorization": f"Bearer {service_token(settings.data_dir)}"}
    for url in MEDIA_ATTEMPTS:
        for headers, expected in (({}, {401}), (signed, {404, 422})):
            r = client.get(url, headers=headers)
            ok = r.status_code in expected and served_nothing_secret(r.status_code, r.content)
            assert ok, (url, list(headers), r.status_code, r.text[:200])
