"""The alarm lifecycle: which moves are allowed and what an operator is told."""

from __future__ import annotations

import pytest

from vigil.domain.alarms import (
    OPEN_STATES,
    TRANSITIONS,
    AlarmState,
    InvalidTransition,
    check_transition,
    closes_when_cleared,
    conditions_ended_by,
)

S = AlarmState
# Sorted: the same order in every process (pytest-xdist workers compare their lists).
ALLOWED = [(a, b) for a in S for b in sorted(TRANSITIONS[a])]
REFUSED = [(a, b) for a in S for b in S if b not in TRANSITIONS[a]]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_moves(current: AlarmState, target: AlarmState) -> None:
    check_transition(current, target, closing_reason="done")


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_refused_moves_name_the_allowed_ones(current: AlarmState, target: AlarmState) -> None:
    with pytest.raises(InvalidTransition) as exc:
        check_transition(current, target, closing_reason="done")
    assert f"is {current.value}" in str(exc.value) and target.value in str(exc.value)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_closing_needs_a_reason(reason: str | None) -> None:
    with pytest.raises(InvalidTransition, match="closing reason"):
        check_transition(S.NEW, S.CLOSED, closing_reason=reason)


def test_every_open_state_can_close_and_closed_is_final() -> None:
    assert all(S.CLOSED in TRANSITIONS[s] for s in OPEN_STATES)
    assert TRANSITIONS[S.CLOSED] == frozenset()
    with pytest.raises(InvalidTransition, match="can move to nothing"):
        check_transition(S.CLOSED, S.NEW, closing_reason=None)


def test_a_camera_back_online_ends_offline_and_storage_full() -> None:
    assert conditions_ended_by("camera.online") == {"camera.offline", "camera.storage_full"}
    for other in ("camera.connecting", "camera.offline", "camera.tampering", "intrusion"):
        assert conditions_ended_by(other) == frozenset(), other


def test_only_an_untouched_alarm_is_closed_when_its_condition_ends() -> None:
    assert [s for s in OPEN_STATES if closes_when_cleared(s)] == [S.NEW]
