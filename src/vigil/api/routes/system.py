"""Liveness, recorder nodes and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vigil import __version__
from vigil.api.auth import ManageUser, audit_action
from vigil.api.deps import ContextDep, ServerContext
from vigil.api.metrics import CameraHealthCollector
from vigil.api.schemas import NodePublic, NodeUpdate
from vigil.domain.errors import NotFound
from vigil.store import leases, nodes
from vigil.store.models import Node
from vigil.store.types import utcnow

router = APIRouter(tags=["system"])


@router.get("/api/health")
def health() -> dict[str, str]:
    """The server answers."""
    return {"status": "ok", "version": __version__}


def _node_public(node: Node, cameras: list[int]) -> NodePublic:
    return NodePublic(
        name=node.name,
        media_url=node.media_url,
        started_at=node.started_at,
        heartbeat_at=node.heartbeat_at,
        alive=node.heartbeat_at >= utcnow() - nodes.NODE_TIMEOUT,
        capacity=node.capacity,
        cpu_count=node.cpu_count,
        free_disk_bytes=node.free_disk_bytes,
        draining=node.draining,
        cameras=cameras,
    )


def _cameras_by_node(ctx: ServerContext) -> dict[str, list[int]]:
    by_node: dict[str, list[int]] = {}
    for camera_id, node in sorted(leases.owners(ctx.db).items()):
        by_node.setdefault(node, []).append(camera_id)
    return by_node


@router.get("/api/nodes", response_model=list[NodePublic])
def list_nodes(ctx: ContextDep, _: ManageUser) -> list[NodePublic]:
    """Recorder nodes: alive or not, what they can take, the cameras they record."""
    by_node = _cameras_by_node(ctx)
    return [_node_public(n, by_node.get(n.name, [])) for n in nodes.list_nodes(ctx.db)]


@router.patch("/api/nodes/{name}", response_model=NodePublic)
def update_node(
    name: str, body: NodeUpdate, ctx: ContextDep, request: Request, user: ManageUser
) -> NodePublic:
    """Drain a node (its cameras move to the others, it gets no new ones) or end that."""
    node = nodes.set_draining(ctx.db, name, body.draining)
    if node is None:
        raise NotFound(f"recorder node {name!r} not found")
    audit_action(request, user, "node.drain" if body.draining else "node.undrain", target=name)
    return _node_public(node, _cameras_by_node(ctx).get(name, []))


@router.get("/metrics", include_in_schema=False)
def metrics(ctx: ContextDep, _: ManageUser) -> Response:
    """Prometheus exposition of camera health and storage."""
    registry = CollectorRegistry()
    registry.register(CameraHealthCollector(ctx.db))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
