"""Shared pieces of the photo pipeline: its errors, the manifest, and reading and writing photos.

Both sources of training photographs use them: :mod:`restore.data.debian` (the manifest's Debian
packages) and :mod:`restore.data.photos` (the command line, and a folder of your own).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MANIFEST_PATH = Path(__file__).with_name("photos_manifest.json")
SPLITS: tuple[str, ...] = ("train", "val")
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")


class PhotoError(RuntimeError):
    """A photo source cannot be used; the message says what to do instead."""


class ManifestMismatchError(PhotoError):
    """A package does not contain what ``photos_manifest.json`` expects."""


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


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, Any]:
    """Read the photo manifest and check that names are unique and splits are known."""
    manifest = json.loads(path.read_text(encoding="utf-8"))
    names = [p["name"] for p in manifest["photos"]]
    if len(set(names)) != len(names):
        raise ManifestMismatchError(f"{path} lists a photo name twice")
    if bad := [p["name"] for p in manifest["photos"] if p["split"] not in SPLITS]:
        raise ManifestMismatchError(f"{path}: unknown split for {bad}; use one of {SPLITS}")
    return manifest


def decode_photo(image: Image.Image, origin: str | Path) -> np.ndarray:
    """Decode to ``(H, W, 3)`` uint8 RGB, honouring EXIF orientation (grey becomes RGB)."""
    try:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise PhotoError(f"cannot decode {origin}: {err}; remove or repair the file") from err


def take_existing(out: Path, name: str, split: str, size: tuple[int, int]) -> bool:
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
