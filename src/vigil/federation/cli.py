"""``vigil sites``: the sites this centre links to, through its server's API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Federated sites: link this centre to other sites' servers.")
console = Console(emoji=False)  # ":AB:" in a fingerprint is no emoji

ServerOpt = Annotated[str | None, typer.Option(help="server URL (default from settings)")]


def _request(server_url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    from vigil.cli import _request as request  # the command's client (token, TLS, errors)

    return request(server_url, method, path, **kwargs)


@app.command("add")
def sites_add(
    name: Annotated[str, typer.Argument(help="how this centre marks the site's items")],
    url: Annotated[str, typer.Argument(help="https://host:port of the site's server")],
    token_file: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="file holding a token the site issued"),
    ],
    fingerprint: Annotated[
        str | None,
        typer.Option(help="SHA-256 of the site's certificate; left out: shown, to confirm"),
    ] = None,
    server_url: ServerOpt = None,
) -> None:
    """Link to a site. Without --fingerprint the site's certificate is shown and nothing
    is stored: confirm it with the site's administrator, then run again with it."""
    token = token_file.read_text().strip()
    if not token:
        console.print(f"[red]{token_file} is empty[/red]: put the site's token in it")
        raise typer.Exit(2)
    body = {"name": name, "url": url, "token": token, "fingerprint": fingerprint}
    if fingerprint is None:
        from vigil.cli import _check, _client

        with _client(server_url) as client:
            response = client.post("/api/sites", json=body)
        detail = response.json().get("detail") if response.status_code == 409 else None
        if isinstance(detail, dict) and "fingerprint" in detail:
            console.print(f"site {url} presents the certificate with SHA-256 fingerprint")
            console.print(f"  {detail['fingerprint']}")
            console.print("confirm it with the site's administrator, then run again with")
            console.print(f"  --fingerprint {detail['fingerprint']}")
            raise typer.Exit(3)
        _check(response)
    site = _request(server_url, "POST", "/api/sites", json=body)
    console.print(f"linked site {site['name']} at {site['url']} ({site['fingerprint']})")


@app.command("list")
def sites_list(server_url: ServerOpt = None) -> None:
    """The linked sites and how each link is."""
    table = Table("name", "url", "state", "last seen", "last error")
    for site in _request(server_url, "GET", "/api/sites"):
        table.add_row(
            site["name"],
            site["url"],
            site["state"],
            site["last_seen_at"] or "-",
            site["last_error"] or "",
        )
    console.print(table)


@app.command("remove")
def sites_remove(name: str, server_url: ServerOpt = None) -> None:
    """Unlink a site and forget what was mirrored from it."""
    _request(server_url, "DELETE", f"/api/sites/{name}")
    console.print(f"removed site {name}")
