"""Who may do what on which camera: permissions, roles, grants and their evaluation (pure).

A **role** is a list of **grants**; a grant gives some permissions on a **scope** of cameras:
all cameras, listed camera groups and cameras, or "the cameras of the assignment". A user
holds roles through **assignments**; an assignment may narrow its role to a scope (an
operator of the north district). Permissions that are not about one camera (``manage``,
``audit``) are global: granted only on all cameras, and only through an assignment that is
not narrowed.

Example:
    >>> op = RoleAssignment(BUILTIN_ROLES["operator"], Scope.of(groups=[1]))
    >>> sorted(map(str, effective_permissions([op], 7, groups_of_camera={1})))
    ['alarms', 'live', 'playback', 'ptz', 'search']
    >>> effective_permissions([op], 8, groups_of_camera={2})
    frozenset()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Permission(StrEnum):
    """One kind of action. Each exists because some role must have it without the others."""

    LIVE = "live"  # watch live video: operators and field officers
    PLAYBACK = "playback"  # watch recordings: investigators work with the past, not the present
    EXPORT = "export"  # take video out of the system: evidence leaves, so it is apart from viewing
    PTZ = "ptz"  # move a camera: it changes what everybody else sees and records
    SEARCH = "search"  # forensic search over what analytics saw (events, tracks, plates)
    MANAGE = "manage"  # configure cameras, rules, users, roles, tokens (global)
    UNMASK = "unmask"  # see video without its privacy masks: few people, for a reason
    AUDIT = "audit"  # read and export the audit trail, without any video (global)
    ALARMS = "alarms"  # work the alarm queue: acknowledge, comment, close
    INPUTS = "inputs"  # send sensor and access-control events in: an integration's token (global)


# Not about one camera: granted only on all cameras (see :func:`validate_grant`).
GLOBAL_PERMISSIONS = frozenset({Permission.MANAGE, Permission.AUDIT, Permission.INPUTS})


class InvalidGrant(ValueError):
    """A role's grant that cannot be honoured as written."""


@dataclass(frozen=True, slots=True)
class Scope:
    """A set of cameras: all of them, the assignment's, or listed groups and cameras."""

    all: bool = False
    assigned: bool = False
    groups: frozenset[int] = frozenset()
    cameras: frozenset[int] = frozenset()

    @classmethod
    def everywhere(cls) -> Scope:
        """All cameras, present and future."""
        return cls(all=True)

    @classmethod
    def assigned_cameras(cls) -> Scope:
        """The cameras the role's assignment names (a role grant only)."""
        return cls(assigned=True)

    @classmethod
    def of(cls, *, groups: Iterable[int] = (), cameras: Iterable[int] = ()) -> Scope:
        """These camera groups and these cameras."""
        return cls(groups=frozenset(groups), cameras=frozenset(cameras))

    def covers(self, camera_id: int, groups_of_camera: Iterable[int]) -> bool:
        """Whether the camera is in this scope (``assigned`` alone covers nothing)."""
        if self.all:
            return True
        return camera_id in self.cameras or not self.groups.isdisjoint(groups_of_camera)

    def to_json(self) -> dict[str, Any]:
        """The stored form: ``{"all": true}``, ``{"assigned": true}`` or groups and cameras."""
        if self.all:
            return {"all": True}
        if self.assigned:
            return {"assigned": True}
        return {"groups": sorted(self.groups), "cameras": sorted(self.cameras)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scope:
        """Read the stored form back."""
        return cls(
            all=bool(data.get("all", False)),
            assigned=bool(data.get("assigned", False)),
            groups=frozenset(int(g) for g in data.get("groups", ())),
            cameras=frozenset(int(c) for c in data.get("cameras", ())),
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """Permissions on a scope of cameras."""

    permissions: frozenset[Permission]
    scope: Scope

    def to_json(self) -> dict[str, Any]:
        """Stored form: ``{"permissions": [...], "scope": {...}}``."""
        return {"permissions": sorted(self.permissions), "scope": self.scope.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grant:
        """Read a stored grant (unknown permission names raise ``ValueError``)."""
        return cls(
            frozenset(Permission(p) for p in data.get("permissions", ())),
            Scope.from_json(data.get("scope", {})),
        )


@dataclass(frozen=True, slots=True)
class Role:
    """A named list of grants; built-in roles cannot be changed or removed."""

    name: str
    grants: tuple[Grant, ...]
    builtin: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """A role held by a user, optionally narrowed to a scope (never ``assigned``)."""

    role: Role
    scope: Scope | None = None

    @property
    def narrowed(self) -> bool:
        """Whether the assignment limits the role to fewer than all cameras."""
        return self.scope is not None and not self.scope.all


def validate_grant(grant: Grant) -> None:
    """Refuse what cannot be honoured: no permissions, an empty scope, a global permission
    on fewer than all cameras.

    Raises:
        InvalidGrant: with what is wrong and what to do.
    """
    if not grant.permissions:
        raise InvalidGrant("a grant needs at least one permission")
    scope = grant.scope
    kinds = int(scope.all) + int(scope.assigned) + int(bool(scope.groups or scope.cameras))
    if kinds != 1:
        raise InvalidGrant(
            "a grant's scope is exactly one of: all cameras, the assigned cameras, "
            "or listed camera groups and cameras"
        )
    partial = grant.permissions & GLOBAL_PERMISSIONS
    if partial and not scope.all:
        names = ", ".join(sorted(partial))
        raise InvalidGrant(f"{names} cannot be limited to some cameras: grant it on all cameras")


def validate_assignment_scope(scope: Scope | None) -> None:
    """An assignment narrows to all cameras or to listed groups and cameras.

    Raises:
        InvalidGrant: for an ``assigned`` or empty scope.
    """
    if scope is None or scope.all:
        return
    if scope.assigned or not (scope.groups or scope.cameras):
        raise InvalidGrant("an assignment's scope lists camera groups or cameras (or is all)")


BUILTIN_ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role(
            "administrator",
            (Grant(frozenset(Permission), Scope.everywhere()),),
            builtin=True,
            description="everything, on all cameras",
        ),
        Role(
            "operator",
            (
                Grant(
                    frozenset(
                        {
                            Permission.LIVE,
                            Permission.PLAYBACK,
                            Permission.ALARMS,
                            Permission.PTZ,
                            Permission.SEARCH,
                        }
                    ),
                    Scope.assigned_cameras(),
                ),
            ),
            builtin=True,
            description="control room: live, playback, alarms, PTZ and search on its cameras",
        ),
        Role(
            "investigator",
            (
                Grant(
                    frozenset({Permission.PLAYBACK, Permission.EXPORT, Permission.SEARCH}),
                    Scope.everywhere(),
                ),
            ),
            builtin=True,
            description="recordings, forensic search and evidence export",
        ),
        Role(
            "field_officer",
            (Grant(frozenset({Permission.LIVE, Permission.ALARMS}), Scope.assigned_cameras()),),
            builtin=True,
            description="phone: live view and alarms on the assigned cameras",
        ),
        Role(
            "auditor",
            (Grant(frozenset({Permission.AUDIT}), Scope.everywhere()),),
            builtin=True,
            description="the audit trail only, no video",
        ),
    )
}


def _grant_covers(
    grant: Grant, assignment: RoleAssignment, camera_id: int, groups: frozenset[int]
) -> bool:
    narrowing = assignment.scope
    if grant.scope.assigned:
        # The assignment names the cameras; without one the grant covers none.
        return narrowing is not None and narrowing.covers(camera_id, groups)
    if not grant.scope.covers(camera_id, groups):
        return False
    return narrowing is None or narrowing.covers(camera_id, groups)


def effective_permissions(
    roles: Iterable[RoleAssignment], camera_id: int, groups_of_camera: Iterable[int]
) -> frozenset[Permission]:
    """What the holder of these role assignments may do on one camera.

    Global permissions count when held (see :func:`global_permissions`), since they reach
    every camera.

    Args:
        roles: the user's role assignments.
        camera_id: the camera.
        groups_of_camera: ids of the camera groups the camera belongs to.
    """
    roles = tuple(roles)
    groups = frozenset(groups_of_camera)
    found: set[Permission] = set(global_permissions(roles))
    for assignment in roles:
        for grant in assignment.role.grants:
            if grant.permissions - GLOBAL_PERMISSIONS and _grant_covers(
                grant, assignment, camera_id, groups
            ):
                found |= grant.permissions - GLOBAL_PERMISSIONS
    return frozenset(found)


def global_permissions(roles: Iterable[RoleAssignment]) -> frozenset[Permission]:
    """Permissions held on all cameras through an assignment that is not narrowed: what a
    route that is about no camera in particular (users, the audit trail) checks."""
    found: set[Permission] = set()
    for assignment in roles:
        if assignment.narrowed:
            continue
        for grant in assignment.role.grants:
            if grant.scope.all:
                found |= grant.permissions
    return frozenset(found)


def permissions_anywhere(roles: Iterable[RoleAssignment]) -> frozenset[Permission]:
    """Permissions held on at least one camera (or globally): whether a route that lists
    things of many cameras (search, alarms) may answer at all, before filtering."""
    roles = tuple(roles)
    found: set[Permission] = set(global_permissions(roles))
    for assignment in roles:
        for grant in assignment.role.grants:
            scope = grant.scope
            if scope.assigned:
                narrowing = assignment.scope
                reaches = narrowing is not None and (
                    narrowing.all or bool(narrowing.groups or narrowing.cameras)
                )
            else:
                reaches = scope.all or bool(scope.groups or scope.cameras)
            if reaches:
                found |= grant.permissions - GLOBAL_PERMISSIONS
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Visible:
    """The cameras a user may see for one permission: ``all`` or the listed ids; and the
    registers whose hits are not the user's (their access alerts other roles)."""

    all: bool = False
    camera_ids: frozenset[int] = field(default_factory=frozenset)
    hidden_registers: frozenset[int] = field(default_factory=frozenset)

    def __contains__(self, camera_id: object) -> bool:
        return self.all or camera_id in self.camera_ids

    def shows(self, camera_id: int | None, register_id: int | None) -> bool:
        """Whether an event or alarm of this camera (None: of none), found on this register
        (None: not a hit), is the user's to see."""
        return (camera_id is None or camera_id in self) and (
            register_id is None or register_id not in self.hidden_registers
        )


def cameras_visible(
    roles: Iterable[RoleAssignment],
    permission: Permission,
    camera_groups: Mapping[int, Iterable[int]],
) -> Visible:
    """Which cameras a list may show for a permission.

    Args:
        roles: the user's role assignments.
        permission: what the list is for (live for the grid, search for search results...).
        camera_groups: every camera id, with the ids of its groups.

    Returns:
        ``Visible(all=True)`` when the permission holds everywhere (present and future
        cameras, so a list need not be filtered), else the camera ids it holds on.
    """
    roles = tuple(roles)
    if permission in global_permissions(roles) or _everywhere(roles, permission):
        return Visible(all=True)
    return Visible(
        camera_ids=frozenset(
            camera_id
            for camera_id, groups in camera_groups.items()
            if permission in effective_permissions(roles, camera_id, groups)
        )
    )


def _everywhere(roles: tuple[RoleAssignment, ...], permission: Permission) -> bool:
    for assignment in roles:
        scope = assignment.scope
        for grant in assignment.role.grants:
            if permission not in grant.permissions:
                continue
            if grant.scope.assigned and scope is not None and scope.all:
                return True
            if grant.scope.all and (scope is None or scope.all):
                return True
    return False
