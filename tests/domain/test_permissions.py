"""Permissions: built-in roles, custom grants on groups and cameras, narrowed assignments."""

from __future__ import annotations

import pytest

from vigil.domain.permissions import (
    BUILTIN_ROLES,
    Grant,
    InvalidGrant,
    Permission,
    Role,
    RoleAssignment,
    Scope,
    cameras_visible,
    effective_permissions,
    global_permissions,
    permissions_anywhere,
    validate_assignment_scope,
    validate_grant,
)

P = Permission
ALL = frozenset(Permission)
NORTH = 1  # camera group ids
SOUTH = 2


def builtin(name: str, scope: Scope | None = None) -> RoleAssignment:
    return RoleAssignment(BUILTIN_ROLES[name], scope)


@pytest.mark.parametrize(
    ("assignments", "camera", "groups", "expected"),
    [
        ([builtin("administrator")], 5, set(), ALL),
        (
            [builtin("operator", Scope.of(groups=[NORTH]))],
            5,
            {NORTH},
            {P.LIVE, P.PLAYBACK, P.ALARMS, P.PTZ, P.SEARCH},
        ),
        ([builtin("operator", Scope.of(groups=[NORTH]))], 6, {SOUTH}, set()),
        ([builtin("operator")], 5, {NORTH}, set()),  # no assigned cameras: none
        (
            [builtin("operator", Scope.everywhere())],
            9,
            set(),
            {P.LIVE, P.PLAYBACK, P.ALARMS, P.PTZ, P.SEARCH},
        ),
        ([builtin("investigator")], 5, set(), {P.PLAYBACK, P.EXPORT, P.SEARCH}),
        (
            [builtin("investigator", Scope.of(cameras=[5]))],
            6,
            set(),
            set(),
        ),
        ([builtin("field_officer", Scope.of(cameras=[5, 7]))], 7, set(), {P.LIVE, P.ALARMS}),
        ([builtin("field_officer", Scope.of(cameras=[5, 7]))], 8, {NORTH}, set()),
        ([builtin("auditor")], 5, set(), {P.AUDIT}),
        (
            [builtin("auditor"), builtin("field_officer", Scope.of(cameras=[5]))],
            5,
            set(),
            {P.AUDIT, P.LIVE, P.ALARMS},
        ),
        # A narrowed administrator keeps camera rights there but loses global ones.
        (
            [builtin("administrator", Scope.of(groups=[NORTH]))],
            5,
            {NORTH},
            ALL - {P.MANAGE, P.AUDIT, P.INPUTS},
        ),
        ([builtin("administrator", Scope.of(groups=[NORTH]))], 6, {SOUTH}, set()),
    ],
)
def test_builtin_roles(
    assignments: list[RoleAssignment], camera: int, groups: set[int], expected: set[Permission]
) -> None:
    assert effective_permissions(assignments, camera, groups) == frozenset(expected)


def test_no_video_for_the_auditor() -> None:
    video = {P.LIVE, P.PLAYBACK, P.EXPORT, P.UNMASK}
    assert not BUILTIN_ROLES["auditor"].grants[0].permissions & video


CUSTOM = Role(
    "north-supervisor",
    (
        Grant(frozenset({P.LIVE, P.UNMASK}), Scope.of(groups=[NORTH], cameras=[42])),
        Grant(frozenset({P.EXPORT}), Scope.of(cameras=[42])),
        Grant(frozenset({P.PLAYBACK}), Scope.assigned_cameras()),
    ),
)


@pytest.mark.parametrize(
    ("narrowing", "camera", "groups", "expected"),
    [
        (None, 10, {NORTH}, {P.LIVE, P.UNMASK}),
        (None, 42, set(), {P.LIVE, P.UNMASK, P.EXPORT}),
        (None, 11, {SOUTH}, set()),
        (Scope.of(cameras=[10]), 10, {NORTH}, {P.LIVE, P.UNMASK, P.PLAYBACK}),
        (Scope.of(cameras=[10]), 42, set(), set()),  # narrowing cuts the listed camera
        (Scope.everywhere(), 11, {SOUTH}, {P.PLAYBACK}),
    ],
)
def test_custom_role(
    narrowing: Scope | None, camera: int, groups: set[int], expected: set[Permission]
) -> None:
    assert effective_permissions([RoleAssignment(CUSTOM, narrowing)], camera, groups) == expected


def test_global_and_anywhere() -> None:
    admin, auditor = builtin("administrator"), builtin("auditor")
    assert global_permissions([admin]) == ALL
    assert global_permissions([auditor]) == {P.AUDIT}
    assert P.MANAGE not in global_permissions([builtin("administrator", Scope.of(cameras=[1]))])
    officer = builtin("field_officer", Scope.of(cameras=[3]))
    assert global_permissions([officer]) == frozenset()
    assert permissions_anywhere([officer]) == {P.LIVE, P.ALARMS}
    assert permissions_anywhere([builtin("field_officer")]) == frozenset()


def test_cameras_visible() -> None:
    cameras = {1: {NORTH}, 2: {SOUTH}, 3: set(), 4: {NORTH, SOUTH}}
    officer = builtin("field_officer", Scope.of(groups=[NORTH], cameras=[3]))
    visible = cameras_visible([officer], P.LIVE, cameras)
    assert not visible.all and visible.camera_ids == {1, 3, 4}
    assert 1 in visible and 2 not in visible
    assert cameras_visible([officer], P.PLAYBACK, cameras).camera_ids == frozenset()
    assert cameras_visible([builtin("investigator")], P.PLAYBACK, cameras).all
    assert cameras_visible([builtin("operator", Scope.everywhere())], P.LIVE, cameras).all
    assert not cameras_visible([builtin("auditor")], P.LIVE, cameras).camera_ids


@pytest.mark.parametrize(
    ("grant", "message"),
    [
        (Grant(frozenset(), Scope.everywhere()), "at least one permission"),
        (Grant(frozenset({P.LIVE}), Scope()), "exactly one"),
        (Grant(frozenset({P.LIVE}), Scope(all=True, cameras=frozenset({1}))), "exactly one"),
        (Grant(frozenset({P.MANAGE}), Scope.of(cameras=[1])), "manage cannot be limited"),
        (Grant(frozenset({P.AUDIT, P.LIVE}), Scope.assigned_cameras()), "audit cannot be"),
    ],
)
def test_invalid_grants(grant: Grant, message: str) -> None:
    with pytest.raises(InvalidGrant, match=message):
        validate_grant(grant)


def test_valid_grants_and_assignment_scopes() -> None:
    for role in BUILTIN_ROLES.values():
        for grant in role.grants:
            validate_grant(grant)
    validate_assignment_scope(None)
    validate_assignment_scope(Scope.of(groups=[1]))
    with pytest.raises(InvalidGrant):
        validate_assignment_scope(Scope.assigned_cameras())
    with pytest.raises(InvalidGrant):
        validate_assignment_scope(Scope())


@pytest.mark.parametrize(
    "scope",
    [Scope.everywhere(), Scope.assigned_cameras(), Scope.of(groups=[2, 1], cameras=[9])],
)
def test_json_round_trip(scope: Scope) -> None:
    grant = Grant(frozenset({P.LIVE, P.EXPORT}), scope)
    assert Grant.from_json(grant.to_json()) == grant
