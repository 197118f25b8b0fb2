"""The public benchmark: PSNR / SSIM per degradation for models and classical baselines.

Run ``python -m restore.evaluation.evaluate [--models ndr-restore,dfpir:oracle] [--images N] [--size 384]``.
The images, cases and seeded inputs are defined in :mod:`restore.evaluation.benchmark` (re-exported here as
``CASES``, ``Case``, ``benchmark_images`` and ``make_sample``), so every run scores exactly the
same inputs. Scores are RGB, full image (see :mod:`restore.evaluation.metrics`).

A model is anything with ``restore(img, upscale=..., [task=...]) -> uint8 RGB``; a name ending in
``:oracle`` is also told the true degradation types (``task=case.types``), one ending in ``:raw``
is scored without the refinements (``refine=False``: the network alone), one ending in
``:no-wiener``, ``:no-haze`` or ``:no-backproject`` with all refinements but that one (what each
one earns), and ``:dominant`` routes DFPIR by its most likely type.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from restore.evaluation.baselines import BASELINES, chain_for, restore_classical
from restore.evaluation.benchmark import CASES, Case, Sample, benchmark_images, make_sample
from restore.evaluation.metrics import psnr, ssim
from restore.evaluation.model_columns import (
    DOMINANT_SUFFIX,
    ORACLE_SUFFIX,
    RAW_SUFFIX,
    SUFFIXES,
    WITHOUT_SUFFIXES,
    RestorerLike,
    load_restorers,
    refine_argument,
)

# The model columns' names (suffixes, refine_argument, RestorerLike, load_restorers) live in
# restore.evaluation.model_columns, shared with the paper suite; callers reach them here too.
__all__ = [
    "CASES",
    "CHAIN",
    "DOMINANT_SUFFIX",
    "INPUT",
    "ORACLE_SUFFIX",
    "RAW_SUFFIX",
    "SUFFIXES",
    "WITHOUT_SUFFIXES",
    "Case",
    "Method",
    "Report",
    "RestorerLike",
    "available_baselines",
    "benchmark_images",
    "evaluate",
    "load_restorers",
    "main",
    "make_sample",
    "markdown",
    "refine_argument",
]

logger = logging.getLogger(__name__)

INPUT = "input"
CHAIN = "chain"


# --------------------------------------------------------------------------- running


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
    refine = refine_argument(name)
    if refine is not True:
        return Method(name, lambda s, c: restorer.restore(s.image, upscale=c.upscale, refine=refine))
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
        baselines: keys of :data:`restore.evaluation.baselines.BASELINES` or ``"chain"`` (the classical
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


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _suite_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--suite",
        choices=("benchmark", "paper"),
        default="benchmark",
        help="benchmark (default): the synthetic cases below; paper: the papers' test sets "
        "(options --paper-data PATH, --models, --limit N, --out FILE.md, --csv FILE: see "
        "`--suite paper --help`)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI: score the benchmark, print the Markdown table, write JSON (and Markdown).

    ``--suite paper`` hands the other arguments to :func:`restore.evaluation.paper_suite.main` instead.
    """
    suite, rest = _suite_parser().parse_known_args(argv)
    if suite.suite == "paper":
        from restore.evaluation.paper_suite import main as paper_main

        return paper_main(rest)
    parser = argparse.ArgumentParser(
        prog="python -m restore.evaluation.evaluate",
        description=__doc__.split("\n\n")[0],
        parents=[_suite_parser()],
    )
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
        from restore.inference.loading import available_models

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
