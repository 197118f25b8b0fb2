"""Contact sheet of the synthetic degradations: one photo, every type mild and strong, three mixtures.

Usage::

    python -m restore.evaluation.contact_sheet                       # -> assets/contact_sheet.jpg
    python -m restore.evaluation.contact_sheet --image my.png --out sheet.jpg --size 192 --seed 3
    python -m restore.evaluation.contact_sheet --families            # -> assets/contact_sheet_families.jpg

The sheet is a grid of labelled cells. Rows 1-3 hold two types each as (mild, strong) pairs,
the last row the clean crop and the mixtures. Every cell names its parameters explicitly, so
the sheet documents what the sliders and the training sampler mean. With ``--families`` the
sheet has one row per type and one cell per generator of its family
(:mod:`restore.synthesis.families`), each at the parameters of
:func:`restore.synthesis.families.example`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from restore.images import to_tensor, to_uint8
from restore.resources import examples_dir
from restore.synthesis import families
from restore.synthesis.registry import degrade

DEFAULT_IMAGE = examples_dir() / "mountains.jpg"
DEFAULT_OUT = Path("assets") / "contact_sheet.jpg"  # relative to the working directory: run from the clone
FAMILIES_OUT = Path("assets") / "contact_sheet_families.jpg"

Spec = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class Cell:
    """One cell of the sheet: a title and the degradation spec (empty = the clean photo)."""

    title: str
    spec: Spec


CELLS: tuple[Cell, ...] = (
    Cell("noise, mild", {"noise": {"sigma": 15}}),
    Cell("noise, strong", {"noise": {"sigma": 50}}),
    Cell("rain, mild", {"rain": {"density": 0.3, "length": 14, "angle": 8, "width": 0.8, "brightness": 0.6}}),
    Cell("rain, strong", {"rain": {"density": 0.9, "length": 30, "angle": -15, "width": 1.4, "brightness": 0.9}}),
    Cell("haze, mild", {"haze": {"beta": 0.8, "airlight": 0.8}}),
    Cell("haze, strong", {"haze": {"beta": 2.5, "airlight": 0.9}}),
    Cell("blur, mild", {"blur": {"length": 9, "shake": 0.3}}),
    Cell("blur, strong", {"blur": {"length": 25, "shake": 0.8}}),
    Cell("lowres, mild", {"lowres": {"scale": 2}}),
    Cell("lowres, strong", {"lowres": {"scale": 4}}),
    Cell("lowlight, mild", {"lowlight": {"gain": 0.4, "gamma": 1.3, "noise": 3}}),
    Cell("lowlight, strong", {"lowlight": {"gain": 0.12, "gamma": 1.8, "noise": 8}}),
    Cell("clean", {}),
    Cell("lowlight + noise", {"lowlight": {"gain": 0.25, "gamma": 1.6, "noise": 4}, "noise": {"sigma": 15}}),
    Cell("haze + noise", {"haze": {"beta": 1.5, "airlight": 0.85}, "noise": {"sigma": 25}}),
    Cell("rain + haze", {"rain": {"density": 0.5, "length": 20, "angle": 10}, "haze": {"beta": 1.2}}),
)


def family_cells() -> tuple[tuple[Cell, ...], ...]:
    """One row per type, one cell per generator of its family; each spec names only the
    parameters that generator reads, plus ``kind``."""
    rows = []
    for name, members in families.FAMILIES.items():
        row = []
        for k, v in enumerate(members):
            ex = families.example(name, k)
            spec = {name: {**{p: ex[p] for p in v.uses}, "kind": k}}
            row.append(Cell(f"{name} {k}: {v.label}", spec))
        rows.append(tuple(row))
    return tuple(rows)


#: Cells after a family's generators: the options every low-resolution generator takes.
OPTION_CELLS: dict[str, tuple[Cell, ...]] = {
    "lowres": (
        Cell("lowres 0 + pre-blur", {"lowres": {"scale": 4, "preblur": 1.5, "kind": 0}}),
        Cell("lowres 0 + JPEG", {"lowres": {"scale": 4, "quality": 30, "kind": 0}}),
    ),
}

PAD = 8  # px between cells and around the sheet
CAPTION = 50  # px of caption under each cell: a title and up to two lines of parameters


def load_crop(path: str | Path, size: int) -> np.ndarray:
    """The centre square of a photo, resized to ``size`` x ``size``: ``HxWx3`` uint8 RGB.

    Raises:
        ValueError: if the file is missing or not an image.
    """
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    w, h = im.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return np.array(im.resize((size, size), Image.Resampling.LANCZOS, box=box))


def describe(spec: Spec) -> str:
    """Parameter text, e.g. ``"sigma=15"`` or ``"haze: beta=1.5; noise: sigma=25"`` for mixtures."""
    if not spec:
        return "no degradation"
    parts = [", ".join(f"{k}={v:g}" for k, v in params.items()) for params in spec.values()]
    if len(spec) == 1:
        return parts[0]
    return "; ".join(f"{name}: {text}" for name, text in zip(spec, parts, strict=True))


def wrap(
    text: str, draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int
) -> list[str]:
    """Greedy word wrap of ``text`` into lines at most ``width`` px wide."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def grid_shape(n: int, size: int, columns: int) -> tuple[int, int]:
    """Pixel ``(width, height)`` of a sheet of ``n`` cells of ``size`` px in ``columns`` columns."""
    rows = -(-n // columns)
    return columns * (size + PAD) + PAD, rows * (size + CAPTION + PAD) + PAD


def default_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _grid(img: np.ndarray, placed: Sequence[tuple[int, int, Cell]], shape: tuple[int, int], seed: int) -> Image.Image:
    """Draw each ``(row, column, cell)`` of ``placed`` on a white sheet of pixel size ``shape``."""
    size = img.shape[0]
    x = to_tensor(img)
    sheet = Image.new("RGB", shape, "white")
    draw = ImageDraw.Draw(sheet)
    title_font, text_font = default_font(14), default_font(11)
    for row, col, cell in placed:
        out = to_uint8(degrade(x, cell.spec, seed=seed).image) if cell.spec else img
        left = PAD + col * (size + PAD)
        top = PAD + row * (size + CAPTION + PAD)
        sheet.paste(Image.fromarray(out), (left, top))
        draw.text((left, top + size + 3), cell.title, fill="black", font=title_font)
        for j, line in enumerate(wrap(describe(cell.spec), draw, text_font, size)[:2]):
            draw.text((left, top + size + 21 + 13 * j), line, fill=(70, 70, 70), font=text_font)
    return sheet


def contact_sheet(img: np.ndarray, *, cells: Sequence[Cell] = CELLS, columns: int = 4, seed: int = 0) -> Image.Image:
    """Degrade ``img`` (``HxWx3`` uint8 RGB, square) once per cell and lay the results out.

    Every cell uses the same ``seed``, so cells differ only by their parameters.
    """
    placed = [(i // columns, i % columns, cell) for i, cell in enumerate(cells)]
    return _grid(img, placed, grid_shape(len(cells), img.shape[0], columns), seed)


def families_sheet(img: np.ndarray, *, seed: int = 0) -> Image.Image:
    """The generator sheet: row ``r`` holds the generators of the ``r``-th family of
    :func:`family_cells`, left to right in ``kind`` order, then the family's
    :data:`OPTION_CELLS`; all degrade ``img`` with ``seed``."""
    rows = [row + OPTION_CELLS.get(name, ()) for row, name in zip(family_cells(), families.FAMILIES, strict=True)]
    columns = max(len(r) for r in rows)
    placed = [(r, c, cell) for r, row in enumerate(rows) for c, cell in enumerate(row)]
    return _grid(img, placed, grid_shape(len(rows) * columns, img.shape[0], columns), seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restore.evaluation.contact_sheet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="the clean photo")
    parser.add_argument("--out", type=Path, help=f"output JPEG (default {DEFAULT_OUT}, or {FAMILIES_OUT})")
    parser.add_argument("--size", type=int, help="side of each cell (px; default 240, or 176 with --families)")
    parser.add_argument("--columns", type=int, default=4, help="columns of the standard sheet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", action="store_true", help="one cell per generator of every type")
    args = parser.parse_args(argv)
    args.out = args.out or (FAMILIES_OUT if args.families else DEFAULT_OUT)
    args.size = args.size or (176 if args.families else 240)
    if args.size < 16:
        parser.error("--size must be at least 16")
    try:
        img = load_crop(args.image, args.size)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.families:
        sheet = families_sheet(img, seed=args.seed)
    else:
        sheet = contact_sheet(img, columns=args.columns, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, "JPEG", quality=90 if not args.families else 85, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height}, {args.out.stat().st_size / 1e3:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
