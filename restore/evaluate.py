"""The public benchmark: PSNR / SSIM per degradation for models and classical baselines.

Run ``python -m restore.evaluate [--models ndr-restore,dfpir:oracle] [--images N] [--size 384]``.
The clean images are the classic colour photos that ship inside Python wheels (scikit-image,
matplotlib, scikit-learn), centre-cropped; each case degrades them with a fixed seed, so every
run scores exactly the same inputs. Scores are RGB, full image (see :mod:`restore.metrics`).

A model is anything with ``restore(img, upscale=..., [task=...]) -> uint8 RGB``; a name ending in
``:oracle`` is also told the true degradation types (``task=case.types``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import sys
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from restore.baselines import BASELINES, chain_for, restore_classical
from restore.degradations import DEGRADATION_TYPES, degrade, downscale, to_tensor, to_uint8, upscale
from restore.metrics import psnr, ssim

logger = logging.getLogger(__name__)

ORACLE_SUFFIX = ":oracle"
#: DFPIR blind, routed by the single most likely type instead of the probability blend.
DOMINANT_SUFFIX = ":dominant"
INPUT = "input"
CHAIN = "chain"


class RestorerLike(Protocol):
    """What the evaluator needs from a model (e.g. :class:`restore.Restorer`)."""

    def restore(self, img: np.ndarray, *, upscale: int = 1, **kwargs: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class Case:
    """One benchmark degradation.

    Attributes:
        name: row label, e.g. ``"noise25"``.
        spec: ``{type: {param: value}}`` for :func:`restore.degradations.degrade`. A ``lowres``
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


# --------------------------------------------------------------------------- running


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


@dataclass(frozen=True)
class Method:
    """A scored column: ``run(sample, case)`` -> uint8 RGB, on the cases where ``applies``."""

    name: str
    run: Callable[[Sample, Case], np.ndarray]
    applies: Callable[[Case], bool] = lambda case: True


def _model_method(name: str, restorer: RestorerLike) -> Method:
    if name.endswith(ORACLE_SUFFIX):
        return Method(name, lambda s, c: restorer.restore(s.image, upscale=c.upscale, task=c.types))
    if name.endswith(DOMINANT_SUFFIX):
        return Method(name, lambda s, c: restorer.restore(s.image, upscale=c.upscale, routing="dominant"))
    return Method(name, lambda s, c: restorer.restore(s.image, upscale=c.upscale))


def _baseline_method(name: str) -> Method:
    if name == CHAIN:
        # Only for mixtures where more than one classical method takes part.
        return Method(
            CHAIN,
            lambda s, c: restore_classical(s.image, c.types, upscale=c.upscale),
            lambda c: len(chain_for(c.types)) > 1,
        )
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; available: {', '.join(available_baselines())}")
    b = BASELINES[name]
    return Method(name, lambda s, c: b(s.image, upscale=c.upscale, kernel=s.kernel), lambda c: b.applies_to(c.types))


def available_baselines() -> tuple[str, ...]:
    """Every classical column: the registry's methods plus ``"chain"`` (mixtures)."""
    return (*BASELINES, CHAIN)


@dataclass
class Report:
    """All scores of one run.

    Attributes:
        scores: ``case -> method -> image -> (psnr, ssim)``; a method absent from a case's dict
            does not apply to it.
        seconds, megapixels: per method, total restore time and total output size.
    """

    images: tuple[str, ...]
    cases: tuple[Case, ...]
    methods: tuple[str, ...]
    scores: dict[str, dict[str, dict[str, tuple[float, float]]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    megapixels: dict[str, float] = field(default_factory=dict)

    def mean(self, case: str, method: str) -> tuple[float, float] | None:
        """Mean (PSNR, SSIM) over images, or ``None`` where the method does not apply."""
        per_image = self.scores.get(case, {}).get(method)
        if not per_image:
            return None
        values = np.array(list(per_image.values()), dtype=np.float64)
        return float(values[:, 0].mean()), float(values[:, 1].mean())

    def overall(self, method: str) -> tuple[float, float, int] | None:
        """Mean over the cases where ``method`` applies: (PSNR, SSIM, number of cases)."""
        means = [m for c in self.cases if (m := self.mean(c.name, method)) is not None]
        if not means:
            return None
        return float(np.mean([m[0] for m in means])), float(np.mean([m[1] for m in means])), len(means)

    def seconds_per_megapixel(self, method: str) -> float | None:
        mp = self.megapixels.get(method, 0.0)
        return self.seconds[method] / mp if mp > 0 else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; an infinite PSNR (identical images) is written as ``null``."""

        def num(v: float) -> float | None:
            return round(v, 5) if math.isfinite(v) else None

        results: dict[str, Any] = {}
        for c in self.cases:
            results[c.name] = {}
            for m, per_image in self.scores[c.name].items():
                values = np.array(list(per_image.values()), dtype=np.float64)
                results[c.name][m] = {
                    "psnr": num(float(values[:, 0].mean())),
                    "ssim": num(float(values[:, 1].mean())),
                    "per_image": {i: {"psnr": num(p), "ssim": num(s)} for i, (p, s) in per_image.items()},
                }
        overall = {m: o for m in self.methods if (o := self.overall(m)) is not None}
        return {
            "meta": {
                "images": list(self.images),
                "cases": [
                    {"name": c.name, "spec": c.spec, "seed": c.seed, "upscale": c.upscale, "types": list(c.types)}
                    for c in self.cases
                ],
                "methods": list(self.methods),
                "metrics": "PSNR (dB) and SSIM (Gaussian 11x11, sigma 1.5), RGB, full image",
                "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
                "python": platform.python_version(),
            },
            "results": results,
            "mean": {m: {"psnr": num(p), "ssim": num(s), "cases": n} for m, (p, s, n) in overall.items()},
            "seconds_per_megapixel": {m: self.seconds_per_megapixel(m) for m in self.methods if m != INPUT},
        }


def evaluate(
    images: Mapping[str, np.ndarray],
    *,
    cases: Sequence[Case] = CASES,
    restorers: Mapping[str, RestorerLike] | None = None,
    baselines: Sequence[str] | None = None,
    progress: bool = False,
) -> Report:
    """Score the degraded inputs, classical baselines and models on every case and image.

    Args:
        images: ``{name: HxWx3 uint8 RGB}`` clean images (sides multiples of 4 for lowres cases).
        cases: the degradations to score.
        restorers: ``{column name: object with .restore}``; a name ending in ``":oracle"`` is
            called with ``task=case.types``.
        baselines: keys of :data:`restore.baselines.BASELINES` or ``"chain"`` (the classical
            chain, on mixtures only); ``None`` means all of :func:`available_baselines`.
        progress: show a tqdm bar on stderr.

    Returns:
        The :class:`Report`.
    """
    methods = [_baseline_method(b) for b in (available_baselines() if baselines is None else baselines)]
    methods += [_model_method(n, r) for n, r in (restorers or {}).items()]
    names = (INPUT, *(m.name for m in methods))
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique, got {names}")
    report = Report(tuple(images), tuple(cases), names)
    for m in names[1:]:
        report.seconds[m] = 0.0
        report.megapixels[m] = 0.0
    bar = tqdm(total=len(cases) * len(images), file=sys.stderr, disable=not progress, unit="img")
    for case in cases:
        bar.set_description(case.name)
        row = report.scores.setdefault(case.name, {})
        for image_name, clean in images.items():
            sample = make_sample(clean, case, image_name)
            row.setdefault(INPUT, {})[image_name] = (psnr(clean, sample.input_view), ssim(clean, sample.input_view))
            for m in methods:
                if not m.applies(case):
                    continue
                start = time.perf_counter()
                out = np.asarray(m.run(sample, case))
                report.seconds[m.name] += time.perf_counter() - start
                if out.shape != clean.shape or out.dtype != np.uint8:
                    raise ValueError(
                        f"{m.name} returned {out.dtype} {out.shape} on {case.name}/{image_name}; "
                        f"expected uint8 {clean.shape}"
                    )
                report.megapixels[m.name] += out.shape[0] * out.shape[1] / 1e6
                row.setdefault(m.name, {})[image_name] = (psnr(clean, out), ssim(clean, out))
            bar.update(1)
    bar.close()
    return report


# --------------------------------------------------------------------------- output


def markdown(report: Report) -> str:
    """The results as a Markdown table: rows are cases, columns methods, cells ``PSNR / SSIM``.

    The best PSNR of each row is bold and named in the last column; the ``mean`` row averages
    each method over the cases it applies to (their number in brackets); the last row gives
    seconds per megapixel of output.
    """
    # A column no case applies to (e.g. rl-oracle without a blur case) would be all dashes.
    cols = tuple(m for m in report.methods if any(m in row for row in report.scores.values()))
    lines = [
        f"PSNR (dB) / SSIM, RGB full image, mean over {len(report.images)} images ({', '.join(report.images)}).",
        "",
        "| case | " + " | ".join(cols) + " | best |",
        "|---|" + "---|" * (len(cols) + 1),
    ]
    for c in report.cases:
        means = {m: report.mean(c.name, m) for m in cols}
        scored = {m: v for m, v in means.items() if v is not None}
        best = max(scored, key=lambda m: scored[m][0])
        cells = []
        for m in cols:
            v = means[m]
            cell = "—" if v is None else f"{v[0]:.2f} / {v[1]:.3f}"
            cells.append(f"**{cell}**" if m == best else cell)
        lines.append(f"| {c.name} | " + " | ".join(cells) + f" | {best} |")
    mean_cells = []
    for m in cols:
        o = report.overall(m)
        mean_cells.append("—" if o is None else f"{o[0]:.2f} / {o[1]:.3f} ({o[2]})")
    lines.append("| **mean** (cases) | " + " | ".join(mean_cells) + " | |")
    speed = [(f"{s:.3g}" if (s := report.seconds_per_megapixel(m)) is not None else "—") for m in cols[1:]]
    lines.append("| seconds / MP | — | " + " | ".join(speed) + " | |")
    return "\n".join(lines) + "\n"


def load_restorers(names: Sequence[str]) -> dict[str, RestorerLike]:
    """Load models by name with ``Restorer.from_pretrained``; ``"x:oracle"`` reuses model ``x``."""
    if not names:
        return {}
    from restore import Restorer

    loaded: dict[str, RestorerLike] = {}
    out: dict[str, RestorerLike] = {}
    for name in names:
        base = name.removesuffix(ORACLE_SUFFIX).removesuffix(DOMINANT_SUFFIX)
        if base not in loaded:
            loaded[base] = Restorer.from_pretrained(base)
        out[name] = loaded[base]
    return out


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    """CLI: score the benchmark, print the Markdown table, write JSON (and Markdown)."""
    parser = argparse.ArgumentParser(prog="python -m restore.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        type=_csv,
        default=None,
        help="comma-separated model names, e.g. ndr-restore,dfpir,dfpir:oracle,dfpir:dominant; 'none' for "
        "none (default: every shipped model, and dfpir also as dfpir:oracle)",
    )
    parser.add_argument(
        "--baselines",
        type=_csv,
        default=None,
        help=f"comma-separated classical methods (default: {','.join(available_baselines())}); 'none' for none",
    )
    parser.add_argument(
        "--cases",
        type=_csv,
        default=None,
        help=f"comma-separated cases (default: all: {','.join(c.name for c in CASES)})",
    )
    parser.add_argument("--images", type=int, default=None, help="use only the first N benchmark images")
    parser.add_argument("--size", type=int, default=384, help="centre-crop side (default 384)")
    parser.add_argument("--out", type=Path, default=Path("runs/eval"), help="output folder")
    parser.add_argument("--json", type=Path, default=None, help="JSON path (default OUT/results.json)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    by_name = {c.name: c for c in CASES}
    unknown = [n for n in args.cases or () if n not in by_name]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; valid: {', '.join(by_name)}")
    cases = [by_name[n] for n in args.cases] if args.cases else list(CASES)
    baselines = [] if args.baselines == ["none"] else args.baselines
    unknown = [n for n in baselines or () if n not in available_baselines()]
    if unknown:
        parser.error(f"unknown baseline(s) {unknown}; available: {', '.join(available_baselines())}")

    images = benchmark_images(args.size, limit=args.images)
    if args.models is None:
        from restore.inference import available_models

        args.models = [m for n in available_models() for m in ((n, f"{n}{ORACLE_SUFFIX}") if n == "dfpir" else (n,))]
    restorers = load_restorers([] if args.models == ["none"] else args.models)
    start = time.perf_counter()
    report = evaluate(images, cases=cases, restorers=restorers, baselines=baselines, progress=True)
    table = markdown(report)
    logger.info("evaluated %d cases x %d images in %.1f s", len(cases), len(images), time.perf_counter() - start)
    print(table)

    json_path = args.json or args.out / "results.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report.to_json(), indent=1, allow_nan=False))
    logger.info("wrote %s", json_path)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
        logger.info("wrote %s", args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
