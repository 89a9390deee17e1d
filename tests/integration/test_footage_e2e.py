"""Footage from where it lives, as real processes on PostgreSQL and NATS: a camera recorded
on node a, then (a drained) on node b, plays back, exports and packages as evidence across
both from the server, although the server and each node keep their own data directory
(nothing shared on disk). Once a is stopped its footage is "unavailable" (503), b's is not.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import av
import pytest

from tests.bus.conftest import NATS_URL
from tests.conftest import (
    Stack,
    fresh_postgres,
    require_service,
    wait_until,
)
from vigil.devices.simulator import Simulator
from vigil.evidence.verify import verify_package
from vigil.store.db import Database
from vigil.store.models import Segment

# Three Vigil processes and a simulated camera: slow on a loaded machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Generous: these waits say what must happen, not how fast.
WITHIN_S = 90


def require_nats() -> None:
    url = urlsplit(NATS_URL)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", url.port or 4222), 2).close()
    except OSError as exc:
        require_service("NATS with JetStream", f"{NATS_URL}: {exc}")


class SeparateDisks(Stack):
    """A server and recorder nodes on PostgreSQL and NATS, each with its own data
    directory; they share only the installation's service token."""

    def __init__(self, root: Path, db_url: str, namespace: str) -> None:
        super().__init__(
            root / "server",
            db_url,
            env={
                "VIGIL_BUS__URL": NATS_URL,
                "VIGIL_BUS__NAMESPACE": namespace,
                "VIGIL_RECORDER__HEALTH_INTERVAL_S": "1",
                "VIGIL_INTERNAL_TOKEN": uuid.uuid4().hex,
            },
        )
        self.root = root

    def start_node(
        self, name: str, *, data_dir: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        """Start (or start again) node ``name`` on its own data directory."""
        super().start_node(name, data_dir=data_dir or self.root / name, env=env)

    def placement(self, camera_id: int) -> str | None:
        node: str | None = self.camera(camera_id)["node"]
        return node


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SeparateDisks]:
    require_nats()
    with fresh_postgres("vigil_footage") as url:
        c = SeparateDisks(tmp_path, url, f"t{uuid.uuid4().hex[:12]}")
        c.data_dir.mkdir(parents=True)
        try:
            c.start_server()
            yield c
        finally:
            c.stop()


def closed_segments(cluster: SeparateDisks, camera_id: int, node: str) -> list[Segment]:
    db = Database(cluster.db_url)
    try:
        with db.session() as s:
            rows = (
                s.query(Segment)
                .filter(Segment.camera_id == camera_id, Segment.node == node)
                .filter(Segment.end.is_not(None))
                .order_by(Segment.start)
                .all()
            )
    finally:
        db.dispose()
    return list(rows)


def span(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def decoded_seconds(path: Path) -> float:
    """Seconds of video that decode (every frame is decoded: the file must be sound)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = sum(1 for _ in c.decode(stream))
        assert stream.average_rate is not None
        return float(frames / stream.average_rate)


def test_footage_of_two_nodes_plays_as_one_and_a_stopped_node_is_unavailable(
    cluster: SeparateDisks, simulator: Simulator, tmp_path: Path
) -> None:
    cluster.start_node("a")
    cam = cluster.add_camera("gate", simulator.url_for("pattern"))["id"]
    wait_until(lambda: cluster.placement(cam) == "a", WITHIN_S, "camera on a", cluster.logs)
    wait_until(
        lambda: len(closed_segments(cluster, cam, "a")) >= 5,
        WITHIN_S,
        "five segments recorded on a",
        cluster.logs,
    )
    cluster.start_node("b")
    r = cluster.client.patch("/api/nodes/a", json={"draining": True})
    assert r.status_code == 200, r.text
    wait_until(lambda: cluster.placement(cam) == "b", WITHIN_S, "camera moved to b", cluster.logs)
    wait_until(
        lambda: len(closed_segments(cluster, cam, "b")) >= 3,
        WITHIN_S,
        "three segments recorded on b",
        cluster.logs,
    )
    on_a, on_b = closed_segments(cluster, cam, "a"), closed_segments(cluster, cam, "b")
    # Nothing is shared on disk: each node has its own files, the server none.
    assert not list((cluster.data_dir / "recordings").rglob("*.mp4"))
    assert all((cluster.root / "a" / "recordings" / s.path).is_file() for s in on_a)
    assert all((cluster.root / "b" / "recordings" / s.path).is_file() for s in on_b)
    a_end, b_start, b_second_end = on_a[-1].end, on_b[0].start, on_b[1].end
    assert a_end is not None and b_second_end is not None and a_end <= b_start

    timeline = cluster.client.get(
        f"/api/cameras/{cam}/timeline",
        params=span(on_a[0].start - timedelta(seconds=1), on_b[-1].end or b_start),
    ).json()
    ranges = [
        (datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"]))
        for r in timeline["ranges"]
    ]
    assert any(s <= on_a[-2].start and e >= a_end for s, e in ranges), ranges
    assert any(s <= b_start and e >= b_second_end for s, e in ranges), ranges

    # A span crossing from a to b, exported as one MP4.
    start, end = on_a[-2].start, b_second_end
    recorded_s = (a_end - start + end - b_start).total_seconds()
    export = cluster.client.get(f"/api/cameras/{cam}/export", params=span(start, end), timeout=120)
    assert export.status_code == 200, export.text
    exported = tmp_path / "crossing.mp4"
    exported.write_bytes(export.content)
    a_only_s = (a_end - start).total_seconds()
    assert decoded_seconds(exported) == pytest.approx(recorded_s, abs=1.5)
    assert decoded_seconds(exported) > a_only_s + 1.0, "b's footage follows a's"

    play = cluster.client.get(
        f"/api/cameras/{cam}/playback.mp4", params={"start": start.isoformat()}, timeout=120
    )
    assert play.status_code == 200, play.text
    assert datetime.fromisoformat(play.headers["X-Vigil-Start"]) == start
    played = tmp_path / "played.mp4"
    played.write_bytes(play.content)
    assert decoded_seconds(played) > recorded_s - 1.5, "plays on from a into b"

    body = {**span(start, end), "reason": "case 7", "requested_by": "inspector"}
    package = cluster.client.post(f"/api/cameras/{cam}/evidence-export", json=body, timeout=120)
    assert package.status_code == 200, package.text
    zipped = tmp_path / "evidence.zip"
    zipped.write_bytes(package.content)
    verdict = verify_package(zipped)
    assert verdict.ok, verdict.problems
    chain = verdict.metadata["chain_verification"]
    assert chain["ok"] and chain["verified"] >= 4, chain
    assert {s["id"] for s in verdict.metadata["segments"]} >= {on_a[-1].id, on_b[0].id}

    # a stops: its footage (what the server has not fetched before) is unavailable.
    cluster.stop_node("a")
    early = span(on_a[0].start, on_a[1].end or on_a[1].start)

    def a_unavailable() -> bool:
        r = cluster.client.get(f"/api/cameras/{cam}/export", params=early)
        return r.status_code == 503

    wait_until(a_unavailable, WITHIN_S, "a's footage answered as unavailable", cluster.logs)
    refused = cluster.client.get(f"/api/cameras/{cam}/export", params=early)
    detail = refused.json()["detail"]
    assert "recorder node a, which is unavailable" in detail, detail
    assert f"footage of camera {cam} from" in detail, detail
    played_early = cluster.client.get(
        f"/api/cameras/{cam}/playback.mp4", params={"start": on_a[0].start.isoformat()}
    )
    assert played_early.status_code == 503, played_early.text
    b_end = on_b[-1].end
    assert b_end is not None
    only_b = cluster.client.get(
        f"/api/cameras/{cam}/export", params=span(b_start, b_end), timeout=120
    )
    assert only_b.status_code == 200, only_b.text
    exported_b = tmp_path / "b.mp4"
    exported_b.write_bytes(only_b.content)
    assert decoded_seconds(exported_b) == pytest.approx((b_end - b_start).total_seconds(), abs=1.0)
