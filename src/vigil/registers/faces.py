"""The server's face watchlist: each face a camera's face matching sends (``FaceSighting``)
is compared with the persons on the registers; a match becomes a ``watchlist.hit`` event.

Privacy by design:

- only cameras whose analytics configuration has the ``face_matching`` behaviour (switched
  on by an administrator, with its stated purpose) are matched: a sighting from any other
  camera is refused, logged and audited (``face.refused``), and dropped;
- only against the lists: a face on none is dropped at once; its descriptor and picture are
  never written anywhere (sightings are not events and are not kept by the bus: a server
  that is down misses them rather than storing them);
- each hit is audited (``face.hit``: camera, register, entry, distance, purpose), and its
  picture is written only then.

Servers share the sightings in a queue group: each is matched once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import uuid
from pathlib import Path

import numpy as np

from vigil.analytics.faces import WATCHLIST_DISTANCE
from vigil.analytics.snapshots import snapshot_path, write_jpeg
from vigil.bus.base import EventBus
from vigil.domain.events import WATCHLIST_HIT, Event, FaceSighting, ObjectRef
from vigil.security import audit
from vigil.store import analytics as analytics_store
from vigil.store.db import Database
from vigil.store.registers import ListedFace, face_gallery
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

SUBJECTS = "analytics.*.faces"
QUEUE = "face-matcher"
FACE_MATCHING = "face_matching"


def best_match(
    sighting: FaceSighting, gallery: list[ListedFace], threshold: float = WATCHLIST_DISTANCE
) -> tuple[ListedFace, float] | None:
    """The listed person nearest to any view of the face, if nearer than ``threshold``."""
    views = np.asarray(sighting.descriptors, dtype=np.float64).reshape(-1, 128)
    best: tuple[ListedFace, float] | None = None
    for person in gallery:
        faces = np.asarray(person.descriptors, dtype=np.float64).reshape(-1, 128)
        distances = np.linalg.norm(views[:, None, :] - faces[None, :, :], axis=2)
        distance = float(distances.min())
        if distance < threshold and (best is None or distance < best[1]):
            best = (person, distance)
    return best


class FaceMatcher:
    """``FaceSighting`` messages in; ``watchlist.hit`` events out (see the module)."""

    def __init__(self, db: Database, bus: EventBus, *, data_dir: Path) -> None:
        self._db = db
        self._bus = bus
        self._data_dir = data_dir
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe (in the servers' queue group); returns once subscribed."""
        subscribed = asyncio.Event()
        self._task = asyncio.create_task(self._listen(subscribed), name="face-matcher")
        await subscribed.wait()

    async def stop(self) -> None:
        """Stop (a match in hand finishes first)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self, subscribed: asyncio.Event) -> None:
        async with self._bus.subscribe(SUBJECTS, queue=QUEUE) as messages:
            subscribed.set()
            async for envelope in messages:
                if envelope.kind != FaceSighting.kind:
                    continue
                try:
                    await self.handle(envelope.open(FaceSighting))
                except ValueError as exc:
                    log.warning("ignoring a malformed face sighting: %s", exc)
                except Exception:  # the database is away: this face is missed, not kept
                    log.exception("face sighting not matched")

    async def handle(self, sighting: FaceSighting) -> Event | None:
        """Match one sighting; the hit event published, if any."""
        if not await asyncio.to_thread(self._switched_on, sighting.camera_id):
            log.warning(
                "camera %s sent a face but face matching is not switched on there: dropped",
                sighting.camera_id,
            )
            await asyncio.to_thread(
                audit.record,
                self._db,
                action="face.refused",
                outcome=audit.Outcome.DENIED,
                camera_id=sighting.camera_id,
                details={"node": sighting.node, "reason": "face matching is off on the camera"},
            )
            return None
        gallery = await asyncio.to_thread(face_gallery, self._db, sighting.at)
        found = best_match(sighting, gallery)
        if found is None:
            return None  # on no list: nothing of it is kept
        person, distance = found
        hit = await asyncio.to_thread(self._hit, sighting, person, distance)
        await self._bus.publish(hit.subject(), hit)
        return hit

    def _switched_on(self, camera_id: int) -> bool:
        config = analytics_store.get_config(self._db, camera_id)
        return config.enabled and any(b.type == FACE_MATCHING for b in config.behaviours)

    def _hit(self, sighting: FaceSighting, person: ListedFace, distance: float) -> Event:
        match = person.match
        event_id = uuid.uuid5(uuid.UUID(int=0), f"{sighting.id}:{match.entry_id}").hex
        snapshot = None
        try:
            picture = base64.b64decode(sighting.face_jpeg, validate=True)
            if picture:
                relative = snapshot_path(sighting.camera_id, sighting.at, event_id)
                snapshot = write_jpeg(self._data_dir, relative, picture)
        except (binascii.Error, OSError) as exc:  # the hit matters more than its picture
            log.warning("face hit picture not written: %s", exc)
        audit.record(
            self._db,
            action="face.hit",
            camera_id=sighting.camera_id,
            target=f"register:{match.register_id}",
            details={
                "register": match.register,
                "entry": match.entry_id,
                "name": match.label,
                "distance": round(distance, 3),
                "purpose": sighting.purpose,
            },
            at=utcnow(),
        )
        return Event(
            id=event_id,
            type=WATCHLIST_HIT,
            at=sighting.at,
            camera_id=sighting.camera_id,
            object=ObjectRef(class_name="person", track_id=sighting.track_id, box=sighting.box),
            attributes={
                "by": "face",
                "name": match.label,
                "score": round(1.0 - distance, 3),
                "distance": round(distance, 3),
                "threshold": WATCHLIST_DISTANCE,
                "purpose": sighting.purpose,
                "list": {
                    "id": match.register_id,
                    "name": match.register,
                    "category": match.category,
                },
                "entry": {
                    "id": match.entry_id,
                    "name": match.label,
                    "reason": match.reason,
                    "source": match.source,
                    "valid_until": match.valid_until.isoformat() if match.valid_until else None,
                },
                "behaviour": sighting.behaviour,
            },
            snapshot=snapshot,
            source=sighting.node or "vigil",
        )
