"""The generator benchmark: how a restorer does on every generator of every degradation family.

Usage::

    python -m restore.evaluation.transfer --model ndr-restore            # the Markdown table on stdout
    python -m restore.evaluation.transfer --model ndr-restore --n 12 --size 256 --out assets/transfer.md
    python -m restore.evaluation.transfer --photos my/val/folder --types blur,noise
    python -m restore.evaluation.transfer --weights-dir runs/logo/export --raw   # a run's export, network alone

A model trained on generator 0 of each type (the original synthesis) can look good on its own
generator and fail on the others: this is the check. For each type and each generator of its
family (:mod:`restore.synthesis.families`), ``n`` fixed crops of the validation photos
(``data/photos/val``, or the example photos when that folder is missing) are degraded with that
generator at the parameters of :func:`restore.synthesis.families.example`, each with its own
fixed seed, restored blind (full size; the low-resolution generators upscale back to it, as in
training), and scored by PSNR against the clean crop: the input's, the restored image's and the
gain. The crops and the seeds depend only on ``--seed``, so every run scores the same inputs.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from restore.evaluation.metrics import psnr
from restore.images import load_image
from restore.models.weights import WeightsError
from restore.resources import example_photos
from restore.synthesis import families
from restore.synthesis.registry import degrade_image

VAL_DIR = Path("data") / "photos" / "val"  # relative to the working directory: run from the clone
SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


class RestorerLike(Protocol):
    """What the benchmark needs from a model (e.g. :class:`restore.Restorer`)."""

    def restore(self, img: np.ndarray, **kwargs: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class Row:
    """One type and generator: mean PSNR (dB) over the crops of the input and of the restored image."""

    type: str
    kind: int
    generator: str
    input_psnr: float
    output_psnr: float

    @property
    def gain(self) -> float:
        return self.output_psnr - self.input_psnr


def default_photos() -> list[Path]:
    """The validation photos (``data/photos/val``), or the example photos when there are none."""
    if VAL_DIR.is_dir():
        photos = sorted(p for p in VAL_DIR.iterdir() if p.suffix.lower() in SUFFIXES)
        if photos:
            return photos
    return example_photos()


def fixed_crops(photos: Sequence[Path], n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` square crops ``HxWx3`` uint8 (side ``size``, or a photo's shorter side if smaller),
    taken from the photos in turn at positions fixed by ``seed``.

    Raises:
        ValueError: no photos, or ``n`` / ``size`` not positive.
    """
    if not photos:
        raise ValueError("no photos to crop: pass --photos, or fetch them with `python -m restore.data.photos`")
    if n < 1 or size < 8:
        raise ValueError(f"need n >= 1 and size >= 8, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    loaded: dict[Path, np.ndarray] = {}
    out = []
    for i in range(n):
        path = photos[i % len(photos)]
        if path not in loaded:
            loaded[path] = load_image(path)
        img = loaded[path]
        side = min(size, *img.shape[:2])
        top = int(rng.integers(0, img.shape[0] - side + 1))
        left = int(rng.integers(0, img.shape[1] - side + 1))
        out.append(np.ascontiguousarray(img[top : top + side, left : left + side]))
    return out


def case_seed(seed: int, name: str, kind: int, index: int) -> int:
    """The degradation seed of crop ``index`` under generator ``kind`` of type ``name``."""
    return seed * 1_000_003 + zlib.crc32(f"{name}/{kind}/{index}".encode())


def run(
    restorer: RestorerLike,
    crops: Sequence[np.ndarray],
    *,
    seed: int = 0,
    types: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    refine: bool = True,
) -> list[Row]:
    """Score ``restorer`` on every generator of ``types`` (default: every family) over ``crops``.

    Args:
        restorer: anything with ``restore(img) -> img`` on ``HxWx3`` uint8 RGB.
        crops: clean ``HxWx3`` uint8 RGB crops (:func:`fixed_crops`).
        seed: the degradation seeds' base (:func:`case_seed`).
        types: the families to score, in this order.
        progress: optional ``progress(done, total)`` callback.
        refine: passed to ``restore``; False scores the network alone.

    Returns:
        One :class:`Row` per type and generator, in family order.
    """
    names = list(types or families.FAMILIES)
    unknown = [t for t in names if t not in families.FAMILIES]
    if unknown:
        raise ValueError(f"no generator family for {unknown}; valid: {', '.join(families.FAMILIES)}")
    total = sum(len(families.FAMILIES[t]) for t in names) * len(crops)
    done = 0
    rows = []
    for name in names:
        for kind, variant in enumerate(families.FAMILIES[name]):
            spec = {name: families.example(name, kind)}
            inputs, outputs = [], []
            for i, clean in enumerate(crops):
                degraded = degrade_image(clean, spec, seed=case_seed(seed, name, kind, i))
                inputs.append(psnr(degraded, clean))
                outputs.append(psnr(restorer.restore(degraded, refine=refine), clean))
                done += 1
                if progress is not None:
                    progress(done, total)
            rows.append(Row(name, kind, variant.name, float(np.mean(inputs)), float(np.mean(outputs))))
    return rows


def markdown(rows: Sequence[Row], title: str = "") -> str:
    """The rows as Markdown: a long table (type, generator, input, restored, gain) and a compact
    one of the gains, types by generator index."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| type | generator | input (dB) | restored (dB) | gain (dB) |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r.type} | {r.kind}: {r.generator} | {r.input_psnr:.2f} | {r.output_psnr:.2f} | {r.gain:+.2f} |"
        )
    width = max(r.kind for r in rows) + 1 if rows else 0
    lines += ["", "| gain (dB) | " + " | ".join(str(k) for k in range(width)) + " |", "|---" * (width + 1) + "|"]
    for name in dict.fromkeys(r.type for r in rows):
        cells = {r.kind: f"{r.gain:+.2f}" for r in rows if r.type == name}
        lines.append(f"| {name} | " + " | ".join(cells.get(k, "") for k in range(width)) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restore.evaluation.transfer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="ndr-restore", help="a shipped model name (Restorer.from_pretrained)")
    parser.add_argument("--photos", type=Path, help=f"folder of clean photos (default {VAL_DIR}, else the examples)")
    parser.add_argument("--n", type=int, default=6, help="crops per generator")
    parser.add_argument("--size", type=int, default=192, help="crop side (px)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--types", help="comma-separated types (default: all)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--weights-dir", type=Path, help="load MODEL.safetensors from here (e.g. a run's export)")
    parser.add_argument("--raw", action="store_true", help="the network alone (refinements off)")
    args = parser.parse_args(argv)
    from restore import Restorer

    if args.photos is not None:
        photos = (
            sorted(p for p in args.photos.iterdir() if p.suffix.lower() in SUFFIXES) if args.photos.is_dir() else []
        )
    else:
        photos = default_photos()
    types = [t.strip() for t in args.types.split(",") if t.strip()] if args.types else None
    try:
        crops = fixed_crops(photos, args.n, args.size, args.seed)
        restorer = Restorer.from_pretrained(args.model, directory=args.weights_dir)
        rows = run(restorer, crops, seed=args.seed, types=types, refine=not args.raw)
    except (ValueError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    source = f" from {args.weights_dir}" if args.weights_dir is not None else ""
    what = ", network alone" if args.raw else ""
    title = f"{args.model}{source}{what}: {args.n} crops of {args.size} px per generator, seed {args.seed}"
    table = markdown(rows, title)
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
