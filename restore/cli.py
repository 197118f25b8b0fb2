"""Command line: ``restore INPUT... -o OUTDIR`` (or ``python -m restore``).

Restores image files (or every image in the given folders) with a shipped model, prints what it
detected in each, and writes one PNG per input into OUTDIR.

Output names: NAME_restored.png, NAME being the input's file name without its extension
(holiday.jpg -> holiday_restored.png). When several inputs of one run would get the same name,
each of them keeps its extension in it: holiday.jpg -> holiday-jpg_restored.png and
holiday.png -> holiday-png_restored.png; names that still clash (the same file name in two
folders) get -1, -2, ... in the order the inputs are read. Names are compared ignoring case.

Nothing is lost: an input file is never written over, not even with --overwrite; any other
existing file is replaced only with --overwrite (otherwise that input is skipped with a message).
Each PNG is written to a temporary file in OUTDIR and renamed into place, so no file is ever left
half-written. In folders, hidden files and files named *_restored.png (this command's outputs)
are not read; name such a file explicitly to restore it.

Noise level: --noise-level N sets the input's noise level in grey levels (0-100, on the 0-255
scale) instead of the estimate: the network's noise map (models with one) and the Wiener
refinement read it, so a higher level smooths more; "auto" (the default) estimates it from each
photo. The line printed for each image gives the level used, where the model has a noise map or
the level was set.

Size: inputs over the megapixel limit (--max-megapixels, else the environment variable
RESTORE_MAX_MEGAPIXELS, else 40) are refused from their header, before anything is decoded, and
so are results over the limit when upscaling.

Exit code: 0 when every input was restored; 1 when any was skipped or failed (each named in a
one-line message; an unexpected fault also prints its traceback); 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

from restore.images import (
    MAX_MEGAPIXELS_ENV,
    ImageError,
    ImageTooLargeError,
    check_megapixels,
    load_image,
    resolve_max_megapixels,
    save_png,
)
from restore.inference.loading import MODEL_NAMES
from restore.inference.noise_map import MAX_NOISE_LEVEL
from restore.inference.restorer import Restorer
from restore.inference.tiling import min_tile
from restore.models.weights import WeightsError
from restore.types import DEGRADATION_TYPES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
#: Every output's name ends so: folders are read without these files.
OUTPUT_SUFFIX = "_restored.png"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): ``python -m restore: error: ... (see --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def collect(inputs: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """Files to restore and messages about the paths that gave none.

    Folders are expanded to their image files, sorted, leaving out hidden files and this
    command's outputs (``*_restored.png``); a file named twice is read once.

    Returns:
        The files, and one message per missing path or folder without images.
    """
    files: list[Path] = []
    errors: list[str] = []
    seen: set[Path] = set()
    for p in inputs:
        if p.is_dir():
            try:
                entries = list(p.iterdir())
            except OSError as err:
                errors.append(f"{p}: cannot read the folder: {err.strerror or err}")
                continue
            images = sorted(f for f in entries if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
            found = [f for f in images if f.is_file() and not f.name.lower().endswith(OUTPUT_SUFFIX)]
            if not found:
                errors.append(f"{p}: the folder has no image files to restore ({', '.join(IMAGE_SUFFIXES)})")
        elif p.exists():
            found = [p]  # a named file is always read (and load_image reports a non-file)
        else:
            errors.append(f"{p}: no such file or folder")
            found = []
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files, errors


def output_names(files: Sequence[Path]) -> list[str]:
    """The output file name of each input, unique within the run (the rule in the module docstring).

    >>> output_names([Path("a/holiday.png"), Path("a/photo.jpg"), Path("a/photo.png")])
    ['holiday_restored.png', 'photo-jpg_restored.png', 'photo-png_restored.png']
    """
    bases = [f.stem for f in files]
    clash = _clashes(bases)
    bases = [
        f"{f.stem}-{f.suffix[1:].lower()}" if c and f.suffix else b for f, b, c in zip(files, bases, clash, strict=True)
    ]
    clash = _clashes(bases)
    used = {b.casefold() for b, c in zip(bases, clash, strict=True) if not c}
    names: list[str] = []
    for base, c in zip(bases, clash, strict=True):
        if c:
            number = 1
            while f"{base}-{number}".casefold() in used:
                number += 1
            base = f"{base}-{number}"
            used.add(base.casefold())
        names.append(base + OUTPUT_SUFFIX)
    return names


def _clashes(bases: list[str]) -> list[bool]:
    """Whether each name is shared by another in the list (ignoring case)."""
    counts: dict[str, int] = {}
    for b in bases:
        counts[b.casefold()] = counts.get(b.casefold(), 0) + 1
    return [counts[b.casefold()] > 1 for b in bases]


def _megapixels(text: str) -> float:
    try:
        return resolve_max_megapixels(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number of megapixels, got {text!r}") from None


def _noise_level(text: str) -> float | None:
    """``--noise-level``: "auto" is None (estimated per image), else grey levels in 0..MAX_NOISE_LEVEL."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= MAX_NOISE_LEVEL:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(
            f"must be auto or a number of grey levels between 0 and {MAX_NOISE_LEVEL:g}, got {text!r}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line's arguments (``python -m restore --help``)."""
    parser = _Parser(
        prog="python -m restore", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="image files or folders")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that exist already (an input file is never replaced)",
    )
    parser.add_argument("--model", default="ndr-restore", help=f"shipped model: {', '.join(MODEL_NAMES)}")
    parser.add_argument("--upscale", type=int, default=1, choices=(1, 2, 3, 4))
    parser.add_argument("--strength", type=float, default=1.0, help="0..1 blend with the input")
    parser.add_argument(
        "--tile", type=int, help="tile size in px, at least 2 * overlap + 8; 0: whole image (default: automatic)"
    )
    parser.add_argument("--overlap", type=int, default=32, help="tile overlap in px")
    parser.add_argument(
        "--max-megapixels",
        type=_megapixels,
        metavar="MP",
        help=f"refuse inputs (and upscaled results) larger than this (default: ${MAX_MEGAPIXELS_ENV}, else 40)",
    )
    parser.add_argument(
        "--task",
        choices=DEGRADATION_TYPES,
        action="append",
        help="the known degradation (repeatable): routes DFPIR, and decides the haze pass of both "
        "models instead of the estimator; default: blind",
    )
    parser.add_argument(
        "--noise-level",
        type=_noise_level,
        metavar="N",
        help=f"the input's noise level in grey levels (0-{MAX_NOISE_LEVEL:g} on the 0-255 scale) instead of the "
        "estimate: the network's noise map (models with one) and the Wiener refinement read it, so a higher "
        "level smooths more; auto (default): estimated from each photo",
    )
    parser.add_argument(
        "--no-refine",
        dest="refine",
        action="store_false",
        help="skip the classical refinements after the network: at 1x the pilot-guided Wiener filter "
        "(restore.refinements.wiener) and, on hazy photos, the haze pass (restore.refinements.haze); gated "
        "back-projection when upscaling (restore.refinements.backproject); and the tone lock, which keeps the "
        "photo's brightness and colours unless low light, haze or rain was found (restore.refinements.tone)",
    )
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 1 or 2, see the module docstring)."""
    try:
        return _run(argv)
    except SystemExit as exc:  # argparse's --help (0) and its one-line errors (2)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    limit = _check_arguments(parser, args)
    files, errors = collect(args.inputs)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if not files:
        print("nothing to restore", file=sys.stderr)
        return 1
    try:
        restorer = Restorer.from_pretrained(args.model, device=args.device)
    except (ValueError, WeightsError) as err:
        parser.error(str(err))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        parser.error(f"cannot create the output folder {args.out}: {err.strerror or err}")

    # Inputs by file identity: a hard link or a case-insensitive name reaches the same file.
    input_ids = {(s.st_dev, s.st_ino) for s in (f.stat() for f in files if f.is_file())}
    written = skipped = 0
    failed = len(errors)
    for path, name in zip(files, output_names(files), strict=True):
        dest = args.out / name
        if os.path.lexists(dest):
            st = dest.stat() if dest.exists() else None
            if st is not None and (st.st_dev, st.st_ino) in input_ids:
                print(f"error: {path}: its output {dest} is one of the inputs; not written", file=sys.stderr)
                failed += 1
                continue
            if not args.overwrite:
                _skip(path, dest)
                skipped += 1
                continue
        try:
            out, line = _restore_one(restorer, path, args, limit)
        except ImageError as err:
            print(f"error: {_cli_message(err, args.upscale)}", file=sys.stderr)
            failed += 1
            continue
        except Exception:  # a real fault, not a bad input: show where it happened, go on with the rest
            print(f"error: {path}: unexpected failure (a bug: please report it with this traceback)", file=sys.stderr)
            traceback.print_exc()
            failed += 1
            continue
        try:
            save_png(out, dest, overwrite=args.overwrite)
        except FileExistsError:  # it appeared while this input was being restored
            _skip(path, dest)
            skipped += 1
            continue
        except OSError as err:
            print(f"error: {path}: cannot write {dest}: {err.strerror or err}", file=sys.stderr)
            failed += 1
            continue
        written += 1
        print(f"{line} -> {dest}")
    if skipped or failed:
        parts = [f"{written} written"]
        if skipped:
            parts.append(f"{skipped} skipped (their output exists; --overwrite replaces it)")
        if failed:
            parts.append(f"{failed} failed")
        print(", ".join(parts), file=sys.stderr)
    return 1 if skipped or failed else 0


def _check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> float:
    """Refuse bad arguments with one line (exit 2); returns the megapixel limit."""
    if not 0 <= args.strength <= 1:
        parser.error(f"--strength must be between 0 and 1, got {args.strength:g}")
    if args.overlap < 0:
        parser.error(f"--overlap must be 0 or more, got {args.overlap}")
    if args.tile is not None and args.tile < 0:
        parser.error(f"--tile must be 0 (whole image) or a size in px, got {args.tile}")
    if args.tile and args.tile < min_tile(args.overlap):
        parser.error(
            f"--tile {args.tile} is too small for --overlap {args.overlap}: "
            f"a tile must be at least 2 * overlap + 8 = {min_tile(args.overlap)} px"
        )
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"-o {args.out} is a file; give a folder")
    if args.device is not None:
        try:
            device = torch.device(args.device)
        except (RuntimeError, ValueError):
            parser.error(f"--device {args.device!r} is not a device; use cpu or cuda")
        if device.type == "cuda" and not torch.cuda.is_available():
            parser.error(f"--device {args.device}: no CUDA device is available here; use cpu")
    try:
        return resolve_max_megapixels(args.max_megapixels)
    except ValueError as err:
        parser.error(str(err))


def _restore_one(restorer: Restorer, path: Path, args: argparse.Namespace, limit: float) -> tuple[np.ndarray, str]:
    """Read, analyse and restore one file; returns the result and the line that reports it."""
    from tqdm import tqdm

    img = load_image(path, max_megapixels=limit, name=str(path))
    h, w = img.shape[:2]
    s = args.upscale
    if s > 1:
        check_megapixels(w * s, h * s, limit, name=f"{path} upscaled {s}x")
    analysis = restorer.analyze(img, max_megapixels=limit)
    found = analysis.detected() or ["none"]
    probs = ", ".join(f"{k} {v:.2f}" for k, v in sorted(analysis.probabilities.items(), key=lambda kv: -kv[1])[:3])
    bar = tqdm(total=1, desc=path.name, unit="step", disable=args.quiet, leave=False, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    done: dict[str, object] = {}
    t0 = time.perf_counter()
    try:
        out = restorer.restore(
            img,
            upscale=s,
            strength=args.strength,
            tile=args.tile,
            overlap=args.overlap,
            progress=progress,
            task=tuple(args.task) if args.task else None,
            refine=args.refine,
            report=done,
            max_megapixels=limit,
            noise_level=args.noise_level,
        )
    finally:
        bar.close()
    noise = ""
    if "noise_level" in done:
        how = "estimated" if args.noise_level is None else "set"
        noise = f"; noise level {float(done['noise_level']):.1f} ({how})"
    line = (
        f"{path}: detected {', '.join(found)} ({probs}){noise}; {w}x{h} -> {out.shape[1]}x{out.shape[0]} "
        f"in {time.perf_counter() - t0:.2f} s"
    )
    return out, line


def _skip(path: Path, dest: Path) -> None:
    print(f"skipped {path}: {dest} exists already (--overwrite replaces it)", file=sys.stderr)


def _cli_message(err: ImageError, upscale: int) -> str:
    """An ImageError's message, with the command line's own ways out of a size limit."""
    message = str(err)
    if isinstance(err, ImageTooLargeError):
        message = message.replace(f"{MAX_MEGAPIXELS_ENV}.", f"{MAX_MEGAPIXELS_ENV} or --max-megapixels.")
        if upscale > 1 and "upscaled" in err.name:
            message += " Or choose a smaller --upscale."
    return message
