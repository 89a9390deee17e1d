"""``vigil plates`` and ``vigil faces``: the plate reader and the face matcher on image files,
offline, for investigators and for testing them on any images.

    vigil plates read IMAGE... [--json]     the plates found: text, confidence, box
    vigil faces find IMAGE... [--json]      the faces found: box
    vigil faces compare A B [--json]        the distance of the best face of each, and
                                            whether the shipped threshold calls them one person

``--json`` prints one JSON document on stdout (for scripts); without it, tables. An image
that cannot be read is reported by name, the others are still done, and the exit code is 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import cv2
import numpy as np
import numpy.typing as npt
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Column, Table

from vigil.analytics.boxes import Box

plates_app = typer.Typer(help="Licence plates in image files: find and read them, offline.")
faces_app = typer.Typer(help="Faces in image files: find them, compare two people, offline.")
console = Console(emoji=False)  # ":AB:" in a fingerprint is no emoji
errors = Console(stderr=True, emoji=False)

Images = Annotated[list[Path], typer.Argument(help="image files (JPEG, PNG...)")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON on stdout (for scripts)")]
T = TypeVar("T")


class ImageError(ValueError):
    """An image file that cannot be used (the message names it and says why)."""


def load_image(path: Path) -> npt.NDArray[np.uint8]:
    """An image file as a BGR array; :class:`ImageError` naming the file otherwise."""
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{path}: not an image OpenCV can read (JPEG, PNG, BMP, TIFF, WebP)")
    return np.asarray(image, dtype=np.uint8)


def _box(box: Box) -> list[int]:
    return [int(v) for v in box]


def _each(
    paths: list[Path], what: str, work: Callable[[Path], T]
) -> Iterator[tuple[Path, T | str]]:
    """``work`` on each image, with progress on stderr when there are several; an image's
    error in place of its result."""
    with Progress(console=errors, transient=True, disable=len(paths) < 2) as progress:
        task = progress.add_task(what, total=len(paths))
        for path in paths:
            try:
                yield path, work(path)
            except ImageError as exc:
                yield path, str(exc)
            progress.advance(task)


def _unavailable(exc: Exception) -> typer.Exit:
    errors.print(f"[red]{exc}[/red]", soft_wrap=True)
    return typer.Exit(2)


# ----- plates -------------------------------------------------------------------------------


@plates_app.command("read")
def plates_read(images: Images, as_json: AsJson = False) -> None:
    """Find and read the licence plates in each image (the whole image is searched)."""
    from vigil.analytics.plates import PlatesUnavailable, find_and_read_plates

    def read(path: Path) -> list[dict[str, Any]]:
        found = find_and_read_plates(load_image(path))
        return [
            {"text": p.text, "confidence": round(p.score, 3), "box": _box(p.box)} for p in found
        ]

    try:
        results = list(_each(images, "reading plates", read))
    except PlatesUnavailable as exc:
        raise _unavailable(exc) from None
    _report(results, "plates", as_json, ("text", "confidence", "box"))


# ----- faces --------------------------------------------------------------------------------


@faces_app.command("find")
def faces_find(images: Images, as_json: AsJson = False) -> None:
    """Find the faces in each image (frontal and slightly turned, about 40 px and larger)."""
    from vigil.analytics.faces import FacesUnavailable, find_faces

    def find(path: Path) -> list[dict[str, Any]]:
        return [{"box": _box(b)} for b in find_faces(load_image(path))]

    try:
        results = list(_each(images, "finding faces", find))
    except FacesUnavailable as exc:
        raise _unavailable(exc) from None
    _report(results, "faces", as_json, ("box",))


@faces_app.command("compare")
def faces_compare(
    a: Annotated[Path, typer.Argument(help="an image of one person")],
    b: Annotated[Path, typer.Argument(help="an image of the same person, or not")],
    as_json: AsJson = False,
) -> None:
    """Whether two images show the same person: the distance of their faces' descriptors
    against Vigil's shipped threshold (the best face of each image; exit 1 if one has none)."""
    from vigil.analytics.faces import (
        SAME_PERSON_DISTANCE,
        FacesUnavailable,
        describe_face,
        face_distance,
        find_faces,
    )

    sides = []
    try:
        for path in (a, b):
            image = load_image(path)
            boxes = find_faces(image)
            if not boxes:
                raise ImageError(f"{path}: no face found (frontal, about 40 px or larger)")
            sides.append((path, len(boxes), boxes[0], describe_face(image, boxes[0])))
    except ImageError as exc:
        errors.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    except FacesUnavailable as exc:
        raise _unavailable(exc) from None
    distance = face_distance(sides[0][3], sides[1][3])
    same = distance < SAME_PERSON_DISTANCE
    if as_json:
        images = [{"image": str(p), "faces": n, "box": _box(box)} for p, n, box, _ in sides]
        print(json.dumps({"images": images, "distance": round(distance, 4),
                          "threshold": SAME_PERSON_DISTANCE, "same_person": same}))  # fmt: skip
        return
    for path, count, box, _ in sides:
        more = f" ({count} faces: the best is compared)" if count > 1 else ""
        console.print(f"{path}: face at {_box(box)}{more}", soft_wrap=True)
    verdict = "the same person" if same else "not the same person"
    console.print(f"distance {distance:.3f} (threshold {SAME_PERSON_DISTANCE}): {verdict}")


# ----- output -------------------------------------------------------------------------------


def _report(
    results: list[tuple[Path, list[dict[str, Any]] | str]],
    key: str,
    as_json: bool,
    columns: tuple[str, ...],
) -> None:
    """Print each image's findings (JSON or a table); exit 1 when an image failed."""
    failed = [(p, r) for p, r in results if isinstance(r, str)]
    if as_json:
        out = [
            {"image": str(p), key: [], "error": r}
            if isinstance(r, str)
            else {"image": str(p), key: r, "error": None}
            for p, r in results
        ]
        print(json.dumps(out))
    else:
        table = Table(*columns)
        table.columns.insert(0, Column("image", overflow="fold"))
        for path, found in results:
            if isinstance(found, str):
                continue
            for row in found or [{}]:
                cells = [str(row.get(c, "")) if row else "-" for c in columns]
                table.add_row(str(path), *cells)
        console.print(table)
        for _, error in failed:
            errors.print(f"[red]{error}[/red]", soft_wrap=True)
    if failed:
        raise typer.Exit(1)
