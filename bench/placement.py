"""Placement of thousands of cameras on recorder nodes, simulated: no processes.

``--cameras`` (5,000) cameras on ``--nodes`` (50) nodes of mixed capacity through the pure
`vigil.domain.placement.place`, then ``--steps`` steps in which a node dies or joins (a new
one, or a dead one returning). Prints the time to place all cameras, per step its time, the
cameras that moved (only the dead node's may) and the load spread (cameras per node relative
to its capacity). The same steps go through `vigil.store.leases.schedule` on a SQLite database
too (``--db none`` skips it), on a simulated clock in rounds of the recorders' health
interval: live nodes heartbeat and renew (one statement for all of them), the pass runs, and
its placement is compared with the pure one.

    .venv/bin/python bench/placement.py
    .venv/bin/python bench/placement.py --cameras 500 --nodes 10 --steps 5 --db none

(Formerly ``bench/cluster.py --placement``, which still runs it with the same figures.) It is
a benchmark: the exit code is 0 whatever the figures (1 only when it could not run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import percentile
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from vigil.config import RecorderSettings
from vigil.domain.placement import LEASE, CameraView, NodeView, place
from vigil.store import leases
from vigil.store.db import Database, migrate
from vigil.store.models import Camera, CameraLease, Node

NODE_CAPACITIES = (100, 150, 200)  # nodes take these in turn
# A node renews its leases a moment after its heartbeat (simulated clock).
RENEW_AFTER = timedelta(milliseconds=5)
MEDIA_URL = "http://192.0.2.1:8081"  # the simulated nodes' (nothing calls it)
REPO = Path(__file__).resolve().parent.parent
NAN = float("nan")

console = Console(width=max(shutil.get_terminal_size((120, 24)).columns, 120))


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def busy_note(loads: list[float]) -> str | None:
    """A warning when the machine had more runnable work than cores during the runs."""
    cores = os.cpu_count() or 1
    if not loads or max(loads) <= cores:
        return None
    return (
        f"  warning: the 1-minute load average reached {max(loads):.1f} on {cores} cores "
        "during the runs: other work took CPU from Vigil's processes, so these figures say as "
        "much about that work as about Vigil; rerun on a quiet machine to compare"
    )


@dataclass
class PlacementOptions:
    placement_cameras: int
    placement_nodes: int
    steps: int
    placement_db: str  # "sqlite" | "none"
    seed: int


@dataclass
class Step:
    kind: str  # "dies" | "joins" | "returns"
    node: str
    capacity: int
    pure_ms: float
    moved: int
    expected: int  # the dead node's cameras
    unexpected: int  # moved though their node lives
    unplaced: int
    receivers: int  # nodes that took the moved cameras
    max_received: int
    util_max: float
    util_min: float
    db_ms: float | None = None  # the pass that moved them (or the one after a join)
    db_passes: int = 0
    db_moved: int | None = None
    db_same: bool | None = None  # the database placed every camera where place() did


def utilisation(owner: dict[int, str | None], nodes: dict[str, NodeView]) -> tuple[float, float]:
    load = Counter(owner.values())
    live = [n for n in nodes.values() if n.accepts]
    utils = [load[n.name] / n.capacity for n in live]
    return max(utils), min(utils)


def simulate_placement(
    opts: PlacementOptions,
) -> tuple[float, tuple[float, float], list[Step], list[dict[int, str | None]]]:
    """The pure simulation; also returns where each camera is after each step."""
    rng = random.Random(opts.seed)
    caps = itertools.cycle(NODE_CAPACITIES)
    names = [f"node-{i:03d}" for i in range(1, opts.placement_nodes + 1)]
    nodes = {name: NodeView(name, next(caps)) for name in names}
    cameras = range(1, opts.placement_cameras + 1)
    t0 = time.perf_counter()
    owner = place([CameraView(c) for c in cameras], nodes.values())
    initial_ms = (time.perf_counter() - t0) * 1000
    spread0 = utilisation(owner, nodes)
    steps: list[Step] = []
    after: list[dict[int, str | None]] = []
    next_name = opts.placement_nodes + 1
    for _ in range(opts.steps):
        live = [n for n in nodes.values() if n.alive]
        dead = [n for n in nodes.values() if not n.alive]
        room = sum(n.capacity for n in live)
        expected: set[int] = set()
        victim = rng.choice(live)
        if rng.random() < 0.5 and room - victim.capacity >= opts.placement_cameras:
            kind, node = "dies", replace(victim, alive=False)
            expected = {c for c, o in owner.items() if o == victim.name}
        elif dead and rng.random() < 0.5:
            kind, node = "returns", replace(rng.choice(dead), alive=True)
        else:
            kind, node = "joins", NodeView(f"node-{next_name:03d}", next(caps))
            next_name += 1
        nodes[node.name] = node
        views = [CameraView(c, owner=owner[c]) for c in cameras]
        t0 = time.perf_counter()
        new = place(views, nodes.values())
        pure_ms = (time.perf_counter() - t0) * 1000
        moved = {c for c in cameras if new[c] != owner[c]}
        taken = Counter(new[c] for c in moved)
        owner = new
        util_max, util_min = utilisation(owner, nodes)
        unplaced = sum(1 for v in new.values() if v is None)
        steps.append(Step(kind, node.name, node.capacity, pure_ms, len(moved), len(expected),
                          len(moved - expected), unplaced, len(taken),
                          max(taken.values(), default=0), util_max, util_min))  # fmt: skip
        after.append(owner)
    return initial_ms, spread0, steps, after


def replay_in_database(
    opts: PlacementOptions, run_dir: Path, steps: list[Step], after: list[dict[int, str | None]]
) -> dict[str, float]:
    """The same steps through ``leases.schedule`` on SQLite, on a simulated clock in rounds
    of the health interval; fills the steps' ``db_*`` fields."""
    url = f"sqlite:///{run_dir / 'placement.db'}"
    with console.status("SQLite: migrating, adding cameras and nodes..."):
        migrate(url)
        db = Database(url)
        now = datetime.now(UTC)
        caps = itertools.cycle(NODE_CAPACITIES)
        with db.session() as s:
            nodes = [{"name": f"node-{i:03d}", "capacity": next(caps)}
                     for i in range(1, opts.placement_nodes + 1)]  # fmt: skip
            s.execute(insert(Node).values(media_url=MEDIA_URL, started_at=now, heartbeat_at=now),
                      nodes)  # fmt: skip
            cameras = [{"name": f"cam-{i:05d}"} for i in range(1, opts.placement_cameras + 1)]
            s.execute(insert(Camera).values(main_url="rtsp://192.0.2.1/bench", enabled=True,
                                            recording_mode="continuous", privacy_masks=[]),
                      cameras)  # fmt: skip
            live = set(s.scalars(select(Node.name)).all())
            # Ids as the database gave them, in the order place() saw them.
            ids = dict(enumerate(s.scalars(select(Camera.id).order_by(Camera.id)).all(), 1))
    tick = timedelta(seconds=RecorderSettings().health_interval_s)

    def one_round() -> tuple[float, int]:
        """Live nodes heartbeat, the leader's pass runs, live nodes renew (one statement for
        all, as each node's ``leases.renew`` would; a moment after the heartbeat, as on a
        node): the pass's time and its grants."""
        with db.session() as s:
            s.execute(update(Node).where(Node.name.in_(live)).values(heartbeat_at=now))
        t0 = time.perf_counter()
        grants = leases.schedule(db, now=now, lease=LEASE, alive_within=LEASE)
        ms = (time.perf_counter() - t0) * 1000
        renewed = now + RENEW_AFTER
        with db.session() as s:
            s.execute(
                update(CameraLease)
                .where(
                    CameraLease.node.in_(live),
                    CameraLease.expires_at > renewed,
                    CameraLease.revoked.is_(False),
                )
                .values(expires_at=renewed + LEASE)
            )
        return ms, len(grants)

    try:
        initial_ms, placed = one_round()
        quiet: list[float] = []
        with progress() as bar:
            task = bar.add_task("Replaying the steps through leases.schedule", total=len(steps))
            for step, wanted in zip(steps, after, strict=True):
                if step.kind == "dies":
                    live.discard(step.node)
                else:
                    live.add(step.node)
                    with db.session() as s:
                        if s.get(Node, step.node) is None:
                            s.add(Node(name=step.node, media_url=MEDIA_URL, capacity=step.capacity,
                                       started_at=now, heartbeat_at=now))  # fmt: skip
                # A dead node's leases run out LEASE after its last renewal: rounds until then
                # and one more; a join needs one round (which must move nothing).
                rounds = int(LEASE / tick) + 1 if step.kind == "dies" else 1
                step.db_moved = 0
                for _ in range(rounds):
                    now += tick
                    ms, granted = one_round()
                    step.db_passes += 1
                    if granted and step.db_ms is None:
                        step.db_ms = ms
                    elif not granted:
                        quiet.append(ms)
                    step.db_moved += granted
                if step.db_ms is None:
                    step.db_ms = ms
                owners = leases.owners(db)
                step.db_same = all(owners.get(ids[c]) == node for c, node in wanted.items())
                bar.advance(task)
    finally:
        db.dispose()
    return {"initial_ms": initial_ms, "placed": placed, "quiet_pass_ms": percentile(quiet, 50)}


def run_placement(opts: PlacementOptions, run_dir: Path) -> dict[str, Any]:
    console.rule(
        f"Placement: {opts.placement_cameras} cameras on {opts.placement_nodes} nodes, "
        f"{opts.steps} steps"
    )
    initial_ms, (u_max, u_min), steps, after = simulate_placement(opts)
    db: dict[str, float] | None = None
    if opts.placement_db == "sqlite":
        run_dir.mkdir(parents=True, exist_ok=True)
        db = replay_in_database(opts, run_dir, steps, after)
    title = "Nodes dying and joining: place()" + (" and leases.schedule on SQLite" if db else "")
    table = Table(title=title)
    for col in ("#", "step", "node", "cap", "ms", "moved", "its", "other", "to", "most", "util %",
                "db ms", "db moved", "same"):  # fmt: skip
        table.add_column(col, justify="right", no_wrap=True)
    for i, s in enumerate(steps, 1):
        table.add_row(
            str(i), s.kind, s.node, str(s.capacity), f"{s.pure_ms:.1f}", str(s.moved),
            str(s.expected), str(s.unexpected), str(s.receivers), str(s.max_received),
            f"{s.util_max * 100:.0f}/{s.util_min * 100:.0f}",
            "-" if s.db_ms is None else f"{s.db_ms:.0f}",
            "-" if s.db_moved is None else str(s.db_moved),
            "-" if s.db_same is None else ("yes" if s.db_same else "[red]no[/]"),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"[dim]cap: the node's capacity; ms: place() for the step; moved: cameras on another "
        f"node after the step; its: the dead node's cameras; other: moved though their node "
        f"lives; to: nodes that took the moved cameras; most: the most one took; util %: "
        f"cameras / capacity, highest/lowest over live nodes; db ms: the leases.schedule pass "
        f"that moved them (after a join: the next "
        f"pass); db moved: grants over the step's passes; db same: the "
        f"database placed every camera where place() did. Capacities {NODE_CAPACITIES} in "
        f"turn; seed {opts.seed}.[/]"
    )
    deaths = [s for s in steps if s.kind == "dies"]
    arrivals = [s for s in steps if s.kind != "dies"]
    unexpected = sum(s.unexpected for s in steps) + sum(s.moved for s in arrivals)
    only_dead = unexpected == 0 and all(s.moved == s.expected for s in deaths)
    step_ms = [s.pure_ms for s in steps]
    last = steps[-1] if steps else None
    print(
        f"cluster placement cameras={opts.placement_cameras} nodes={opts.placement_nodes} "
        f"steps={len(steps)} deaths={len(deaths)} joins_or_returns={len(arrivals)}"
    )
    print(
        f"  place(): all cameras in {initial_ms:.1f} ms; a step in {percentile(step_ms, 50):.1f} "
        f"ms (p50), {max(step_ms, default=NAN):.1f} ms (max)"
    )
    moved_per_death = [s.moved for s in deaths]
    print(
        f"  moved per death: mean {sum(moved_per_death) / max(1, len(deaths)):.0f} "
        f"(the dead node's own: {sum(s.expected for s in deaths) / max(1, len(deaths)):.0f}); "
        f"per join: {sum(s.moved for s in arrivals)}; moved though their node lives: "
        f"{unexpected} -> only the dead node's cameras move: {'PASS' if only_dead else 'FAIL'}"
    )
    ratio = f"{u_max / u_min:.2f}" if u_min else "inf"
    print(
        f"  load spread (cameras / capacity): at the start max {u_max:.0%} min {u_min:.0%} "
        f"(max/min {ratio})",
        end="",
    )
    if last is not None:
        ratio = f"{last.util_max / last.util_min:.2f}" if last.util_min else "inf"
        print(
            f"; after the steps max {last.util_max:.0%} min {last.util_min:.0%} (max/min "
            f"{ratio}: a node that joins fills only from new or moved cameras, as placement "
            "never moves a camera for balance)"
        )
    else:
        print()
    if db is not None:
        moving = [s.db_ms for s in deaths if s.db_ms is not None]
        same = all(s.db_same for s in steps)
        print(
            f"  leases.schedule on SQLite: all cameras granted in {db['initial_ms']:.0f} ms "
            f"({db['placed']:.0f} grants); the pass after a death {percentile(moving, 50):.0f} "
            f"ms (p50), {max(moving, default=NAN):.0f} ms (max); a pass with nothing "
            f"to grant {db['quiet_pass_ms']:.0f} ms (p50); same placement as place() after "
            f"every step: {'yes' if same else 'NO'}"
        )
    if note := busy_note([os.getloadavg()[0]]):
        print(note)
    return {
        "initial_ms": initial_ms,
        "steps": [asdict(s) for s in steps],
        "only_dead_nodes_cameras_move": only_dead,
        "database": db,
    }


def parse_args(argv: list[str] | None = None) -> tuple[PlacementOptions, Path, bool]:
    p = argparse.ArgumentParser(description="Placement of cameras on recorder nodes, simulated.")
    p.add_argument("--cameras", type=int, default=5000, help="cameras (5000)")
    p.add_argument("--nodes", type=int, default=50, help="nodes at the start (50)")
    p.add_argument("--steps", type=int, default=20, help="nodes dying or joining (20)")
    p.add_argument("--db", choices=("sqlite", "none"), default="sqlite",
                   help="also through leases.schedule on SQLite (sqlite)")  # fmt: skip
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=REPO / ".bench" / "placement",
                   help="results and the SQLite file (.bench/placement)")  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the SQLite file")
    o = p.parse_args(argv)
    if min(o.cameras, o.nodes) < 1 or o.steps < 0:
        p.error("--cameras and --nodes must be >= 1, --steps >= 0")
    opts = PlacementOptions(o.cameras, o.nodes, o.steps, o.db, o.seed)
    return opts, o.workdir.resolve(), o.keep


def main(argv: list[str] | None = None) -> int:
    opts, workdir, keep = parse_args(argv)
    run_dir = workdir / datetime.now(UTC).strftime("run-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    try:
        results = run_placement(opts, run_dir)
    except (RuntimeError, OSError, SQLAlchemyError) as exc:
        console.print(f"[red]placement could not run: {exc}[/] (in {run_dir})")
        return 1
    if not keep:
        (run_dir / "placement.db").unlink(missing_ok=True)
    out = run_dir / "results.json"
    out.write_text(json.dumps({"options": asdict(opts), "placement": results}, indent=2))
    print(f"  results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
