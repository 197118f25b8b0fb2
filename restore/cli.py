"""Command line: ``restore INPUT... -o OUTDIR`` (or ``python -m restore``).

Restores image files (or every image in the given folders) with a shipped model, prints what it
detected in each, and writes ``OUTDIR/<name>.png``. Unreadable files are reported and skipped;
the exit code is 1 if any file failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from restore.images import ImageError, load_image, save_png
from restore.inference.restorer import MODEL_NAMES, Restorer
from restore.models.weights import WeightsError
from restore.types import DEGRADATION_TYPES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def collect(inputs: list[Path]) -> tuple[list[Path], list[str]]:
    """Files to restore (folders expanded to their image files, sorted) and errors for bad paths."""
    files: list[Path] = []
    errors: list[str] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                errors.append(f"{p}: folder has no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or folder")
    return files, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restore", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="image files or folders")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--model", default="ndr-restore", help=f"shipped model: {', '.join(MODEL_NAMES)}")
    parser.add_argument("--upscale", type=int, default=1, choices=(1, 2, 3, 4))
    parser.add_argument("--strength", type=float, default=1.0, help="0..1 blend with the input")
    parser.add_argument("--tile", type=int, help="tile size in px (default: automatic)")
    parser.add_argument("--overlap", type=int, default=32, help="tile overlap in px")
    parser.add_argument(
        "--task",
        choices=DEGRADATION_TYPES,
        action="append",
        help="the known degradation (repeatable): routes DFPIR, and decides the haze pass of both "
        "models instead of the estimator; default: blind",
    )
    parser.add_argument(
        "--no-refine",
        dest="refine",
        action="store_false",
        help="skip the classical refinements after the network: at 1x the pilot-guided Wiener filter "
        "(restore.refinements.wiener) and, on hazy photos, the haze pass (restore.refinements.haze); gated "
        "back-projection when upscaling (restore.refinements.backproject)",
    )
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not 0 <= args.strength <= 1:
        parser.error("--strength must be between 0 and 1")

    try:
        restorer = Restorer.from_pretrained(args.model, device=args.device)
    except (ValueError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files, errors = collect(args.inputs)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    failed = len(errors)
    used: set[str] = set()
    for path in files:
        try:
            img = load_image(path)
        except ImageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        analysis = restorer.analyze(img)
        found = analysis.detected() or ["none"]
        probs = ", ".join(f"{k} {v:.2f}" for k, v in sorted(analysis.probabilities.items(), key=lambda kv: -kv[1])[:3])
        bar = tqdm(total=1, desc=path.name, unit="step", disable=args.quiet, leave=False, file=sys.stderr)

        def progress(done: int, total: int, bar: tqdm = bar) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        t0 = time.perf_counter()
        out = restorer.restore(
            img,
            upscale=args.upscale,
            strength=args.strength,
            tile=args.tile,
            overlap=args.overlap,
            progress=progress,
            task=tuple(args.task) if args.task else None,
            refine=args.refine,
        )
        bar.close()
        stem = path.stem
        while stem in used:
            stem += "_"
        used.add(stem)
        dest = save_png(out, args.out / f"{stem}.png")
        print(
            f"{path}: detected {', '.join(found)} ({probs}); {img.shape[1]}x{img.shape[0]} -> "
            f"{out.shape[1]}x{out.shape[0]} in {time.perf_counter() - t0:.2f} s -> {dest}"
        )
    if failed:
        print(f"{failed} input(s) failed", file=sys.stderr)
    return 1 if failed else 0
