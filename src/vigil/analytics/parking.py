"""Photos of vehicles as they park, for parking enforcement's evidence.

A fine needs the vehicle at the start of its stop and at the limit. The limit's photo is the
``parked_vehicle`` event's snapshot; the arrival's is taken here, on cameras with that
behaviour: once a vehicle track has stood still for ``SETTLE_S`` (its box's centre within
``STILL_FRACTION`` of its width of where it stopped), the frame is kept as a JPEG with the
vehicle boxed, until the vehicle drives off (then the next stop takes a new one). One JPEG
per parked vehicle: a full car park costs a few megabytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from vigil.analytics.classes import VEHICLE_CLASSES
from vigil.analytics.detections import CLASS_NAME, Detections
from vigil.analytics.snapshots import Image, draw_box, encode_jpeg

__all__ = ["Arrival", "ArrivalPhotos"]

STILL_FRACTION = 0.25
SETTLE_S = 2.0


@dataclass(slots=True)
class Arrival:
    """Where and when a vehicle stopped, and its photo once it had settled.

    Attributes:
        t: Stream time it stopped.
        at: Wall time it stopped.
        centre: Its box's centre then (pixels).
        width: Its box's width then (pixels).
        jpeg: The frame with the vehicle boxed, once it had stood ``SETTLE_S``.
    """

    t: float
    at: datetime
    centre: tuple[float, float]
    width: float
    jpeg: bytes | None = None


class ArrivalPhotos:
    """The arrival of each vehicle track that stopped (see the module)."""

    def __init__(self, classes: Iterable[str] = ()) -> None:
        self._classes = frozenset(classes) or VEHICLE_CLASSES
        self._arrivals: dict[int, Arrival] = {}

    def observe(self, tracked: Detections, image: Image, t: float, at: datetime) -> None:
        """Follow this frame's vehicles: a stop starts, settles (photo) or ends."""
        if tracked.tracker_id is None:
            return
        names = tracked.data.get(CLASS_NAME)
        for i, track_id in enumerate(tracked.tracker_id.tolist()):
            if names is not None and str(names[i]) not in self._classes:
                continue
            x1, y1, x2, y2 = (float(v) for v in tracked.xyxy[i])
            centre, width = ((x1 + x2) / 2, (y1 + y2) / 2), max(x2 - x1, 1.0)
            arrival = self._arrivals.get(int(track_id))
            moved = arrival is not None and (
                abs(centre[0] - arrival.centre[0]) > STILL_FRACTION * arrival.width
                or abs(centre[1] - arrival.centre[1]) > STILL_FRACTION * arrival.width
            )
            if arrival is None or moved:
                self._arrivals[int(track_id)] = Arrival(t, at, centre, width)
                continue
            if arrival.jpeg is None and t - arrival.t >= SETTLE_S:
                photo = image.copy()
                draw_box(photo, (x1, y1, x2, y2))
                arrival.jpeg = encode_jpeg(photo)

    def arrival(self, track_id: int) -> Arrival | None:
        """The vehicle's current stop, if it has settled."""
        arrival = self._arrivals.get(track_id)
        return arrival if arrival is not None and arrival.jpeg is not None else None

    def forget(self, track_ids: Iterable[int]) -> None:
        """Drop the tracks that ended."""
        for track_id in track_ids:
            self._arrivals.pop(track_id, None)
