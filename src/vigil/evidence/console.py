"""Rich reports of evidence checks, for the ``vigil verify`` and ``vigil recordings verify``
commands."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from vigil.evidence.chain import ChainReport
from vigil.evidence.verify import PackageVerdict


def print_verdict(console: Console, verdict: PackageVerdict) -> None:
    """The files, the signature and the verdict of a package check."""
    table = Table(title=f"evidence package {verdict.path.name}")
    table.add_column("file")
    table.add_column("check")
    for name, state in sorted(verdict.files.items()):
        table.add_row(name, "[green]ok[/green]" if state == "ok" else f"[red]{state}[/red]")
    if verdict.files:
        console.print(table)
    meta = verdict.metadata
    if meta:
        camera = meta.get("camera", {})
        actual = meta.get("actual", {})
        console.print(
            f"camera {camera.get('id')} [bold]{camera.get('name')}[/bold]"
            f" ({camera.get('location') or 'no location'}), "
            f"{actual.get('first_frame')} .. {actual.get('last_frame_end')}; "
            f"requested by {meta.get('requested_by')}: {meta.get('reason')}"
        )
        chain = meta.get("chain_verification", {})
        if chain and not chain.get("ok", False):
            console.print("[yellow]the recording chain had problems when exported[/yellow]")
    if verdict.included_fingerprint:
        console.print(f"signed by key [bold]{verdict.included_fingerprint}[/bold]")
    if verdict.signed_by_trusted_key is None and verdict.included_fingerprint:
        console.print(
            "[yellow]integrity checked against the key inside the package only: anyone can "
            "re-sign a package with their own key. Compare this fingerprint with the "
            "installation's, or pass --public-key.[/yellow]"
        )
    elif verdict.signed_by_trusted_key:
        console.print(f"[green]signed by the given key {verdict.trusted_fingerprint}[/green]")
    for problem in verdict.problems:
        console.print(f"[red]- {problem}[/red]")
    if verdict.ok:
        console.print("[bold green]VALID[/bold green]: the package is intact")
    else:
        console.print("[bold red]NOT VALID[/bold red]")


def print_chain_report(console: Console, report: ChainReport) -> None:
    """A camera's chain verification."""
    console.print(
        f"camera {report.camera_id}, {report.start.isoformat()} .. {report.end.isoformat()}: "
        f"{report.segments} segments, {report.verified} verified, {report.unhashed} recorded "
        f"before hashing, {report.open} still open, {report.deleted_by_policy} deleted by "
        "policy in between"
    )
    if report.problems:
        table = Table(title="problems")
        for column in ("segment", "start", "kind", "detail"):
            table.add_column(column)
        for p in report.problems:
            table.add_row(str(p.segment_id), p.start.isoformat(), p.kind, p.detail)
        console.print(table)
    if report.ok:
        console.print("[bold green]INTACT[/bold green]")
    else:
        console.print(f"[bold red]{len(report.problems)} PROBLEM(S)[/bold red]")
