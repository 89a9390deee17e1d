"""Liveness, recorder nodes and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vigil import __version__
from vigil.api.auth import ManageUser
from vigil.api.deps import ContextDep
from vigil.api.metrics import CameraHealthCollector
from vigil.api.schemas import NodePublic
from vigil.store import nodes
from vigil.store.types import utcnow

router = APIRouter(tags=["system"])


@router.get("/api/health")
def health() -> dict[str, str]:
    """The server answers."""
    return {"status": "ok", "version": __version__}


@router.get("/api/nodes", response_model=list[NodePublic])
def list_nodes(ctx: ContextDep, _: ManageUser) -> list[NodePublic]:
    """Recorder nodes and whether they are alive."""
    cutoff = utcnow() - nodes.NODE_TIMEOUT
    return [
        NodePublic.model_validate(n, from_attributes=True).model_copy(
            update={"alive": n.heartbeat_at >= cutoff}
        )
        for n in nodes.list_nodes(ctx.db)
    ]


@router.get("/metrics", include_in_schema=False)
def metrics(ctx: ContextDep, _: ManageUser) -> Response:
    """Prometheus exposition of camera health and storage."""
    registry = CollectorRegistry()
    registry.register(CameraHealthCollector(ctx.db))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
