"""Where each camera should be recorded: a pure function of cameras, nodes and owners.

A camera stays on the node that records it while that node is alive, accepting cameras and
the camera is not pinned to another live node: moving a camera costs a gap, so placement
never moves one for balance alone. A camera without a node (new, or its node died or is
draining) goes to the live node with the most room left relative to its capacity.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

# A camera's lease lasts this long unless its node renews it (every few seconds): a node
# silent for longer is dead, and its cameras move. Failover takes this plus a scheduling
# round plus the camera's first keyframe (under 15 s).
LEASE = timedelta(seconds=8)


@dataclass(frozen=True, slots=True)
class NodeView:
    """A recorder node as placement sees it."""

    name: str
    capacity: int  # cameras it may record at most
    alive: bool = True
    draining: bool = False

    @property
    def accepts(self) -> bool:
        """Whether cameras may be placed here."""
        return self.alive and not self.draining and self.capacity > 0


@dataclass(frozen=True, slots=True)
class CameraView:
    """An enabled camera as placement sees it."""

    id: int
    owner: str | None = None  # the node holding its lease now, if any
    pinned: str | None = None  # the node an administrator chose for it


def place(cameras: Iterable[CameraView], nodes: Iterable[NodeView]) -> dict[int, str | None]:
    """The node each camera should be recorded on (None: no node has room).

    >>> nodes = [NodeView("a", 2), NodeView("b", 2)]
    >>> place([CameraView(1, owner="a"), CameraView(2), CameraView(3)], nodes)
    {1: 'a', 2: 'b', 3: 'a'}
    >>> place([CameraView(1, owner="a")], [NodeView("a", 2, alive=False), NodeView("b", 2)])
    {1: 'b'}
    """
    by_name = {n.name: n for n in nodes}
    load = dict.fromkeys(by_name, 0)
    result: dict[int, str | None] = {}
    homeless: list[CameraView] = []
    for camera in sorted(cameras, key=lambda c: c.id):
        pinned = by_name.get(camera.pinned) if camera.pinned else None
        owner = by_name.get(camera.owner) if camera.owner else None
        if pinned is not None and pinned.alive:
            target = pinned.name  # an administrator's choice beats capacity
        elif owner is not None and owner.accepts:
            target = owner.name
        else:
            homeless.append(camera)
            continue
        result[camera.id] = target
        load[target] += 1
    _fill(homeless, by_name, load, result)
    return result


def _fill(
    cameras: list[CameraView],
    nodes: Mapping[str, NodeView],
    load: dict[str, int],
    result: dict[int, str | None],
) -> None:
    """Give each camera the accepting node with the lowest load for its capacity."""
    heap = [(load[n.name] / n.capacity, n.name) for n in nodes.values() if n.accepts]
    heapq.heapify(heap)
    for camera in cameras:
        while heap and load[heap[0][1]] >= nodes[heap[0][1]].capacity:
            heapq.heappop(heap)  # full
        if not heap:
            result[camera.id] = None
            continue
        _, name = heapq.heappop(heap)
        result[camera.id] = name
        load[name] += 1
        heapq.heappush(heap, (load[name] / nodes[name].capacity, name))
