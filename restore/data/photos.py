"""Clean training photographs: fetch them from Debian packages, or import a folder of your own.

The default source is 155 freely licensed photographs shipped in wallpaper packages of Debian
(bookworm, trixie) and Ubuntu (noble), listed with their licences and checksums in
``restore/data/photos_manifest.json``; 3 of them are the fixed validation split. Each is downsized by ``--scale``
(default 2) with an area filter, which averages away the JPEG blocking and ringing of the
originals, and written as PNG under ``<out>/train`` or ``<out>/val``::

    python -m restore.data.photos                       # apt-get download + dpkg-deb, no install
    python -m restore.data.photos --from ~/Pictures     # any folder of clean photos instead
    python -m restore.data.photos --examples            # regenerate restore/assets/examples from <out>/val

The Debian fetching lives in :mod:`restore.data.debian`, the pieces both sources share in
:mod:`restore.data.photo_files`; the example photos themselves (which crops, their ``SOURCES.md``)
are made by :mod:`restore.data.examples`.

Re-running is cheap: photos already present at the right size are skipped, and every file is
written under a temporary name first, so an interrupted run never leaves a half-written PNG.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from restore.data.debian import MissingToolError, fetch_packages
from restore.data.photo_files import (
    IMAGE_SUFFIXES,
    MANIFEST_PATH,
    SPLITS,
    ManifestMismatchError,
    PhotoError,
    Summary,
    decode_photo,
    downsize,
    load_manifest,
    save_image,
    take_existing,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "MANIFEST_PATH",
    "SPLITS",
    "ManifestMismatchError",
    "MissingToolError",
    "PhotoError",
    "Summary",
    "assign_splits",
    "downsize",
    "fetch_packages",
    "import_folder",
    "list_photos",
    "load_manifest",
    "main",
    "save_image",
]

log = logging.getLogger(__name__)

VAL_FRACTION = 0.08


def assign_splits(names: Iterable[str], val_fraction: float = VAL_FRACTION) -> dict[str, str]:
    """Deterministically put about ``val_fraction`` of ``names`` (at least one) into ``"val"``.

    Names are ranked by a hash of the name, so the choice depends neither on the order of
    ``names`` nor on the platform. A single photo stays in ``"train"``.
    """
    unique = sorted(set(names))
    n_val = max(1, round(val_fraction * len(unique))) if len(unique) > 1 else 0
    ranked = sorted(unique, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    val = set(ranked[:n_val])
    return {n: "val" if n in val else "train" for n in unique}


def list_photos(root: Path, split: str) -> list[Path]:
    """List the photos of one split (PNG, or JPEG etc. cut for a device's carry), sorted by name.

    Raises:
        ValueError: if ``split`` is not ``"train"`` or ``"val"``.
        FileNotFoundError: if the folder is missing or empty; the message says how to fill it.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folder = Path(root) / split
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not photos:
        raise FileNotFoundError(
            f"no photos in {folder}: run `python -m restore.data.photos --out {root}` to fetch the Debian "
            f"photographs, or `python -m restore.data.photos --out {root} --from DIR` to use your own"
        )
    return photos


def _oriented_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            w, h = im.size
            return (h, w) if im.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (w, h)
    except (OSError, UnidentifiedImageError) as err:
        raise PhotoError(f"cannot read {path}: {err}; remove or repair the file") from err


def import_folder(src: Path, out: Path, scale: int = 2, val_fraction: float = VAL_FRACTION) -> Summary:
    """Downsize every photo under ``src`` (recursively) into ``<out>/train`` and ``<out>/val``.

    A photo ``a/b/c.jpg`` becomes ``a__b__c.png``; a deterministic ``val_fraction`` of the
    names (at least one) goes to validation, see :func:`assign_splits`.

    Raises:
        PhotoError: if ``src`` holds no image, two files map to the same name, or a file
            cannot be decoded.
    """
    src, out = Path(src).resolve(), Path(out).resolve()
    files = sorted(
        p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.is_relative_to(out)
    )
    if not files:
        raise PhotoError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {src}")
    by_name: dict[str, Path] = {}
    for path in files:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", "__".join(path.relative_to(src).with_suffix("").parts))
        if name in by_name:
            raise PhotoError(f"{by_name[name]} and {path} both become {name}.png; rename one of them")
        by_name[name] = path
    splits = assign_splits(by_name, val_fraction)
    summary = Summary()
    for name, path in by_name.items():
        before = _oriented_size(path)
        after = (before[0] // scale, before[1] // scale)
        present = take_existing(out, name, splits[name], after)
        if not present:
            with Image.open(path) as im:
                save_image(downsize(decode_photo(im, path), scale), out / splits[name] / f"{name}.png", format="PNG")
            log.info("%s -> %s/%s.png", path, splits[name], name)
        summary.add(splits[name], before, after, written=not present)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m restore.data.photos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/photos"), help="output folder (default data/photos)")
    parser.add_argument("--from", dest="src", type=Path, help="import this folder of clean photos instead")
    parser.add_argument("--cache", type=Path, default=Path("data/debs"), help="where .deb files are kept")
    parser.add_argument("--scale", type=int, default=2, help="integer downsizing factor (default 2)")
    parser.add_argument("--examples", action="store_true", help="regenerate the app's example photos from <out>/val")
    parser.add_argument("--examples-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.examples:
            from restore.data.examples import make_examples
            from restore.resources import package_assets

            paths = make_examples(args.out, args.examples_dir or package_assets() / "examples")
            log.info("wrote %d examples, %.0f KB", len(paths), sum(p.stat().st_size for p in paths) / 1024)
            return 0
        if args.scale < 1:
            parser.error("--scale must be a positive integer")
        if args.src is not None:
            summary = import_folder(args.src, args.out, args.scale)
        else:
            summary = fetch_packages(args.out, args.cache, args.scale)
    except (PhotoError, FileNotFoundError) as err:
        log.error("error: %s", err)
        return 1
    log.info("%s: %s", args.out, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
