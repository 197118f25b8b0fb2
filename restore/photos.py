"""Clean training photographs: fetch them from Debian packages, or import a folder of your own.

The default source is 38 freely licensed photographs shipped in four Debian packages, listed with
their licences and checksums in ``restore/photos_manifest.json``. Each is downsized by ``--scale``
(default 2) with an area filter, which averages away the JPEG blocking and ringing of the
originals, and written as PNG under ``<out>/train`` or ``<out>/val``::

    python -m restore.photos                       # apt-get download + dpkg-deb, no install
    python -m restore.photos --from ~/Pictures     # any folder of clean photos instead
    python -m restore.photos --examples            # regenerate assets/examples from <out>/val

The example photos themselves (which crops, their ``SOURCES.md``) are made by
:mod:`restore.examples`.

Re-running is cheap: photos already present at the right size are skipped, and every file is
written under a temporary name first, so an interrupted run never leaves a half-written PNG.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

MANIFEST_PATH = Path(__file__).with_name("photos_manifest.json")
SPLITS: tuple[str, ...] = ("train", "val")
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")
REQUIRED_TOOLS: tuple[str, ...] = ("apt-get", "dpkg-deb")
VAL_FRACTION = 0.08


class PhotoError(RuntimeError):
    """A photo source cannot be used; the message says what to do instead."""


class MissingToolError(PhotoError):
    """``apt-get`` or ``dpkg-deb`` is not installed."""


class ManifestMismatchError(PhotoError):
    """A package does not contain what ``photos_manifest.json`` expects."""


@dataclass(frozen=True)
class Member:
    """The parts of a tar member that :func:`select_member` needs.

    Attributes:
        path: path inside the package, without a leading ``./``.
        kind: ``"file"``, ``"symlink"`` or ``"other"``.
        size: size in bytes (0 for links).
        target: link target as stored in the archive (relative or absolute).
    """

    path: str
    kind: str
    size: int = 0
    target: str = ""


@dataclass
class Summary:
    """What a run produced, for the closing log line."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    pixels_before: int = 0
    pixels_after: int = 0
    written: int = 0

    def add(self, split: str, before: tuple[int, int], after: tuple[int, int], written: bool) -> None:
        self.counts[split] += 1
        self.pixels_before += before[0] * before[1]
        self.pixels_after += after[0] * after[1]
        self.written += int(written)

    def __str__(self) -> str:
        per_split = ", ".join(f"{n} {s}" for s, n in self.counts.items())
        return (
            f"{per_split} ({self.written} written, the rest already present); "
            f"{self.pixels_before / 1e6:.1f} MP before, {self.pixels_after / 1e6:.1f} MP after downsizing"
        )


def downsize(img: np.ndarray, factor: int) -> np.ndarray:
    """Shrink an image by an integer factor with an area (box) filter.

    The image is first cropped to a multiple of ``factor``, so every output pixel is the rounded
    mean of exactly one ``factor x factor`` block of input pixels.

    Args:
        img: ``(H, W, C)`` or ``(H, W)`` uint8 image.
        factor: integer shrink factor; 1 returns the image unchanged.

    Returns:
        ``(H // factor, W // factor[, C])`` uint8 image.

    Raises:
        ValueError: if ``factor`` < 1 or the image is smaller than ``factor`` pixels.
    """
    if factor < 1:
        raise ValueError(f"downsizing factor must be a positive integer, got {factor}")
    h, w = img.shape[0] // factor, img.shape[1] // factor
    if h == 0 or w == 0:
        raise ValueError(f"image of size {img.shape[1]}x{img.shape[0]} is too small to downsize by {factor}")
    if factor == 1:
        return img
    cropped = np.ascontiguousarray(img[: h * factor, : w * factor])
    return cv2.resize(cropped, (w, h), interpolation=cv2.INTER_AREA)


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


def select_member(members: Mapping[str, Member], wanted: str) -> str:
    """Find the regular file that stands for ``wanted`` inside a package listing.

    In order: ``wanted`` itself; a file of the same stem with another image extension (any
    case); for a wallpaper ``.../images/`` folder, its largest real image. Symlinks are followed
    to the file they point to, so a master image shared by several sizes is taken once.

    Args:
        members: package listing keyed by path without leading ``./``.
        wanted: path recorded in the manifest.

    Returns:
        Path of a regular file in ``members``.

    Raises:
        ManifestMismatchError: if nothing suitable is there; the message lists the folder.
    """
    want = PurePosixPath(wanted.removeprefix("./"))
    siblings = [PurePosixPath(p) for p in members if PurePosixPath(p).parent == want.parent]
    images = [p for p in siblings if p.suffix.lower() in IMAGE_SUFFIXES]
    candidates = [p for p in images if p == want] or [p for p in images if p.stem.lower() == want.stem.lower()]
    if not candidates and want.parent.name == "images":
        real = [p for p in images if _resolve(members, str(p)) == str(p)]
        candidates = sorted(real, key=lambda p: (_pixels_in_name(p.stem), members[str(p)].size))[-1:]
    if not candidates:
        listing = ", ".join(sorted(p.name for p in siblings)) or "nothing"
        raise ManifestMismatchError(f"{wanted} is not in the package; its folder holds: {listing}")
    return _resolve(members, str(candidates[0]))


def _resolve(members: Mapping[str, Member], path: str) -> str:
    for _ in range(16):
        member = members.get(path)
        if member is None or member.kind != "symlink":
            break
        target = PurePosixPath(member.target)
        joined = target if target.is_absolute() else PurePosixPath(path).parent / target
        path = os.path.normpath(str(joined)).lstrip("/")
    if path not in members or members[path].kind != "file":
        raise ManifestMismatchError(f"{path} is a dangling or looping link in the package")
    return path


def _pixels_in_name(stem: str) -> int:
    match = re.fullmatch(r"(\d+)x(\d+)", stem)
    return int(match[1]) * int(match[2]) if match else 0


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, Any]:
    """Read the photo manifest and check that names are unique and splits are known."""
    manifest = json.loads(path.read_text(encoding="utf-8"))
    names = [p["name"] for p in manifest["photos"]]
    if len(set(names)) != len(names):
        raise ManifestMismatchError(f"{path} lists a photo name twice")
    if bad := [p["name"] for p in manifest["photos"] if p["split"] not in SPLITS]:
        raise ManifestMismatchError(f"{path}: unknown split for {bad}; use one of {SPLITS}")
    return manifest


def list_photos(root: Path, split: str) -> list[Path]:
    """List the PNG photos of one split, sorted by name.

    Raises:
        ValueError: if ``split`` is not ``"train"`` or ``"val"``.
        FileNotFoundError: if the folder is missing or empty; the message says how to fill it.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folder = Path(root) / split
    photos = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not photos:
        raise FileNotFoundError(
            f"no photos in {folder}: run `python -m restore.photos --out {root}` to fetch the Debian "
            f"photographs, or `python -m restore.photos --out {root} --from DIR` to use your own"
        )
    return photos


def require_tools(tools: Iterable[str] = REQUIRED_TOOLS) -> None:
    """Raise :class:`MissingToolError` unless every tool is on ``PATH``."""
    if missing := [t for t in tools if shutil.which(t) is None]:
        raise MissingToolError(
            f"{' and '.join(missing)} not found: fetching the photographs needs Debian's apt-get and "
            "dpkg-deb (nothing is installed, packages are only downloaded and unpacked). On other "
            "systems use `python -m restore.photos --from DIR` with a folder of your own clean photos."
        )


def _run(cmd: list[str], cwd: Path | None = None, hint: str = "") -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        raise PhotoError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {tail}{hint}")
    return proc.stdout


def fetch_deb(package: str, version: str, cache: Path) -> Path:
    """Return a cached ``.deb`` of ``package``, downloading it with ``apt-get download`` if needed.

    The exact ``version`` is preferred; if apt no longer offers it, the current one is taken and
    the checksums decide later whether its photos still match.
    """
    cache.mkdir(parents=True, exist_ok=True)
    cached = sorted(cache.glob(f"{package}_*.deb"))
    for deb in cached:
        if (
            _run(["dpkg-deb", "-f", str(deb), "Version"], hint=f"; delete {deb} to download it again").strip()
            == version
        ):
            return deb
    hint = "; run `apt-get update` as root and check the network, or use --from DIR with your own photos"
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        try:
            _run(["apt-get", "download", f"{package}={version}"], cwd=Path(tmp), hint=hint)
        except PhotoError as err:
            log.warning(
                "%s=%s could not be downloaded (%s); trying the current version", package, version, err.args[0][:80]
            )
            _run(["apt-get", "download", package], cwd=Path(tmp), hint=hint)
        (deb,) = Path(tmp).glob("*.deb")
        final = cache / deb.name
        os.replace(deb, final)
    log.info("downloaded %s (%.1f MB)", final.name, final.stat().st_size / 1e6)
    return final


def fetch_packages(out: Path, cache: Path, scale: int = 2, manifest: Mapping[str, Any] | None = None) -> Summary:
    """Extract, verify, downsize and write every photograph of the manifest.

    Raises:
        MissingToolError: if photos are missing and apt-get/dpkg-deb are not installed.
        PhotoError: if a download or extraction fails.
        ManifestMismatchError: if a photo is missing or differs from the manifest's checksum
            in the manifest's package version.
    """
    manifest = manifest if manifest is not None else load_manifest()
    summary, todo = Summary(), []
    for photo in manifest["photos"]:
        before = (photo["width"], photo["height"])
        after = (before[0] // scale, before[1] // scale)
        present = _take_existing(out, photo["name"], photo["split"], after)
        summary.add(photo["split"], before, after, written=not present)
        if not present:
            todo.append(photo)
    if todo:
        require_tools()
    for package in sorted({p["package"] for p in todo}):
        version = manifest["packages"][package]["version"]
        deb = fetch_deb(package, version, cache)
        deb_version = _run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
        with tempfile.TemporaryDirectory() as tmp:
            tar_path = Path(tmp) / "data.tar"
            with tar_path.open("wb") as fh:
                proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=fh, stderr=subprocess.PIPE)
            if proc.returncode != 0:
                raise PhotoError(f"cannot unpack {deb}: {proc.stderr.decode().strip()}; delete it to download again")
            with tarfile.open(tar_path) as tar:
                infos = {i.name.removeprefix("./"): i for i in tar.getmembers()}
                members = {p: _as_member(p, i) for p, i in infos.items()}
                for photo in (p for p in todo if p["package"] == package):
                    real = select_member(members, photo["member"])
                    if real != photo["member"]:
                        log.warning("%s: %s is missing, took %s instead", photo["name"], photo["member"], real)
                    data = tar.extractfile(infos[real]).read()
                    img = _check(photo, data, same_version=deb_version == version)
                    save_image(downsize(img, scale), out / photo["split"] / f"{photo['name']}.png", format="PNG")
                    log.info("%s -> %s/%s.png", real, photo["split"], photo["name"])
    return summary


def _as_member(path: str, info: tarfile.TarInfo) -> Member:
    kind = "file" if info.isfile() else "symlink" if info.issym() else "other"
    return Member(path, kind, info.size, info.linkname)


def _check(photo: Mapping[str, Any], data: bytes, *, same_version: bool) -> np.ndarray:
    img = _decode(Image.open(io.BytesIO(data)), photo["member"])
    problems = []
    if hashlib.sha256(data).hexdigest() != photo["sha256"]:
        problems.append("sha256 differs")
    if (img.shape[1], img.shape[0]) != (photo["width"], photo["height"]):
        problems.append(f"size is {img.shape[1]}x{img.shape[0]}, not {photo['width']}x{photo['height']}")
    if problems and same_version:
        raise ManifestMismatchError(f"{photo['name']}: {', '.join(problems)}; the .deb may be corrupt, delete it")
    if problems:
        log.warning("%s: %s (newer package version); using it anyway", photo["name"], ", ".join(problems))
    return img


def _decode(image: Image.Image, origin: str | Path) -> np.ndarray:
    """Decode to ``(H, W, 3)`` uint8 RGB, honouring EXIF orientation (grey becomes RGB)."""
    try:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise PhotoError(f"cannot decode {origin}: {err}; remove or repair the file") from err


def _oriented_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            w, h = im.size
            return (h, w) if im.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (w, h)
    except (OSError, UnidentifiedImageError) as err:
        raise PhotoError(f"cannot read {path}: {err}; remove or repair the file") from err


def _take_existing(out: Path, name: str, split: str, size: tuple[int, int]) -> bool:
    """True if ``<out>/<split>/<name>.png`` has ``size``; moves it over from the other split."""
    target = out / split / f"{name}.png"
    for candidate in [target] + [out / s / f"{name}.png" for s in SPLITS if s != split]:
        if candidate.is_file():
            with Image.open(candidate) as im:
                if im.size != size:
                    continue
            if candidate != target:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(candidate, target)
            return True
    return False


def save_image(img: np.ndarray, path: Path, **options: Any) -> None:
    """Write via a hidden temporary name, so an interrupted run leaves no half-written image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    Image.fromarray(img).save(part, **options)
    os.replace(part, path)


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
        present = _take_existing(out, name, splits[name], after)
        if not present:
            with Image.open(path) as im:
                save_image(downsize(_decode(im, path), scale), out / splits[name] / f"{name}.png", format="PNG")
            log.info("%s -> %s/%s.png", path, splits[name], name)
        summary.add(splits[name], before, after, written=not present)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m restore.photos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/photos"), help="output folder (default data/photos)")
    parser.add_argument("--from", dest="src", type=Path, help="import this folder of clean photos instead")
    parser.add_argument("--cache", type=Path, default=Path("data/debs"), help="where .deb files are kept")
    parser.add_argument("--scale", type=int, default=2, help="integer downsizing factor (default 2)")
    parser.add_argument("--examples", action="store_true", help="regenerate the app's example photos from <out>/val")
    parser.add_argument("--examples-dir", type=Path, default=Path("assets/examples"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.examples:
            from restore.examples import make_examples  # restore.examples imports this module

            paths = make_examples(args.out, args.examples_dir)
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
    # Run the importable restore.photos, not this __main__ copy: restore.examples raises that
    # module's PhotoError subclasses, and main must catch them.
    from restore.photos import main as _main

    raise SystemExit(_main())
