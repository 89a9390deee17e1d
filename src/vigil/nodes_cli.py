"""``vigil nodes``: list the recorder nodes, drain one (its cameras move to the others) or
end that, through the server's API (``GET /api/nodes``, ``PATCH /api/nodes/NAME``) like
``vigil cameras``: ``--server-url`` and an administrator's token in ``VIGIL_TOKEN``.

Beside ``cli.py`` rather than in ``cluster/``: it talks to the API, which the cluster's
layer must not reach (pyproject.toml's import contracts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.filesize import decimal
from rich.table import Column, Table

nodes_app = typer.Typer(help="Recorder nodes: where cameras are recorded; drain a node.")
console = Console(emoji=False)  # ":AB:" in a fingerprint is no emoji

ServerOpt = Annotated[str | None, typer.Option(help="server URL (default from settings)")]


def _api(server_url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    # Imported here: vigil.cli registers these commands, so it imports this module first.
    from vigil.cli import _request

    return _request(server_url, method, path, **kwargs)


def require_node(server_url: str | None, name: str) -> dict[str, Any]:
    """The node called ``name`` as the API shows it; exits 1 naming the known nodes if
    there is none."""
    listed: list[dict[str, Any]] = _api(server_url, "GET", "/api/nodes")
    node = next((n for n in listed if n["name"] == name), None)
    if node is None:
        known = ", ".join(n["name"] for n in listed) or "none has registered yet"
        console.print(
            f"[red]no recorder node {name!r}[/red] (known: {known}); "
            "`vigil nodes list` shows them, `vigil recorder --node NAME` starts one",
            soft_wrap=True,  # the terminal wraps it: commands stay whole for copying
        )
        raise typer.Exit(1)
    return node


def _ago(moment: str) -> str:
    seconds = max(0, int((datetime.now(UTC) - datetime.fromisoformat(moment)).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


@nodes_app.command("list")
def nodes_list(server_url: ServerOpt = None) -> None:
    """List the recorder nodes: alive or not, the cameras they record, what they can take."""
    nodes: list[dict[str, Any]] = _api(server_url, "GET", "/api/nodes")
    table = Table(
        # Names whole in any terminal (they are what the other commands take); the rest wraps.
        Column("name", no_wrap=True, min_width=max([4, *(len(n["name"]) for n in nodes)])),
        "media URL",
        "heartbeat",
        "cameras",
        "capacity",
        "CPUs",
        "free disk",
        "draining",
    )
    for node in nodes:
        state = "[green]alive[/green]" if node["alive"] else "[red]down[/red]"
        cameras = node["cameras"]
        table.add_row(
            node["name"],
            node["media_url"],
            f"{state}, {_ago(node['heartbeat_at'])}",
            f"{len(cameras)}" + (f" ({', '.join(map(str, cameras))})" if cameras else ""),
            str(node["capacity"]),
            str(node["cpu_count"]),
            decimal(node["free_disk_bytes"]),
            "[yellow]yes[/yellow]" if node["draining"] else "no",
        )
    console.print(table)


def _set_draining(server_url: str | None, name: str, draining: bool) -> dict[str, Any]:
    require_node(server_url, name)
    node: dict[str, Any] = _api(
        server_url, "PATCH", f"/api/nodes/{name}", json={"draining": draining}
    )
    return node


@nodes_app.command("drain")
def nodes_drain(name: str, server_url: ServerOpt = None) -> None:
    """Move a node's cameras to the other nodes and give it no new ones.

    Before taking it down for maintenance, say. Cameras pinned to it stay while it is
    alive: an administrator's choice beats draining (`vigil cameras unpin` frees them).
    """
    node = _set_draining(server_url, name, True)
    count = len(node["cameras"])
    console.print(
        f"node {name} draining: its {count} camera{'s' if count != 1 else ''} move to the "
        "other nodes within seconds (`vigil nodes list` shows where they are)"
    )


@nodes_app.command("undrain")
def nodes_undrain(name: str, server_url: ServerOpt = None) -> None:
    """Let a drained node take cameras again."""
    _set_draining(server_url, name, False)
    console.print(f"node {name} takes cameras again")
