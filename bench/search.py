"""Forensic search benchmark: millions of stored events and plate readings in PostgreSQL,
searched the way `/api/search` searches them.

Fills a fresh PostgreSQL database (migrated as Vigil migrates it) with ``--events`` events
(10 million by default) spread as a city's year looks: 400 cameras, each with its own mix
of busy and quiet hours (more by day than by night), event types in the proportions the
analytics give them (line crossings, intrusions, loitering, occupancy... and a third plate
readings on the traffic cameras, with rare register hits), object classes and colours by
type, and plates drawn from 300,000 vehicles of Bulgarian, German, Italian and French
formats with a few seen very often (commuters) and most seldom. Rows go in with COPY (the
indexes the migrations made are dropped first and built again after, as a bulk load is
done), then VACUUM ANALYZE (as autovacuum leaves a live table).

Then times `vigil.search.query.search` (the code behind `/api/search`: the page of 50
newest hits and the number of hits in all) for each kind of filter an investigator uses,
``--runs`` times each with other values drawn at random: a camera over a day, a camera
over a month, several cameras over a week, a class over a week, a class and colour over a
month, an event type over a day, a plate (and the readings one OCR confusion away), a
plate prefix (``CA12*``), a wildcard pattern (``C?12*AB``), a plate over all cameras and
the year. Prints p50/p95/max ms per filter against the bar (p95 < 50 ms each), the number
of hits, and the table and index sizes. It is a benchmark: the exit code is 0 whatever
the figures (1 only when it could not run).

    .venv/bin/python bench/search.py                      # 10 M events, 25 runs a filter
    .venv/bin/python bench/search.py --events 1000000     # a quicker look

Needs PostgreSQL (``--postgres``, default the local server with trust auth); the database
is dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from common import percentile, postgres_database
from rich.console import Console
from rich.progress import BarColumn, Progress, TimeRemainingColumn
from rich.table import Table

from vigil.domain.plates import normalise_plate
from vigil.search.query import SearchFilters, SearchKind, search
from vigil.store.db import Database, migrate
from vigil.store.models import Camera

console = Console()
BAR_P95_MS = 50.0
CAMERAS = 400
TRAFFIC_SHARE = 0.3  # of the cameras: plate readings come from these
VEHICLES = 300_000
BATCH = 100_000
PAGE = 50

# Event types and their share of the events a non-traffic camera sends.
SCENE_TYPES = {
    "line_crossing": 0.34,
    "intrusion": 0.22,
    "occupancy": 0.18,
    "loitering": 0.1,
    "crowding": 0.04,
    "running": 0.04,
    "parked_vehicle": 0.03,
    "left_object": 0.02,
    "camera.offline": 0.015,
    "camera.online": 0.015,
}
PEOPLE = ["person"] * 8 + ["bicycle"]
VEHICLE_CLASSES = ["car"] * 8 + ["truck", "bus", "motorcycle"]
COLOURS = ["black", "white", "grey", "red", "blue", "green", "yellow", "brown"]
ZONES = ["entrance", "platform", "car park", "gate", "crossing", "square", "lane 1", "lane 2"]


def _plates(rng: random.Random, n: int) -> list[str]:
    """Plates of four countries' formats, normalised as readings store them."""
    letters = "ABCEHKMOPTXY"
    up = string.ascii_uppercase

    def bg() -> str:
        region = rng.choice(["C", "CA", "CB", "PB", "B", "A", "E", "H", "K", "M", "P", "T", "X"])
        tail = rng.choice(letters) + rng.choice(letters)
        return f"{region}{rng.randint(1000, 9999)}{tail}"

    def de() -> str:
        city = rng.choice(["B", "M", "HH", "K", "F", "S", "DO", "KA"])
        mid = "".join(rng.choice(up) for _ in range(rng.randint(1, 2)))
        return f"{city}{mid}{rng.randint(1, 9999)}"

    def it() -> str:
        return (
            "".join(rng.choice(up) for _ in range(2))
            + f"{rng.randint(0, 999):03d}"
            + "".join(rng.choice(up) for _ in range(2))
        )

    def fr() -> str:
        pair = "".join(rng.choice(up) for _ in range(2))
        return pair + f"{rng.randint(0, 999):03d}" + "".join(rng.choice(up) for _ in range(2))

    makers = [bg] * 6 + [de, it, fr]
    return [normalise_plate(rng.choice(makers)()) for _ in range(n)]


@dataclass
class World:
    """What the generated events are drawn from, kept for drawing the queries."""

    start: datetime
    end: datetime
    traffic: list[int]
    scene: list[int]
    plates: list[str]


def _lines(world: World, n: int, seed: int) -> Iterator[str]:
    """``n`` event rows as COPY text, a batch at a time, in random order (random ids)."""
    rng = np.random.default_rng(seed)
    span_days = int((world.end - world.start).total_seconds() // 86400)
    types = np.array(list(SCENE_TYPES))
    weights = np.array(list(SCENE_TYPES.values()))
    weights /= weights.sum()
    # Busy cameras send many more events than quiet ones.
    camera_weight = rng.pareto(1.5, CAMERAS) + 0.2
    camera_weight /= camera_weight.sum()
    is_traffic = np.zeros(CAMERAS + 1, bool)
    is_traffic[world.traffic] = True
    # Commuters pass every day; most vehicles are seen once or twice a year.
    vehicle_weight = 1.0 / np.arange(1, len(world.plates) + 1) ** 0.8
    vehicle_weight /= vehicle_weight.sum()
    plates = np.array(world.plates)
    hour_weight = np.array([1, 0.6, 0.4, 0.3, 0.4, 0.8, 1.6, 2.6, 3, 2.6, 2.3, 2.3,
                            2.5, 2.4, 2.3, 2.5, 2.8, 3, 2.7, 2.2, 1.8, 1.5, 1.3, 1.1])  # fmt: skip
    hour_weight /= hour_weight.sum()
    start = np.datetime64(world.start.replace(tzinfo=None), "s")
    people, vehicles = np.array(PEOPLE), np.array(VEHICLE_CLASSES)
    done = 0
    while done < n:
        k = min(BATCH, n - done)
        secs = (rng.integers(0, span_days, k) * 86400 + rng.choice(24, k, p=hour_weight) * 3600
                + rng.integers(0, 3600, k))  # fmt: skip
        at = np.datetime_as_string(start + secs.astype("timedelta64[s]"), unit="s")
        cams = rng.choice(CAMERAS, k, p=camera_weight) + 1
        read = is_traffic[cams] & (rng.random(k) < 0.55)
        hit = read & (rng.random(k) < 0.002)
        kind = np.where(read, np.where(hit, "watchlist.hit", "plate.read"),
                        types[rng.choice(len(types), k, p=weights)])  # fmt: skip
        status = np.char.startswith(kind, "camera.")
        cls = np.where(is_traffic[cams], vehicles[rng.integers(0, len(vehicles), k)],
                       people[rng.integers(0, len(people), k)])  # fmt: skip
        cls = np.where(status, "", cls)
        colour = np.where(status, "", np.array(COLOURS)[rng.integers(0, len(COLOURS), k)])
        zone = np.where(read | status, "", np.array(ZONES)[rng.integers(0, len(ZONES), k)])
        plate = np.where(read, plates[rng.choice(len(plates), k, p=vehicle_weight)], "")
        ids = rng.bytes(16 * k).hex()
        for i in range(k):
            c, p = cls[i], plate[i]
            obj = f'{{"class_name": "{c}", "track_id": {i}}}' if c else "\\N"
            yield "\t".join((
                ids[32 * i : 32 * i + 32], kind[i], at[i] + "+00", str(cams[i]),
                zone[i] or "\\N", c or "\\N", str(i) if c else "\\N", colour[i] or "\\N",
                p or "\\N", "1" if hit[i] else "\\N", "\\N", obj,
                f'{{"plate": "{p}"}}' if p else "{}", "\\N", "[]", "local", "bench",
                at[i] + "+00",
            )) + "\n"  # fmt: skip
        done += k


COLUMNS = (
    "id, type, at, camera_id, zone, object_class, track_id, colour, plate, register_id, count,"
    " object, attributes, snapshot, track, site, source, stored_at"
)


def fill(db_url: str, world: World, n: int) -> float:
    """Insert the cameras and ``n`` events; returns the seconds it took."""
    import psycopg

    started = time.monotonic()
    db = Database(db_url)
    with db.session() as s:
        for c in range(1, CAMERAS + 1):
            url = f"rtsp://10.0.{c // 250}.{c % 250}/1"
            s.add(Camera(id=c, name=f"cam-{c:03d}", main_url=url, enabled=False))
    db.dispose()
    url = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        progress = Progress(
            "[progress.description]{task.description}", BarColumn(),
            "{task.completed:,}/{task.total:,}", TimeRemainingColumn(), console=console,
        )  # fmt: skip
        # As a bulk load is done: the indexes are built once the rows are in.
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events'"
            " AND indexname <> 'events_pkey'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        with progress, conn.cursor() as cur:
            task = progress.add_task("Events", total=n)
            with cur.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
                chunk: list[str] = []
                for i, line in enumerate(_lines(world, n, seed=7), start=1):
                    chunk.append(line)
                    if len(chunk) == 20_000:
                        copy.write("".join(chunk))
                        chunk.clear()
                        progress.update(task, completed=i)
                copy.write("".join(chunk))
            progress.update(task, completed=n)
            index_task = progress.add_task("Indexes", total=len(indexes))
            for _, definition in indexes:
                cur.execute(definition)
                progress.advance(index_task)
        conn.commit()
        # A live installation's table is vacuumed as it goes (autovacuum): its visibility
        # map lets counts come from the indexes alone.
        conn.autocommit = True
        with console.status("VACUUM ANALYZE"):
            conn.execute("VACUUM ANALYZE events")
    return time.monotonic() - started


@dataclass
class Query:
    name: str
    draw: Callable[[random.Random], SearchFilters]


def queries(world: World) -> list[Query]:
    def period(rng: random.Random, days: float) -> tuple[datetime, datetime]:
        span = (world.end - world.start).total_seconds() - days * 86400
        since = world.start + timedelta(seconds=rng.uniform(0, span))
        return since, since + timedelta(days=days)

    def camera(rng: random.Random) -> int:
        return rng.randint(1, CAMERAS)

    def often_seen(rng: random.Random) -> str:
        return world.plates[int(rng.paretovariate(1.2)) % 2000]

    def made(**kw: object) -> SearchFilters:
        return SearchFilters(kind=SearchKind.ALL, **kw)  # type: ignore[arg-type]

    return [
        Query("camera, 1 day", lambda r: made(camera_ids=[camera(r)], **_p(period(r, 1)))),
        Query("camera, 30 days", lambda r: made(camera_ids=[camera(r)], **_p(period(r, 30)))),
        Query(
            "5 cameras, 7 days",
            lambda r: made(camera_ids=r.sample(range(1, CAMERAS + 1), 5), **_p(period(r, 7))),
        ),
        Query("class person, 7 days", lambda r: made(class_names=["person"], **_p(period(r, 7)))),
        Query(
            "class car + colour red, 30 days",
            lambda r: made(class_names=["car"], colours=["red"], **_p(period(r, 30))),
        ),
        Query("type loitering, 1 day", lambda r: made(type="loitering", **_p(period(r, 1)))),
        Query("plate (and near), year", lambda r: made(plate=often_seen(r))),
        Query("plate prefix CA12*, year", lambda r: made(plate=f"CA{r.randint(10, 99)}*")),
        Query(
            "wildcard C?12*AB, year",
            lambda r: made(plate=f"C?{r.randint(10, 99)}*{r.choice('ABCEHKMOPTXY')}"),
        ),
        Query(
            "plate, camera, 30 days",
            lambda r: made(
                plate=often_seen(r), camera_ids=[r.choice(world.traffic)], **_p(period(r, 30))
            ),
        ),
    ]


def _p(span: tuple[datetime, datetime]) -> dict[str, datetime]:
    return {"since": span[0], "until": span[1]}


def explain(db: Database, filters: SearchFilters) -> list[str]:
    """The plans PostgreSQL ran for one search (EXPLAIN ANALYZE of each statement it sent)."""
    from sqlalchemy import event

    sent: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        sent.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        search(db, filters, limit=PAGE)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    plans = []
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for statement, params in sent:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            with raw.cursor() as cur:
                cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params)
                plans.append("\n".join(row[0] for row in cur.fetchall()))
    return plans


def sizes(db_url: str) -> list[tuple[str, int]]:
    import psycopg

    url = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c"
            " JOIN pg_index i ON i.indexrelid = c.oid WHERE i.indrelid = 'events'::regclass"
            " ORDER BY 2 DESC"
        ).fetchall()
        table = conn.execute("SELECT pg_table_size('events')").fetchone()
    return [("events (table)", int(table[0]) if table else 0), *((n, int(s)) for n, s in rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=25, help="queries of each kind")
    parser.add_argument(
        "--explain", action="store_true", help="print the plans of one search of each filter"
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a database URL that may create databases",
    )
    opts = parser.parse_args(argv)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    rng = random.Random(11)
    plates = _plates(rng, VEHICLES)
    cameras = list(range(1, CAMERAS + 1))
    rng.shuffle(cameras)
    cut = int(CAMERAS * TRAFFIC_SHARE)
    world = World(end - timedelta(days=365), end, sorted(cameras[:cut]), cameras[cut:], plates)
    try:
        with postgres_database(opts.postgres, "vigil_bench_search") as url:
            db_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
            migrate(db_url)
            seconds = fill(db_url, world, opts.events)
            console.print(
                f"{opts.events:,} events in {seconds:.0f} s ({opts.events / seconds:,.0f}/s)"
            )
            db = Database(db_url)
            title = f"Search over {opts.events:,} events ({opts.runs} runs each)"
            table = Table(title=f"{title}; bar p95 < {BAR_P95_MS:.0f} ms")
            for col in ("filter", "p50 ms", "p95 ms", "max ms", "hits (median)", "verdict"):
                table.add_column(col, justify="left" if col == "filter" else "right")
            failed = 0
            draw = random.Random(5)
            for q in queries(world):
                search(db, q.draw(draw), limit=PAGE)  # warm the plan cache and pages
                times, totals = [], []
                for _ in range(opts.runs):
                    filters = q.draw(draw)
                    t0 = time.perf_counter()
                    result = search(db, filters, limit=PAGE)
                    times.append((time.perf_counter() - t0) * 1000)
                    totals.append(result.total)
                if opts.explain:
                    console.rule(q.name)
                    for plan in explain(db, q.draw(draw)):
                        console.print(plan, markup=False, highlight=False)
                p95 = percentile(times, 95)
                ok = p95 < BAR_P95_MS
                failed += not ok
                table.add_row(
                    q.name, f"{percentile(times, 50):.1f}", f"{p95:.1f}", f"{max(times):.1f}",
                    f"{int(np.median(totals)):,}", "[green]PASS[/]" if ok else "[red]FAIL[/]",
                )  # fmt: skip
            console.print(table)
            sizes_table = Table(title="Sizes")
            sizes_table.add_column("relation")
            sizes_table.add_column("MB", justify="right")
            for name, size in sizes(db_url):
                sizes_table.add_row(name, f"{size / 2**20:,.0f}")
            console.print(sizes_table)
            verdict = "[green]PASS[/]" if not failed else f"[red]FAIL[/] ({failed} filters over)"
            console.print(f"p95 < {BAR_P95_MS:.0f} ms on every filter: {verdict}")
            db.dispose()
    except Exception as exc:  # psycopg/SQLAlchemy errors: say which and stop
        console.print(f"[red]could not run: {type(exc).__name__}: {exc}[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
