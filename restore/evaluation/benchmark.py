"""The benchmark definition: the clean images, the degradation cases and the seeded inputs.

The clean images are the classic colour photos that ship inside Python wheels (scikit-image,
matplotlib, scikit-learn), centre-cropped (:func:`benchmark_images`). Each :class:`Case` degrades
them with a fixed seed (:func:`make_sample`), so every run scores exactly the same inputs.
:mod:`restore.evaluation.evaluate` scores models and baselines on them; :mod:`restore.evaluation.detection` checks the
degradation estimators on them.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from restore.images import to_tensor, to_uint8
from restore.synthesis.ops import downscale, upscale
from restore.synthesis.registry import DEGRADATION_TYPES, degrade

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Case:
    """One benchmark degradation.

    Attributes:
        name: row label, e.g. ``"noise25"``.
        spec: ``{type: {param: value}}`` for :func:`restore.synthesis.registry.degrade`. A ``lowres``
            entry is realised as a real downscale: the restorer receives the small image.
        seed: base seed (each image adds its own fixed offset).
        upscale: the factor a restorer must upscale by (1 unless ``lowres``).
        types: the true degradation types (what an oracle model is told).
    """

    name: str
    spec: Mapping[str, Mapping[str, float]]
    seed: int
    upscale: int = 1
    types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if set(self.types) != set(self.spec) or not set(self.types) <= set(DEGRADATION_TYPES):
            raise ValueError(f"case {self.name}: types {self.types} must name exactly the spec's {tuple(self.spec)}")
        scale = self.spec.get("lowres", {}).get("scale", 1)
        if scale != self.upscale:
            raise ValueError(f"case {self.name}: upscale={self.upscale} must equal the lowres scale {scale}")


_RAIN = {"density": 0.6, "length": 22, "angle": 10, "width": 1.1, "brightness": 0.75}
_HAZE = {"beta": 1.6, "airlight": 0.85}
_LOWLIGHT = {"gain": 0.25, "gamma": 1.6, "noise": 6.0}

CASES: tuple[Case, ...] = (
    Case("noise15", {"noise": {"sigma": 15, "signal": 0}}, 11, types=("noise",)),
    Case("noise25", {"noise": {"sigma": 25, "signal": 0}}, 12, types=("noise",)),
    Case("noise50", {"noise": {"sigma": 50, "signal": 0}}, 13, types=("noise",)),
    Case("rain", {"rain": _RAIN}, 21, types=("rain",)),
    Case("haze", {"haze": _HAZE}, 31, types=("haze",)),
    Case("blur", {"blur": {"length": 15, "shake": 0.5}}, 41, types=("blur",)),
    Case("lowres-x2", {"lowres": {"scale": 2}}, 51, upscale=2, types=("lowres",)),
    Case("lowres-x4", {"lowres": {"scale": 4}}, 52, upscale=4, types=("lowres",)),
    Case("lowlight", {"lowlight": _LOWLIGHT}, 61, types=("lowlight",)),
    Case(
        "lowlight+noise", {"lowlight": _LOWLIGHT, "noise": {"sigma": 15, "signal": 0}}, 71, types=("lowlight", "noise")
    ),
    Case("haze+noise", {"haze": _HAZE, "noise": {"sigma": 25, "signal": 0}}, 72, types=("haze", "noise")),
    Case("rain+haze", {"rain": _RAIN, "haze": {"beta": 1.2, "airlight": 0.85}}, 73, types=("rain", "haze")),
)


# --------------------------------------------------------------------------- images


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        img = skimage.data.stereo_motorcycle()[0] if name == "stereo_motorcycle" else getattr(skimage.data, name)()
        return np.asarray(img)

    return load


def _grace_hopper() -> np.ndarray:
    from matplotlib.cbook import get_sample_data
    from PIL import Image

    with get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


BENCHMARK: tuple[tuple[str, Callable[[], np.ndarray]], ...] = (
    ("astronaut", _skimage("astronaut")),
    ("chelsea", _skimage("chelsea")),
    ("coffee", _skimage("coffee")),
    ("rocket", _skimage("rocket")),
    ("motorcycle", _skimage("stereo_motorcycle")),
    ("grace_hopper", _grace_hopper),
    ("china", _sklearn("china.jpg")),
    ("flower", _sklearn("flower.jpg")),
)


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    """Centre crop to at most ``size`` x ``size``, each side rounded down to a multiple of 4.

    Multiples of 4 keep the x2 and x4 low-resolution cases exact.
    """
    h, w = img.shape[:2]
    ch, cw = min(h, size) // 4 * 4, min(w, size) // 4 * 4
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(img[top : top + ch, left : left + cw])


def benchmark_images(size: int = 384, limit: int | None = None) -> dict[str, np.ndarray]:
    """The benchmark photos, centre-cropped to at most ``size`` x ``size``.

    Images that cannot be loaded offline (a missing package or data file) are skipped with a
    logged warning. ``limit`` keeps only the first that many loadable images.

    Returns:
        ``{name: HxWx3 uint8 RGB}`` in a fixed order.
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 px, got {size}")
    out: dict[str, np.ndarray] = {}
    for name, load in BENCHMARK:
        if limit is not None and len(out) >= limit:
            break
        try:
            img = load()
        except (ImportError, OSError, ValueError) as e:
            logger.warning("skipping benchmark image %s: %s", name, e)
            continue
        out[name] = center_crop(img[..., :3].astype(np.uint8), size)
    if not out:
        raise RuntimeError("no benchmark image could be loaded; install scikit-image, matplotlib or scikit-learn")
    return out


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    """One degraded benchmark input, what a method sees.

    Attributes:
        image: ``hxwx3`` uint8 RGB given to restorers (the small image for lowres cases).
        reference: ``HxWx3`` uint8 RGB clean image.
        input_view: ``HxWx3`` uint8 RGB the "input" column scores (bicubic-upscaled if small).
        kernel: ``KxK`` true blur kernel, or ``None`` (for oracle baselines only).
    """

    image: np.ndarray
    reference: np.ndarray
    input_view: np.ndarray
    kernel: np.ndarray | None


def make_sample(clean: np.ndarray, case: Case, image_name: str) -> Sample:
    """Degrade ``clean`` (``HxWx3`` uint8) for ``case``, seeded by the case and the image name."""
    seed = case.seed * 1_000_003 + zlib.crc32(image_name.encode())
    x = to_tensor(clean)
    spec = {k: v for k, v in case.spec.items() if k != "lowres"}
    degraded = degrade(x, spec, seed=seed) if spec else None
    y = degraded.image if degraded is not None else x
    kernel = None
    if degraded is not None and "blur_kernel" in degraded.extras:
        kernel = degraded.extras["blur_kernel"][0].cpu().numpy()
    if case.upscale > 1:
        small = to_uint8(downscale(y, case.upscale))
        view = to_uint8(upscale(to_tensor(small), tuple(clean.shape[:2])))
        return Sample(small, clean, view, kernel)
    img = to_uint8(y)
    return Sample(img, clean, img, kernel)
