"""Placement: every camera on exactly one node, by capacity, kept where it is."""

from __future__ import annotations

from collections import Counter

from vigil.domain.placement import CameraView, NodeView, place


def test_new_cameras_spread_by_capacity() -> None:
    nodes = [NodeView("a", 10), NodeView("b", 30)]
    placed = place([CameraView(i) for i in range(20)], nodes)
    assert Counter(placed.values()) == {"a": 5, "b": 15}


def test_cameras_stay_where_they_are_when_a_node_joins() -> None:
    cameras = [CameraView(i, owner="a") for i in range(6)]
    placed = place(cameras, [NodeView("a", 10), NodeView("b", 10)])
    assert set(placed.values()) == {"a"}, "no move for balance alone"


def test_a_dead_or_draining_nodes_cameras_go_to_the_others() -> None:
    cameras = [CameraView(1, owner="a"), CameraView(2, owner="b"), CameraView(3, owner="c")]
    nodes = [
        NodeView("a", 10, alive=False),
        NodeView("b", 10, draining=True),
        NodeView("c", 10),
        NodeView("d", 10),
    ]
    placed = place(cameras, nodes)
    assert placed[3] == "c"
    assert {placed[1], placed[2]} <= {"c", "d"}
    assert Counter(placed.values()) == {"c": 2, "d": 1} or Counter(placed.values()) == {
        "c": 1,
        "d": 2,
    }


def test_a_pinned_camera_goes_to_its_node_while_it_lives() -> None:
    nodes = [NodeView("a", 10), NodeView("b", 10)]
    assert place([CameraView(1, owner="a", pinned="b")], nodes) == {1: "b"}
    nodes = [NodeView("a", 10), NodeView("b", 10, alive=False)]
    assert place([CameraView(1, owner="b", pinned="b")], nodes) == {1: "a"}, "never unrecorded"


def test_no_room_leaves_a_camera_unplaced() -> None:
    placed = place([CameraView(i) for i in range(3)], [NodeView("a", 2)])
    assert list(placed.values()).count(None) == 1
    assert place([CameraView(1)], []) == {1: None}
