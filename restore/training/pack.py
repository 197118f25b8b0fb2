"""Pack the training photos as JPEG tiles that fit a size budget, to carry them to another machine.

``python -m restore.training.pack --data data/photos --out carry/photos --budget-mb 34``

The GPU script (``scripts/gpu_train.sh``) trains on a machine that only receives the working tree
and a few carried folders (64 MiB in all, the repository included), so the PNG photos cannot
travel whole. Each photo is cut into a grid of ``--tile`` px squares, encoded as JPEG (quality
``--quality``, no chroma subsampling, so the "clean" targets keep their colour edges), and tiles
are dropped evenly across all photos (every photo keeps at least one) until the total fits
``--budget-mb``. The output has the ``train/`` and ``val/`` layout the trainer reads; the
validation photos are packed whole-tile too but are only for the logs there: the chain scores
validation here, on the PNGs.
"""

from __future__ import annotations

import argparse
import io
import logging
from pathlib import Path

from PIL import Image

from restore.data.photos import list_photos
from restore.training.patches import HELD_OUT_PHOTOS, split_holdout

log = logging.getLogger(__name__)


def tiles_of(img: Image.Image, tile: int) -> list[Image.Image]:
    """A centred grid of ``tile x tile`` crops (the whole image when it is smaller)."""
    w, h = img.size
    if min(w, h) < tile:
        return [img]
    nx, ny = w // tile, h // tile
    x0, y0 = (w - nx * tile) // 2, (h - ny * tile) // 2
    return [
        img.crop((x0 + i * tile, y0 + j * tile, x0 + (i + 1) * tile, y0 + (j + 1) * tile))
        for j in range(ny)
        for i in range(nx)
    ]


def encode(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
    return buf.getvalue()


def spread(n: int) -> list[int]:
    """``range(n)`` in an order whose every prefix is spread evenly over it (bit-reversed)."""
    bits = max(1, (n - 1).bit_length())
    rev = sorted(range(2**bits), key=lambda k: int(format(k, f"0{bits}b")[::-1], 2))
    return [k for k in rev if k < n]


def thin(sizes: list[list[int]], budget: int) -> list[list[int]]:
    """Indices of the tiles to keep per photo so that their bytes fit ``budget``: take one tile at a
    time from the photo that keeps the most, evenly over its grid, never its last one."""
    orders = [spread(len(s)) for s in sizes]
    counts = [len(s) for s in sizes]
    current = sum(map(sum, sizes))
    while current > budget:
        i = max(range(len(counts)), key=lambda n: (counts[n], -n))
        if counts[i] <= 1:
            break
        counts[i] -= 1
        current -= sizes[i][orders[i][counts[i]]]
    return [sorted(o[:c]) for o, c in zip(orders, counts, strict=True)]


def pack(
    data: Path, out: Path, *, tile: int = 512, quality: int = 93, budget_mb: float = 34.0, holdout: int = 0
) -> dict[str, int]:
    """Write ``out/{train,val}/*.jpg``; returns the number of tiles and bytes written per split.

    ``holdout``: the training photos the held-out validation keeps (:func:`.patches.split_holdout`)
    stay behind: their tiles would carry other names, which the trainer's own hold-out cannot
    recognise, so the GPU would train on them."""
    report: dict[str, int] = {}
    for split in ("train", "val"):
        paths = list_photos(data, split)
        if not paths:
            raise FileNotFoundError(f"no {split} photos under {data}: run `python -m restore.data.photos` first")
        if split == "train":
            paths = split_holdout(paths, holdout)[0]
        encoded = [[encode(t, quality) for t in tiles_of(Image.open(p).convert("RGB"), tile)] for p in paths]
        share = budget_mb * 1e6 * (0.9 if split == "train" else 0.1)
        keep = thin([[len(b) for b in e] for e in encoded], int(share))
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jpg"):
            old.unlink()
        written = 0
        for p, e, ks in zip(paths, encoded, keep, strict=True):
            for k in ks:
                (folder / f"{p.stem}_{k:02d}.jpg").write_bytes(e[k])
                written += len(e[k])
        report[f"{split}_tiles"] = sum(len(k) for k in keep)
        report[f"{split}_bytes"] = written
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m restore.training.pack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/photos"))
    parser.add_argument("--out", type=Path, default=Path("carry/photos"))
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--quality", type=int, default=93)
    parser.add_argument("--budget-mb", type=float, default=34.0)
    parser.add_argument(
        "--holdout", type=int, default=HELD_OUT_PHOTOS, help="training photos kept back for the held-out validation"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = pack(
        args.data, args.out, tile=args.tile, quality=args.quality, budget_mb=args.budget_mb, holdout=args.holdout
    )
    print(", ".join(f"{k} {v}" for k, v in report.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
