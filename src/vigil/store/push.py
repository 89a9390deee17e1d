"""Web Push subscriptions: the browsers (phones) that receive Vigil's notifications."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select

from vigil.store.db import Database
from vigil.store.models import PushSubscription


def save_subscription(
    db: Database, *, endpoint: str, p256dh: str, auth: str, label: str | None
) -> PushSubscription:
    """Add a subscription, or renew the keys and label of the one with this endpoint (a
    browser subscribing again gets the same endpoint)."""
    with db.session() as s:
        sub = s.scalars(
            select(PushSubscription).where(PushSubscription.endpoint == endpoint)
        ).first()
        if sub is None:
            sub = PushSubscription(endpoint=endpoint, p256dh=p256dh, auth=auth, label=label)
            s.add(sub)
        else:
            sub.p256dh, sub.auth, sub.label, sub.last_error = p256dh, auth, label, None
        s.flush()
        s.refresh(sub)
        return sub


def list_subscriptions(db: Database) -> Sequence[PushSubscription]:
    """All subscriptions, oldest first."""
    with db.session() as s:
        return s.scalars(select(PushSubscription).order_by(PushSubscription.id)).all()


def delete_subscription(db: Database, *, endpoint: str) -> bool:
    """Remove the subscription with this endpoint; whether there was one."""
    with db.session() as s:
        result = s.execute(delete(PushSubscription).where(PushSubscription.endpoint == endpoint))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def remove_subscriptions(db: Database, ids: Sequence[int]) -> None:
    """Remove subscriptions the push service said are gone."""
    if ids:
        with db.session() as s:
            s.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))


def record_results(db: Database, errors: dict[int, str | None]) -> None:
    """Keep each subscription's last delivery error (None: the last delivery worked)."""
    if not errors:
        return
    with db.session() as s:
        for sub in s.scalars(select(PushSubscription).where(PushSubscription.id.in_(errors))):
            sub.last_error = errors[sub.id]
