"""``vigil analyze FILE``: the live pipeline's events on a file, without a server; the same
file gives the same events every time; a file that is no video, a configuration that is no
configuration and a missing model each say so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.analytics.clips import BOX_SPEED_PX_S, BOX_START_X, BOX_W, scene_clip
from vigil.cli import app

runner = CliRunner()
# The generated clip's white box crosses a 640 px wide scene; the zone is its right half.
CONFIG: dict[str, Any] = {
    "detector": {"type": "motion"},
    "zones": [{"name": "right", "points": [[0.5, 0.3], [1, 0.3], [1, 1], [0.5, 1]]}],
    "lines": [{"name": "middle", "start": [0.45, 1], "end": [0.45, 0]}],
    "behaviours": [
        {"type": "intrusion", "zone": "right", "classes": ["object"]},
        {"type": "line_crossing", "line": "middle", "classes": ["object"]},
    ],
}


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scene_clip(tmp_path_factory.mktemp("clips") / "moving.mp4")


def analyze(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["analyze", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_file_s_events_as_json_lines_the_same_on_every_run(
    moving_clip: Path, tmp_path: Path
) -> None:
    code, out, err = analyze(str(moving_clip), "--config", json.dumps(CONFIG), "--json")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in events] == ["line_crossing", "intrusion"], events
    crossing, intrusion = events
    # The box's bottom centre passes x = 0.45 and 0.5 of the width at these times (the
    # motion blob trails the box a little: a frame's worth early is as good).
    centre_at = lambda x: (x * 640 - BOX_W / 2 - BOX_START_X) / BOX_SPEED_PX_S  # noqa: E731
    assert centre_at(0.45) - 0.2 <= crossing["t"] <= centre_at(0.45) + 1.0, crossing
    assert centre_at(0.5) - 0.2 <= intrusion["t"] <= centre_at(0.5) + 1.0, intrusion
    assert intrusion["zone"] == "right" and intrusion["class"] == "object"
    assert intrusion["track_id"] == crossing["track_id"] is not None
    x1, y1, x2, y2 = intrusion["box"]
    assert 0.3 < y1 < y2 <= 0.8 and (x1 + x2) / 2 >= 0.45
    assert crossing["attributes"]["direction"] == "in"

    # A configuration in a file, and the same events again.
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    code, again, _ = analyze(str(moving_clip), "--config", f"@{tmp_path / 'config.json'}", "--json")
    assert code == 0 and again == out
    # For people: a table.
    code, table, _ = analyze(str(moving_clip), "--config", json.dumps(CONFIG))
    assert code == 0 and "intrusion" in table and "2 event(s)" in table


def test_what_cannot_be_analysed_says_why(moving_clip: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.mp4").write_text("not a video")
    code, _, err = analyze(str(tmp_path / "notes.mp4"))
    assert code == 1 and "notes.mp4: cannot be read as video" in err
    code, _, err = analyze(str(moving_clip), "--config", '{"fps": 500}')
    assert code == 2 and "fps" in err
    code, _, err = analyze(str(moving_clip), "--config", "{not json")
    assert code == 2 and "neither JSON nor a JSON file" in err
    code, _, err = analyze(str(moving_clip), "--models-dir", str(tmp_path))
    assert code == 1 and "nanodet" in err and "vigil models install" in err
    assert "no behaviours in the configuration" in err
