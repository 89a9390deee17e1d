"""``vigil analyze FILE``: Vigil's live analytics on a video file, without a server, one line
per event. How a user tries a zone or a behaviour on a recorded clip before switching it on
live, and how a script gets a clip's events (``--json``: one JSON object a line, with
``type``, ``t`` in seconds into the file, ``track_id``, ``class``, ``box`` as fractions of
the image, ``zone``, ``count`` and ``attributes``)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn
from rich.table import Table

console = Console(emoji=False)  # ":AB:" in a fingerprint is no emoji
errors = Console(stderr=True, emoji=False)


def _config(text: str | None) -> Any:
    """The analytics configuration: JSON text, or ``@FILE`` / a path to a JSON file."""
    from vigil.analytics.config import CameraAnalyticsConfig

    raw: Any = {}
    if text:
        try:
            inline = text.lstrip().startswith("{")
            body = text if inline else Path(text.removeprefix("@")).read_text()
            raw = json.loads(body)
        except (OSError, json.JSONDecodeError) as exc:
            errors.print(f"[red]--config is neither JSON nor a JSON file: {exc}[/red]")
            raise typer.Exit(2) from None
    try:
        return CameraAnalyticsConfig.model_validate({**raw, "enabled": True})
    except ValidationError as exc:
        errors.print(f"[red]--config is not an analytics configuration:[/red]\n{exc}")
        raise typer.Exit(2) from None


def event_row(event: Any, seconds: float) -> dict[str, Any]:
    """An event as ``vigil analyze --json`` prints it."""
    obj = event.object
    return {
        "type": event.type,
        "t": round(seconds, 2),
        "track_id": obj.track_id if obj else None,
        "class": obj.class_name if obj else None,
        "box": list(obj.box) if obj and obj.box else None,
        "zone": event.zone,
        "count": event.count,
        "attributes": event.attributes,
    }


def _blank(value: Any) -> str:
    return "" if value is None else str(value)


def analyze(
    file: Annotated[Path, typer.Argument(help="a video file (MP4, MKV, MOV...)")],
    config: Annotated[
        str | None,
        typer.Option(
            help="analytics configuration as a camera has it (JSON, or @FILE): detector, "
            "zones, lines, behaviours; default: the default detector and no behaviours"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
    models_dir: Annotated[
        Path | None, typer.Option(help="detector models (default: the settings' models dir)")
    ] = None,
) -> None:
    """Run Vigil's analytics on a video file, as on a live camera, and print its events."""
    from vigil.analytics.offline import EPOCH, AnalysisError, play_file
    from vigil.config import Settings
    from vigil.domain.events import Event

    chosen = _config(config)
    if not chosen.behaviours:
        errors.print(
            "no behaviours in the configuration: nothing can raise an event "
            '(e.g. --config \'{"zones": [...], "behaviours": [{"type": "intrusion", ...}]}\')'
        )
    found: list[dict[str, Any]] = []
    lock = threading.Lock()

    def publish(_subject: str, message: Any) -> None:
        if isinstance(message, Event):
            row = event_row(message, (message.at - EPOCH).total_seconds())
            with lock:
                found.append(row)

    columns = ("{task.description}", BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=errors, transient=True) as bar:
            task = bar.add_task(f"analysing {file.name}", total=1.0)
            play_file(
                file,
                chosen,
                models_dir or Settings().models_dir,
                publish,
                progress=lambda done: bar.update(task, completed=done),
            )
    except AnalysisError as exc:
        errors.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    found.sort(key=lambda r: r["t"])
    if as_json:
        for row in found:
            print(json.dumps(row))
        return
    table = Table("t (s)", "type", "class", "track", "zone", "count", "attributes")
    for r in found:
        attributes = json.dumps(r["attributes"]) if r["attributes"] else ""
        table.add_row(f"{r['t']:.2f}", r["type"], _blank(r["class"]), _blank(r["track_id"]),
                      _blank(r["zone"]), _blank(r["count"]), attributes)  # fmt: skip
    console.print(table)
    console.print(f"{len(found)} event(s) in {file}")
