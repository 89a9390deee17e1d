"""Recorded footage wherever it lives, as files the server can read.

In one machine (or with the recordings folder shared by every node) a segment's file is
under the server's own recordings folder and is read in place. In a cluster where each
recorder node keeps its own disk, the file is fetched from the node that recorded it
(its media API, ``SEGMENT_PATH``, with the installation's service token) into a bounded
cache under the server's data directory, checked against the index (size and, once the
segment is closed, its SHA-256) and read from there.

Fetching is lazy: a segment is fetched when playback or export opens it
(``SegmentFile.fetch``), so playing an hour back does not first copy the hour. A node that
has stopped reporting, does not answer or refuses makes its footage unavailable
(:class:`FootageUnavailable`); the API answers that with 503, never 500. A node that never
registered cannot hold footage elsewhere: its missing files are gone, as before nodes
existed. Blocking I/O: call from a worker thread.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from vigil.media.playback import SegmentFile
from vigil.security.service_token import service_headers
from vigil.store import nodes, recordings
from vigil.store.db import Database
from vigil.store.models import Segment
from vigil.store.paths import confined, confined_file
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

# The recorder's media API path that serves one segment file (api/recorder_app.py).
SEGMENT_PATH = "/media/segments/{segment_id}"
# The recorder's media API path that deletes segment files whose index rows are gone.
DELETE_FILES_PATH = "/media/recordings/delete"
# The recorder's media API path that serves files its analytics wrote in its data directory
# (event snapshots, track thumbnails), limited to these folders.
DATA_FILE_PATH = "/media/data/{path}"
DATA_FILE_ROUTE = "/media/data/{path:path}"  # the same, as the node's router declares it
SERVED_DATA = ("snapshots", "thumbnails")
NODE_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
DELETE_BATCH = 2000  # files per deletion request (the node takes at most 10,000)
CACHE_DIR = "footage-cache"
# About 40 minutes of a 4K camera, hours of a grid stream: a sane bound for a server disk.
DEFAULT_CACHE_BYTES = 4 * 1024**3
FETCH_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
CHUNK = 1024 * 1024
# A partial download untouched this long was left by a process that died mid-fetch.
STALE_PART_S = 3600


class FootageUnavailable(RuntimeError):
    """Footage is on a recorder node that cannot serve it now (down, silent, refusing)."""

    def __init__(
        self, *, camera_id: int, node: str, start: datetime, end: datetime, reason: str
    ) -> None:
        super().__init__(
            f"footage of camera {camera_id} from {_when(start)} to {_when(end)} is on "
            f"recorder node {node}, which is unavailable ({reason}); try again once the "
            "node is back"
        )
        self.camera_id, self.node, self.start, self.end = camera_id, node, start, end
        self.reason = reason


class NodeUnavailable(RuntimeError):
    """A file is on a recorder node that cannot serve or delete it now."""

    def __init__(self, *, node: str, what: str, reason: str) -> None:
        super().__init__(
            f"{what} is on recorder node {node}, which is unavailable ({reason}); try again "
            "once the node is back"
        )
        self.node, self.reason = node, reason


@dataclass(frozen=True, slots=True)
class Resolved:
    """A span's segments as files to read, and what of it is on unavailable nodes."""

    files: list[SegmentFile]
    unavailable: list[FootageUnavailable]


class Footage:
    """Reads the segments of a span from where they live (see the module's docstring).

    Args:
        db: The index.
        recordings_dir: This machine's recordings folder (segments found there are read
            in place).
        data_dir: This machine's data directory: the cache lives in it, and the service
            token that the nodes accept is read from it.
        cache_bytes: The cache is trimmed (oldest first) to this many bytes.
    """

    def __init__(
        self,
        db: Database,
        *,
        recordings_dir: Path,
        data_dir: Path,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.db = db
        self.root = recordings_dir
        self.data_dir = data_dir
        self.cache = data_dir / CACHE_DIR
        self.cache_bytes = cache_bytes

    def resolve(self, camera_id: int, start: datetime, end: datetime) -> Resolved:
        """The camera's segments overlapping [start, end): local files as they are, the
        others to be fetched when opened (or read from the cache). Segments of a node that
        is not alive now, and not in the cache, are left out and reported, one
        :class:`FootageUnavailable` per node. Left out silently, as missing files always
        were: index entries pointing outside the recordings folder, and segments of a
        node that never registered (written by this machine's recorder before nodes
        existed, or by a tool) whose file is not here."""
        files: list[SegmentFile] = []
        away: dict[str, list[Segment]] = {}
        state: dict[str, bool | None] = {}  # node -> alive (None: never registered)
        for seg in recordings.segments_between(self.db, camera_id, start, end):
            local = confined_file(self.root, seg.path)
            if local is not None:
                files.append(SegmentFile(path=local, start=seg.start, end=seg.end))
                continue
            if confined(self.root, seg.path) is None:
                continue  # an index entry pointing outside the recordings: never read
            if seg.node not in state:
                node = nodes.get_node(self.db, seg.node)
                state[seg.node] = None if node is None else nodes.is_alive(node)
            cached = self._cached(seg)
            if state[seg.node] is None:
                continue  # no such node ever ran: its file was this machine's, and is gone
            if not state[seg.node] and not (seg.end is not None and _complete(cached, seg)):
                away.setdefault(seg.node, []).append(seg)
                continue
            fetch = functools.partial(self.fetch, seg)
            files.append(SegmentFile(path=cached, start=seg.start, end=seg.end, fetch=fetch))
        unavailable = [
            _unavailable(segs, start, end, "it is not running or has stopped reporting")
            for segs in away.values()
        ]
        return Resolved(files, unavailable)

    def segment_files(self, camera_id: int, start: datetime, end: datetime) -> list[SegmentFile]:
        """Like :meth:`resolve`, for an export: all of the span or nothing.

        Raises:
            FootageUnavailable: Part of the span is on a node that is not alive now.
        """
        resolved = self.resolve(camera_id, start, end)
        if resolved.unavailable:
            raise resolved.unavailable[0]
        return resolved.files

    def locate(self, seg: Segment) -> Path | None:
        """Where a segment's file can be read here, for verifying it (fetched when needed):
        a node's copy that does not match the index is returned too (kept apart from the
        cache), so that verification reports it as altered; where it would be here when it
        is gone everywhere (so reading it fails). None when the index points outside the
        recordings folder.

        Raises:
            FootageUnavailable: Its node cannot serve it now.
        """
        here = confined(self.root, seg.path)
        if here is None or confined_file(self.root, seg.path) is not None:
            return here
        return self.fetch(seg, verify=False) or here

    def fetch(self, seg: Segment, *, verify: bool = True) -> Path | None:
        """The segment's file in the cache, fetched from its node unless a complete copy is
        there; None when the node no longer has it (deleted by retention).

        Raises:
            FootageUnavailable: The node is not alive, does not answer or refuses; or
                (``verify``) it sends a copy that does not match the index.
        """
        cached = self._cached(seg)
        if seg.end is not None and _complete(cached, seg):
            os.utime(cached)  # recently used: evicted last
            return cached
        node = nodes.get_node(self.db, seg.node)
        if node is None:  # never ran as a node: the file was this machine's, and is gone
            return None
        if not nodes.is_alive(node):
            raise _unavailable([seg], seg.start, seg.end or utcnow(), "it is not running")
        url = node.media_url + SEGMENT_PATH.format(segment_id=seg.id)
        self.cache.mkdir(parents=True, exist_ok=True)
        partial = self.cache / f".{seg.id}.{uuid.uuid4().hex}.part"
        try:
            size, sha256 = self._download(seg, url, partial)
            if size is None:
                return None
            if (problem := _mismatch(seg, size, sha256)) is not None:
                if verify:
                    raise _unavailable([seg], seg.start, seg.end or utcnow(), problem)
                # Never a cache hit: only copies that match the index are reused.
                cached = self.cache / f"{seg.id}.unverified.mp4"
            # An open segment grows: its copy is fetched anew each time it is opened.
            os.replace(partial, cached)
        finally:
            partial.unlink(missing_ok=True)
        self._trim(keep=cached)
        return cached

    def _download(self, seg: Segment, url: str, to: Path) -> tuple[int | None, str]:
        """Stream ``url`` into ``to``; (size, SHA-256), or (None, "") on a 404."""
        digest, size = hashlib.sha256(), 0
        try:
            headers = service_headers(self.data_dir)
            with (
                httpx.Client(timeout=FETCH_TIMEOUT, headers=headers) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code == 404:
                    response.read()
                    log.warning("node %s no longer has segment %d: %s", seg.node, seg.id, url)
                    return None, ""
                if response.status_code != 200:
                    response.read()
                    raise _unavailable([seg], seg.start, seg.end or utcnow(), _refusal(response))
                with to.open("wb") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
        except httpx.HTTPError as exc:
            reason = f"{url} did not answer: {exc or type(exc).__name__}"
            raise _unavailable([seg], seg.start, seg.end or utcnow(), reason) from None
        return size, digest.hexdigest()

    def _cached(self, seg: Segment) -> Path:
        # Segment ids are never reused, so the id names the copy.
        return self.cache / f"{seg.id}.mp4"

    def _trim(self, *, keep: Path) -> None:
        """Remove the least recently used copies until the cache fits its bound, and what
        fetches cut short by a crash left."""
        stale = time.time() - STALE_PART_S
        for part in self.cache.glob(".*.part"):
            with contextlib.suppress(FileNotFoundError):
                if part.stat().st_mtime < stale:
                    part.unlink()
        entries = []
        for path in self.cache.glob("*.mp4"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # trimmed by another request meanwhile
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.cache_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)  # a reader that has it open keeps reading
                total -= size


def _complete(path: Path, seg: Segment) -> bool:
    try:
        return path.stat().st_size == seg.bytes
    except FileNotFoundError:
        return False


def _mismatch(seg: Segment, size: int, sha256: str) -> str | None:
    """How a closed segment's copy differs from what the index noted when it was recorded."""
    if seg.end is None:
        return None
    if size != seg.bytes:
        return f"it sent {size} bytes of segment {seg.id}, the index has {seg.bytes}"
    if seg.sha256 is not None and sha256 != seg.sha256:
        return f"its copy of segment {seg.id} has SHA-256 {sha256}, the index {seg.sha256}"
    return None


def _refusal(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    hint = ""
    if response.status_code == 401:
        hint = "; give the server and every node the same VIGIL_INTERNAL_TOKEN"
    return f"it answered {response.status_code}: {str(detail)[:200]}{hint}"


def _unavailable(
    segs: Sequence[Segment], start: datetime, end: datetime, reason: str
) -> FootageUnavailable:
    """The error for a node's segments, over the part of them within [start, end]."""
    first = max(segs[0].start, start)
    last = min(max(s.end or utcnow() for s in segs), end)
    return FootageUnavailable(
        camera_id=segs[0].camera_id, node=segs[0].node, start=first, end=last, reason=reason
    )


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def local_segment_files(
    db: Database, root: Path, camera_id: int, start: datetime, end: datetime
) -> list[SegmentFile]:
    """The camera's segment files overlapping [start, end) that are on this machine, confined
    to the recordings root (a node's own files; the server reads through :class:`Footage`,
    which also reaches the files other recorder nodes keep)."""
    files = []
    for seg in recordings.segments_between(db, camera_id, start, end):
        path = confined_file(root, seg.path)
        if path is None:
            continue  # deleted by retention meanwhile, or an index entry pointing outside
        files.append(SegmentFile(path=path, start=seg.start, end=seg.end))
    return files


def elsewhere(root: Path, segments: Sequence[Segment]) -> list[Segment]:
    """The segments whose file is not under this machine's recordings folder (call before
    deleting the local ones): those a recorder node keeps on its own disk."""
    return [s for s in segments if confined_file(root, s.path) is None]


@dataclass(frozen=True, slots=True)
class NodeDeletion:
    """What the nodes did with the files of deleted segments."""

    deleted: list[str]  # segment files and images, as they were named
    # node -> {"reason": ..., "paths": [segment files], "images": [snapshots, thumbnails]}
    pending: dict[str, dict[str, object]]


def delete_on_nodes(
    db: Database,
    data_dir: Path,
    segments: Sequence[Segment],
    images: Mapping[str, Sequence[str]] | None = None,
) -> NodeDeletion:
    """Ask each recording node to delete the files of these segments, whose index rows
    are gone (their paths from :func:`elsewhere`), and ``images`` (node -> snapshots and
    thumbnails in its data directory that no row names any more). A node that is down,
    silent or refusing keeps its files for now: they are reported as pending, and its
    janitor deletes the segment files when it runs again (``media/storage.py``
    ``sweep_unindexed``), since no row names them. Segments of a node that never
    registered have nothing elsewhere and are skipped."""
    wanted: dict[str, tuple[list[str], list[str]]] = {}
    for seg in segments:
        wanted.setdefault(seg.node, ([], []))[0].append(seg.path)
    for name, paths in (images or {}).items():
        wanted.setdefault(name, ([], []))[1].extend(paths)
    deleted: list[str] = []
    pending: dict[str, dict[str, object]] = {}
    for name, (paths, pictures) in sorted(wanted.items()):
        node = nodes.get_node(db, name)
        if node is None:
            continue
        what = f"{len(paths) + len(pictures)} files"
        try:
            if not nodes.is_alive(node):
                raise NodeUnavailable(node=name, what=what, reason="it is not running")
            deleted += _delete_files(node.media_url, name, data_dir, paths, pictures)
        except NodeUnavailable as exc:
            log.warning("%s wait for node %s: %s", what, name, exc.reason)
            pending[name] = {"reason": exc.reason, "paths": paths, "images": pictures}
    return NodeDeletion(deleted=deleted, pending=pending)


def _delete_files(
    media_url: str, node: str, data_dir: Path, paths: list[str], images: list[str]
) -> list[str]:
    url = media_url + DELETE_FILES_PATH
    what = f"{len(paths) + len(images)} files"
    deleted: list[str] = []
    try:
        with httpx.Client(timeout=NODE_TIMEOUT, headers=service_headers(data_dir)) as client:
            # A camera's whole history may be many thousand files: a bounded request each.
            for i in range(0, max(len(paths), len(images)), DELETE_BATCH):
                body = {
                    "paths": paths[i : i + DELETE_BATCH],
                    "images": images[i : i + DELETE_BATCH],
                }
                response = client.post(url, json=body)
                if response.status_code != 200:
                    raise NodeUnavailable(node=node, what=what, reason=_refusal(response))
                done = response.json()
                if kept := done.get("indexed", []):  # only files whose rows went are sent
                    log.error(
                        "node %s kept %d files that rows still name: %s", node, len(kept), kept
                    )
                deleted += done.get("deleted", [])
    except httpx.HTTPError as exc:
        reason = f"{url} did not answer: {exc or type(exc).__name__}"
        raise NodeUnavailable(node=node, what=what, reason=reason) from None
    return deleted


def fetch_data_file(db: Database, data_dir: Path, node_name: str, path: str) -> bytes | None:
    """A file that a recorder node's analytics wrote under its data directory (an event
    snapshot, a track thumbnail); None when the node no longer has it or never ran.

    Raises:
        NodeUnavailable: The node is not alive, does not answer or refuses.
    """
    node = nodes.get_node(db, node_name)
    if node is None:
        return None
    what = f"file {path}"
    if not nodes.is_alive(node):
        raise NodeUnavailable(node=node_name, what=what, reason="it is not running")
    url = node.media_url + DATA_FILE_PATH.format(path=path)
    try:
        with httpx.Client(timeout=NODE_TIMEOUT, headers=service_headers(data_dir)) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        reason = f"{url} did not answer: {exc or type(exc).__name__}"
        raise NodeUnavailable(node=node_name, what=what, reason=reason) from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise NodeUnavailable(node=node_name, what=what, reason=_refusal(response))
    return response.content
