"""The recorder's media API: live view of the cameras it records, the segment files it
recorded, its health.

The server proxies browsers to it; in a multi-node installation each node answers for
the cameras it owns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, HTTPException, Response, WebSocket
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from vigil import __version__
from vigil.api.guard import ServiceGate
from vigil.api.security_headers import SecurityHeaders
from vigil.api.ws import push_until_gone
from vigil.bus.connect import recorder_bus
from vigil.config import Settings
from vigil.media.footage import DATA_FILE_ROUTE, DELETE_FILES_PATH, SEGMENT_PATH, SERVED_DATA
from vigil.media.live import LiveEnded, LiveFragment, LiveInit, LiveItem
from vigil.media.privacy import mask_jpeg
from vigil.media.privacy_live import masked_items
from vigil.media.storage import remove_unindexed, remove_unused_images
from vigil.recorder.service import RecorderService
from vigil.store.db import open_database
from vigil.store.paths import confined_file
from vigil.store.recordings import get_segment

log = logging.getLogger(__name__)

HEALTH_PATH = "/media/health"
LIVE_PATH = "/media/cameras/{camera_id}/live"
SNAPSHOT_PATH = "/media/cameras/{camera_id}/snapshot.jpg"
# "sub" serves the camera's sub-stream when it has one (grids), else the main stream.
LiveStream = Literal["main", "sub"]


class DeleteFiles(BaseModel):
    """Files of a node to delete once their rows are gone (``DELETE_FILES_PATH``)."""

    # Segment files, relative to the recordings folder.
    paths: list[str] = Field(max_length=10_000)
    # Snapshots and thumbnails, relative to the data directory.
    images: list[str] = Field(default_factory=list, max_length=10_000)


def create_recorder_app(settings: Settings) -> FastAPI:
    """Build a recorder node: the recording service plus its media API."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_dirs()
        db = open_database(settings.db_url)
        bus = await recorder_bus(settings)
        service = RecorderService(settings, db, bus)
        app.state.service = service
        task = asyncio.create_task(service.run(), name="recorder")
        log.info("recorder %s ready on %s", service.node, settings.recorder_url)
        yield
        # Asked, not cancelled: the service ends its round, then closes every segment (a gap
        # "recording stopped") and publishes its cameras' status while the bus is still up.
        service.request_stop()
        try:
            await task
        except Exception:  # it failed before the stop: say so, and still close the rest
            log.exception("the recorder service had failed")
        await bus.close()
        db.dispose()

    app = FastAPI(title="Vigil recorder", version=__version__, lifespan=lifespan)
    app.add_middleware(ServiceGate, data_dir=settings.data_dir, public=frozenset({HEALTH_PATH}))
    app.add_middleware(SecurityHeaders)

    @app.get(HEALTH_PATH)
    def health() -> dict[str, object]:
        service: RecorderService = app.state.service
        return {"status": "ok", "node": service.node, "cameras": sorted(service.supervisors)}

    @app.get(SNAPSHOT_PATH, response_class=Response)
    async def snapshot(camera_id: int, masked: bool = False) -> Response:
        """The latest frame of the camera's analytics stream (the live stream's latest
        keyframe while analytics is off), as JPEG; ``masked=1``: with its privacy masks
        filled in (for viewers without the unmask permission)."""
        service: RecorderService = app.state.service
        if camera_id not in service.supervisors:
            raise HTTPException(404, f"camera {camera_id} is not recorded here")
        jpeg = await asyncio.to_thread(service.snapshot, camera_id)
        if jpeg is None:
            raise HTTPException(
                503, f"camera {camera_id} has no frame yet: it is connecting or offline"
            )
        privacy = service.privacy.get(camera_id)
        if masked and privacy is not None and privacy.masker.masks:
            jpeg = await asyncio.to_thread(mask_jpeg, jpeg, privacy.masker.masks)
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get(SEGMENT_PATH, response_class=FileResponse)
    async def segment(segment_id: int) -> Response:
        """One segment file that this node recorded, for the server (``media/footage.py``);
        Range requests are answered. A segment still being written is sent as it is now."""
        service: RecorderService = app.state.service
        seg = await asyncio.to_thread(get_segment, service.db, segment_id)
        if seg is None:
            raise HTTPException(404, f"segment {segment_id} is not in the index (deleted?)")
        if seg.node != service.node:
            raise HTTPException(
                404, f"segment {segment_id} was recorded by node {seg.node}, not {service.node}"
            )
        path = confined_file(settings.recordings_dir, seg.path)
        if path is None:
            raise HTTPException(
                404, f"segment {segment_id}'s file is no longer on node {service.node}"
            )
        if seg.end is None:  # growing: a length announced now would be wrong when sent
            data = await asyncio.to_thread(path.read_bytes)
            return Response(data, media_type="video/mp4", headers={"Cache-Control": "no-store"})
        return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "no-store"})

    @app.post(DELETE_FILES_PATH)
    async def delete_files(body: DeleteFiles) -> dict[str, list[str]]:
        """Delete files of this node whose rows the server has deleted (erasure, camera
        deletion). A file that a row still names is kept and listed under ``indexed``."""
        service: RecorderService = app.state.service
        done = await asyncio.to_thread(
            remove_unindexed, service.db, settings.recordings_dir, body.paths
        )
        pictures = await asyncio.to_thread(
            remove_unused_images, service.db, settings.data_dir, body.images, SERVED_DATA
        )
        return {
            "deleted": done.deleted + pictures.deleted,
            "absent": done.absent + pictures.absent,
            "indexed": done.indexed + pictures.indexed,
        }

    @app.get(DATA_FILE_ROUTE, response_class=FileResponse)
    async def data_file(path: str) -> Response:
        """A file this node's analytics wrote under its data directory (event snapshots,
        track thumbnails), for the server; nothing outside those folders."""
        root = settings.data_dir.resolve()
        file = confined_file(root, path)
        if file is None or not any(file.is_relative_to(root / f) for f in SERVED_DATA):
            raise HTTPException(404, f"{path} is not on node {settings.recorder.node_name}")
        return FileResponse(file, headers={"Cache-Control": "no-store"})

    @app.websocket(LIVE_PATH)
    async def live(
        websocket: WebSocket, camera_id: int, stream: LiveStream = "main", masked: bool = False
    ) -> None:
        """Init segment and per-frame fMP4 fragments of one camera, as the server relays them:
        a JSON text ``{"type": "init", "mime": ...}`` then the init bytes, then one binary
        message per fragment; ``{"type": "ended", "reason": ...}`` when the camera stops.
        ``masked=1``: with the camera's privacy masks filled in (media/privacy_live.py)."""
        service: RecorderService = app.state.service
        fragmenter = service.live(camera_id, stream)
        masked_view = service.masked_live(camera_id, stream) if masked else None
        await websocket.accept()
        if fragmenter is None or (masked and masked_view is None):
            await websocket.close(code=4404, reason=f"camera {camera_id} is not recorded here")
            return

        async def items() -> AsyncIterator[LiveItem]:
            if masked_view is not None:
                async for item in masked_items(fragmenter, masked_view):
                    yield item
                return
            async with fragmenter.subscribe() as subscription:
                async for item in subscription:
                    yield item

        async def relay() -> None:
            async for item in items():
                if isinstance(item, LiveInit):
                    await websocket.send_json({"type": "init", "mime": item.mime})
                    await websocket.send_bytes(item.data)
                elif isinstance(item, LiveFragment):
                    await websocket.send_bytes(item.data)
                elif isinstance(item, LiveEnded):
                    await websocket.send_json({"type": "ended", "reason": item.reason})

        await push_until_gone(websocket, relay())

    return app
