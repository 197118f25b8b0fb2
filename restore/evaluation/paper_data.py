"""The paper suite's data: its test sets, read and cropped by the papers' protocol, and Y-channel scoring.

The images are read from a paper data folder (default: ``$RESTORE_PAPER_DATA``, else
``../shared/paper_data`` beside the repository; its ``SOURCES.md`` says where each image came from).
They are evaluation data only.

Protocol (PromptIR / DFPIR test code):

* noise (CBSD68, Kodak24, McMaster): each clean image centre-cropped to a multiple of 16; one
  ``np.random.seed(0)`` per set, then for sigma 15, 25, 50 in turn and every image in sorted-name
  order ``clip(clean + sigma * randn(H, W, 3), 0, 255).astype(uint8)``. With ``limit`` the noise is
  still drawn for the whole set, so the first N inputs are exactly those of a full run.
* pairs (Rain-NDR5, Rain-MFDNet3, SOTS-outdoor-NDR5): input vs target, both centre-cropped to a
  multiple of 16.
* super-resolution (Set5, Set14, x2 and x4): HR cropped (top-left) to a multiple of s, LR by PIL
  bicubic; the model gets LR with ``upscale=s``; PSNR / SSIM on the BT.601 luma (MATLAB ``rgb2ycbcr``,
  float in [16, 235]) with s pixels shaved from each border. The reference row is PIL-bicubic upscaling.
* elsewhere PSNR / SSIM on uint8 RGB, data range 255, full image (:mod:`restore.evaluation.metrics`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from restore.evaluation.metrics import psnr, ssim

PAPER_DATA_ENV = "RESTORE_PAPER_DATA"
SIGMAS = (15, 25, 50)
SCALES = (2, 4)
CROP_BASE = 16
INPUT = "input"
BICUBIC = "bicubic"
IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")


class PaperDataError(FileNotFoundError):
    """The paper data folder, or one of its sets, is missing or malformed."""


@dataclass(frozen=True)
class PaperCase:
    """One column of the suite.

    Attributes:
        name: the column label, e.g. ``"CBSD68 s25"``.
        folder: the set's folder under the paper data.
        kind: ``"noise"``, ``"pair"`` or ``"sr"``.
        types: the true degradation types (what a ``:oracle`` model is told).
        sigma: noise level (noise cases).
        scale: super-resolution factor (1 elsewhere).
    """

    name: str
    folder: str
    kind: str
    types: tuple[str, ...]
    sigma: int = 0
    scale: int = 1

    @property
    def reference(self) -> str:
        """The row a model's gain is measured against."""
        return BICUBIC if self.kind == "sr" else INPUT

    @property
    def flags_shift(self) -> bool:
        """Whether a large brightness shift is flagged (not for haze: dehazing legitimately changes it)."""
        return self.types != ("haze",)


CASES: tuple[PaperCase, ...] = (
    *(
        PaperCase(f"{folder} s{s}", folder, "noise", ("noise",), sigma=s)
        for folder in ("CBSD68", "Kodak24", "McMaster")
        for s in SIGMAS
    ),
    PaperCase("Rain-NDR5", "Rain-NDR5", "pair", ("rain",)),
    PaperCase("Rain-MFDNet3", "Rain-MFDNet3", "pair", ("rain",)),
    PaperCase("SOTS-NDR5", "SOTS-outdoor-NDR5", "pair", ("haze",)),
    *(PaperCase(f"{folder} x{s}", folder, "sr", ("lowres",), scale=s) for folder in ("Set5", "Set14") for s in SCALES),
)


@dataclass(frozen=True)
class Sample:
    """One scored image: what the model gets, the ground truth and (SR) the bicubic reference."""

    image: str
    input: np.ndarray
    target: np.ndarray
    bicubic: np.ndarray | None = None


def default_paper_data() -> Path:
    """``$RESTORE_PAPER_DATA``, else ``../shared/paper_data`` relative to the repository root."""
    env = os.environ.get(PAPER_DATA_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "paper_data"


def read_rgb(path: Path) -> np.ndarray:
    """An image file as ``HxWx3`` uint8 RGB (greyscale is repeated into three channels)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def center_crop(img: np.ndarray, base: int = CROP_BASE) -> np.ndarray:
    """Crop ``img`` to sides divisible by ``base``, the odd pixel (if any) taken from the bottom / right."""
    h, w = img.shape[:2]
    dh, dw = h % base, w % base
    return img[dh // 2 : h - dh + dh // 2, dw // 2 : w - dw + dw // 2]


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom / right so both sides divide by ``scale`` (the SR convention)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def pil_bicubic(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """PIL ``BICUBIC`` resize of uint8 RGB to ``width x height``."""
    return np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.BICUBIC))


def y_channel(img: np.ndarray) -> np.ndarray:
    """BT.601 luma as MATLAB's ``rgb2ycbcr``: ``HxWx3`` uint8 RGB -> ``HxW`` float64 in [16, 235]."""
    rgb = img.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def y_scores(out: np.ndarray, target: np.ndarray, shave: int) -> tuple[float, float]:
    """(PSNR, SSIM) on Y with ``shave`` pixels dropped from every border."""
    ya, yb = y_channel(out), y_channel(target)
    if shave:
        ya, yb = ya[shave:-shave, shave:-shave], yb[shave:-shave, shave:-shave]
    # metrics.ssim averages over three channels: three copies of Y give Y's own SSIM.
    return psnr(ya, yb), ssim(np.repeat(ya[..., None], 3, -1), np.repeat(yb[..., None], 3, -1))


def image_files(folder: Path) -> list[Path]:
    """The images in ``folder``, sorted by file name."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name)


def _pair_target(target_dir: Path, name: str) -> Path:
    """The target of input ``name``: the same name, else the id before the first ``_``
    (SOTS: ``0001_0.8_0.2.png`` -> ``0001.png``)."""
    for candidate in (name, name.split("_")[0] + Path(name).suffix):
        if (target_dir / candidate).is_file():
            return target_dir / candidate
    raise PaperDataError(f"no target for {name} in {target_dir}")


def check_sets(root: Path, cases: Sequence[PaperCase] = CASES) -> None:
    """Raise :class:`PaperDataError` (one line) if ``root`` or any set the cases need is missing."""
    if not root.is_dir():
        raise PaperDataError(f"paper data folder {root} not found; pass --paper-data PATH or set {PAPER_DATA_ENV}")
    missing = []
    for folder, kind in dict.fromkeys((c.folder, c.kind) for c in cases):
        dirs = (root / folder / "input", root / folder / "target") if kind == "pair" else (root / folder,)
        if not all(d.is_dir() and image_files(d) for d in dirs):
            missing.append(folder + ("/{input,target}" if kind == "pair" else ""))
    if missing:
        raise PaperDataError(f"paper data set(s) missing or empty under {root}: {', '.join(missing)}")


def build_samples(root: Path, cases: Sequence[PaperCase] = CASES, limit: int | None = None) -> dict[str, list[Sample]]:
    """Every case's samples, ``{case name: [Sample]}``, in sorted-name order, first ``limit`` per set."""
    check_sets(root, cases)
    out: dict[str, list[Sample]] = {}
    for folder in dict.fromkeys(c.folder for c in cases):
        group = [c for c in cases if c.folder == folder]
        kind = group[0].kind
        if kind == "noise":
            clean = {p.name: center_crop(read_rgb(p)) for p in image_files(root / folder)}
            # One stream for the whole set, all sigmas (PromptIR's test script seeds once).
            rng = np.random.RandomState(0)  # the same stream as np.random.seed(0); np.random.randn
            for sigma in SIGMAS:
                noisy = {
                    n: np.clip(c.astype(np.float64) + sigma * rng.randn(*c.shape), 0, 255).astype(np.uint8)
                    for n, c in clean.items()
                }
                for case in (c for c in group if c.sigma == sigma):
                    out[case.name] = [Sample(n, noisy[n], clean[n]) for n in list(clean)[:limit]]
        elif kind == "pair":
            samples = []
            for p in image_files(root / folder / "input")[:limit]:
                inp, tgt = read_rgb(p), read_rgb(_pair_target(root / folder / "target", p.name))
                if inp.shape != tgt.shape:
                    raise PaperDataError(f"{folder}: {p.name} input {inp.shape} and target {tgt.shape} differ")
                samples.append(Sample(p.name, center_crop(inp), center_crop(tgt)))
            for case in group:
                out[case.name] = samples
        else:
            files = image_files(root / folder)[:limit]
            for case in group:
                s = case.scale
                out[case.name] = []
                for p in files:
                    hr = mod_crop(read_rgb(p), s)
                    h, w = hr.shape[:2]
                    lr = pil_bicubic(hr, w // s, h // s)
                    out[case.name].append(Sample(p.name, lr, hr, pil_bicubic(lr, w, h)))
    return out
