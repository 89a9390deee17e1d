"""Web Push subscriptions: the browsers (phones) that receive Vigil's notifications, each
belonging to the user who subscribed it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select

from vigil.domain.permissions import Permission, effective_permissions, permissions_anywhere
from vigil.store import groups as group_store
from vigil.store import registers as register_store
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.models import PushSubscription, User


def save_subscription(
    db: Database, *, user_id: int, endpoint: str, p256dh: str, auth: str, label: str | None
) -> PushSubscription:
    """Add a subscription, or renew the keys, label and owner of the one with this endpoint
    (a browser subscribing again gets the same endpoint; a shared phone is the last
    subscriber's)."""
    with db.session() as s:
        sub = s.scalars(
            select(PushSubscription).where(PushSubscription.endpoint == endpoint)
        ).first()
        if sub is None:
            sub = PushSubscription(endpoint=endpoint, p256dh=p256dh, auth=auth, label=label)
            s.add(sub)
        else:
            sub.p256dh, sub.auth, sub.label, sub.last_error = p256dh, auth, label, None
        sub.user_id = user_id
        s.flush()
        s.refresh(sub)
        return sub


def list_subscriptions(db: Database, user_id: int | None = None) -> Sequence[PushSubscription]:
    """The user's subscriptions (None: everyone's), oldest first."""
    query = select(PushSubscription).order_by(PushSubscription.id)
    if user_id is not None:
        query = query.where(PushSubscription.user_id == user_id)
    with db.session() as s:
        return s.scalars(query).all()


def recipients(
    db: Database, camera_id: int | None, register_id: int | None
) -> Sequence[PushSubscription]:
    """The subscriptions whose user may see an alarm of this camera (None: of none) raised
    by a hit on this register (None: not a hit): an enabled user holding the alarms
    permission on the camera, to whose roles the register's hits are shown."""
    with db.session() as s:
        rows = s.execute(
            select(PushSubscription, User.id)
            .join(User, User.id == PushSubscription.user_id)
            .where(User.disabled.is_(False))
            .order_by(PushSubscription.id)
        ).all()
    groups = group_store.groups_of_camera(db, camera_id) if camera_id is not None else None
    allowed: dict[int, bool] = {}
    hidden: dict[frozenset[str], frozenset[int]] = {}  # role names -> registers not alerted
    found = []
    for sub, user_id in rows:
        if user_id not in allowed:
            roles = user_store.assignments_of(db, user_id)
            held = (
                permissions_anywhere(roles)
                if groups is None or camera_id is None
                else effective_permissions(roles, camera_id, groups)
            )
            names = frozenset(assignment.role.name for assignment in roles)
            if register_id is not None and names not in hidden:  # read once per role set
                hidden[names] = register_store.hidden_registers(db, set(names))
            allowed[user_id] = Permission.ALARMS in held and (
                register_id is None or register_id not in hidden[names]
            )
        if allowed[user_id]:
            found.append(sub)
    return found


def delete_subscription(db: Database, *, endpoint: str, user_id: int) -> bool:
    """Remove the user's subscription with this endpoint; whether there was one."""
    with db.session() as s:
        result = s.execute(
            delete(PushSubscription).where(
                PushSubscription.endpoint == endpoint, PushSubscription.user_id == user_id
            )
        )
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
