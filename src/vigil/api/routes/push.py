"""Web Push: the server's VAPID key and the browsers subscribed to notifications."""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vigil.api.auth import CurrentUser, require
from vigil.api.deps import ContextDep
from vigil.domain.permissions import Permission
from vigil.integrations.webpush import VapidKey, b64url_decode
from vigil.store import push as push_store
from vigil.store.models import PushSubscription

# Push alerts are for those who work alarms (field officers on their phones).
router = APIRouter(
    prefix="/api/push", tags=["push"], dependencies=[Depends(require(Permission.ALARMS))]
)

AUTH_SECRET_BYTES = 16


class PushKeyPublic(BaseModel):
    """The application server key to subscribe with (``applicationServerKey``)."""

    public_key: str = Field(description="uncompressed P-256 point, URL-safe base64, no padding")


class PushKeys(BaseModel):
    """The browser's keys for encrypting messages to it."""

    model_config = ConfigDict(extra="forbid")

    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)

    @field_validator("p256dh")
    @classmethod
    def _p256dh(cls, value: str) -> str:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(value))
        except ValueError:
            raise ValueError(
                "not a P-256 public key (65 bytes, URL-safe base64): pass the subscription's "
                "keys.p256dh as the browser gives it"
            ) from None
        return value

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        try:
            secret = b64url_decode(value)
        except ValueError:
            secret = b""
        if len(secret) != AUTH_SECRET_BYTES:
            raise ValueError("not a 16-byte auth secret in URL-safe base64")
        return value


class PushSubscriptionCreate(BaseModel):
    """A browser's ``PushSubscription.toJSON()`` and a label for it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    endpoint: str = Field(max_length=2000, pattern=r"^https?://[^\s/]+", description="push URL")
    keys: PushKeys
    label: str | None = Field(None, max_length=200, description="whose device this is")
    expiration_time: float | None = Field(
        None, alias="expirationTime", description="given by browsers; not used"
    )


class PushSubscriptionPublic(BaseModel):
    """A subscription as the API shows it (without its keys)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint: str
    label: str | None
    created_at: datetime
    last_error: str | None


@router.get("/key", response_model=PushKeyPublic)
def public_key(ctx: ContextDep) -> PushKeyPublic:
    """The server's VAPID public key."""
    return PushKeyPublic(public_key=VapidKey.for_data_dir(ctx.settings.data_dir).public_key)


@router.get("/subscriptions", response_model=list[PushSubscriptionPublic])
def list_subscriptions(ctx: ContextDep, user: CurrentUser) -> list[PushSubscription]:
    """The caller's subscribed browsers."""
    return list(push_store.list_subscriptions(ctx.db, user.user_id))


@router.post(
    "/subscriptions", status_code=status.HTTP_201_CREATED, response_model=PushSubscriptionPublic
)
def subscribe(body: PushSubscriptionCreate, ctx: ContextDep, user: CurrentUser) -> PushSubscription:
    """Subscribe a browser for the caller: it is notified of the alarms the caller may see
    (again: the same endpoint renews its keys and label, and becomes the caller's)."""
    return push_store.save_subscription(
        ctx.db,
        user_id=user.user_id,
        endpoint=body.endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        label=body.label,
    )


@router.delete("/subscriptions", status_code=status.HTTP_204_NO_CONTENT)
def unsubscribe(
    ctx: ContextDep,
    user: CurrentUser,
    endpoint: str = Query(max_length=2000, description="the push URL"),
) -> Response:
    """Forget one of the caller's browsers (nothing to do when it is already gone)."""
    push_store.delete_subscription(ctx.db, endpoint=endpoint, user_id=user.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
