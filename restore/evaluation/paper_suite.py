"""The paper suite: models scored on the public test images the papers report on, by their protocol.

Run ``python -m restore.evaluation.evaluate --suite paper [--paper-data PATH] [--models ...]
[--kinds noise,pair,sr] [--oracle-on pair|all] [--limit N] [--out docs/paper-suite.md] [--csv FILE]
[--threads N]``. The images are read from
``--paper-data`` (default: ``$RESTORE_PAPER_DATA``, else ``../shared/paper_data`` beside the repository;
its ``SOURCES.md`` says where each image came from). They are evaluation data only.

This module runs the models and is the command line: the test sets and their protocol are
:mod:`restore.evaluation.paper_data`'s, the results and the Markdown / CSV report
:mod:`restore.evaluation.paper_report`'s.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from restore.evaluation.metrics import psnr, ssim
from restore.evaluation.model_columns import (
    DOMINANT_SUFFIX,
    ORACLE_SUFFIX,
    RestorerLike,
    load_restorers,
    refine_argument,
)
from restore.evaluation.paper_data import (
    BICUBIC,
    CASES,
    INPUT,
    PAPER_DATA_ENV,
    PaperCase,
    PaperDataError,
    build_samples,
    check_sets,
    default_paper_data,
    y_scores,
)
from restore.evaluation.paper_report import ImageResult, PaperReport, markdown, write_csv

logger = logging.getLogger(__name__)

DEFAULT_MODELS = ("ndr-restore", "ndr-restore:raw", "ndr-restore:oracle", "dfpir", "dfpir:raw", "dfpir:oracle")
#: The kinds of sets the ``:oracle`` rows are scored on by default: the pairs, where the estimator
#: may miss the type (on the noise and SR sets the type is not in doubt, and the run is long).
ORACLE_KINDS = ("pair",)
#: The kinds of sets on which each model's estimator is asked for the true type's probability.
ESTIMATE_KINDS = ("pair",)
KINDS = ("noise", "pair", "sr")


def _restore(name: str, restorer: RestorerLike, case: PaperCase, img: np.ndarray) -> np.ndarray:
    """``restorer`` on ``img`` as the row ``name`` asks: ``:raw`` unrefined, ``:oracle`` told the case's
    true types, ``:dominant`` with dominant routing; ``HxWx3`` uint8 RGB in and out."""
    kwargs: dict[str, object] = {"upscale": case.scale}
    refine = refine_argument(name)
    if refine is not True:
        kwargs["refine"] = refine
    elif name.endswith(ORACLE_SUFFIX):
        kwargs["task"] = case.types
    elif name.endswith(DOMINANT_SUFFIX):
        kwargs["routing"] = "dominant"
    return np.asarray(restorer.restore(img, **kwargs))


def estimate(restorer: RestorerLike, case: PaperCase, img: np.ndarray) -> tuple[str, float, str, float] | None:
    """What ``restorer``'s estimator reads on ``img``: (whose estimator, the probability of the case's
    first true type, the likeliest type, its probability); None for a model without one."""
    if not getattr(restorer, "has_estimator", False) or not hasattr(restorer, "analyze"):
        return None
    probs = dict(restorer.analyze(img).probabilities)
    top = max(probs, key=lambda t: probs[t])
    who = str(getattr(restorer, "estimator_name", None) or getattr(restorer, "name", ""))
    return who, float(probs.get(case.types[0], float("nan"))), top, float(probs[top])


def _score(case: PaperCase, out: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """(PSNR, SSIM, brightness shift) of ``out`` against ``target``."""
    shift = float(np.mean(out.astype(np.float64) - target.astype(np.float64)))
    if case.kind == "sr":
        return (*y_scores(out, target, case.scale), shift)
    return psnr(out, target), ssim(out, target), shift


def machine_description(restorers: Mapping[str, RestorerLike] | None = None) -> str:
    """E.g. ``"2-core x86_64 CPU, torch 2.13.0 CPU, 1 thread"``."""
    import torch

    devices = {str(getattr(r, "device", "cpu")).split(":")[0] for r in (restorers or {}).values()}
    where = "CUDA" if "cuda" in devices else "CPU"
    n = torch.get_num_threads()
    version = torch.__version__.split("+")[0]
    return f"{os.cpu_count()}-core {platform.machine()} CPU, torch {version} {where}, {n} thread{'s' * (n != 1)}"


def run_suite(
    root: Path,
    restorers: Mapping[str, RestorerLike],
    *,
    cases: Sequence[PaperCase] = CASES,
    limit: int | None = None,
    progress: bool = False,
    oracle_kinds: Collection[str] | None = ORACLE_KINDS,
) -> PaperReport:
    """Score the ``input`` / ``bicubic`` reference rows and every model on every case's images.

    Args:
        root: the paper data folder.
        restorers: ``{row name: model}``; a name ending in ``:raw`` runs with ``refine=False``, ``:oracle``
            with the true types, ``:dominant`` with dominant routing.
        cases: the columns to score.
        limit: only the first N images (sorted names) of every set.
        progress: a tqdm bar on stderr.
        oracle_kinds: the kinds of cases (``"noise"``, ``"pair"``, ``"sr"``) the ``:oracle`` rows are
            scored on (default :data:`ORACLE_KINDS`); None: every case.

    On the cases of :data:`ESTIMATE_KINDS` every model row also records its estimator's reading of
    the input (``ImageResult.p_true``, ``likeliest``, ``estimator``; one reading per estimator).

    Returns:
        The :class:`PaperReport`.

    Raises:
        PaperDataError: the folder or a set is missing.
        ValueError: a model returned the wrong shape or dtype.
    """
    start = time.perf_counter()
    samples = build_samples(root, cases, limit)
    results: list[ImageResult] = []

    def scored(name: str, case: PaperCase) -> bool:
        return not name.endswith(ORACLE_SUFFIX) or oracle_kinds is None or case.kind in oracle_kinds

    readings: dict[tuple[int, str, str], tuple[str, float, str, float] | None] = {}
    bar = tqdm(
        total=sum(len(samples[c.name]) * max(1, sum(scored(n, c) for n in restorers)) for c in cases),
        file=sys.stderr,
        disable=not progress,
        unit="img",
    )
    for case in cases:
        bar.set_description(case.name)
        for s in samples[case.name]:
            ref_out = s.bicubic if case.kind == "sr" else s.input
            size = s.target.shape[:2]
            assert ref_out is not None
            ref_psnr, ref_ssim, ref_shift = _score(case, ref_out, s.target)
            results.append(
                ImageResult(case.name, case.kind, case.reference, s.image, ref_psnr, ref_ssim, None, ref_shift, *size)
            )
            for name, restorer in restorers.items():
                if not scored(name, case):
                    continue
                reading = None
                if case.kind in ESTIMATE_KINDS:
                    key = (id(getattr(restorer, "estimator", None) or restorer), case.name, s.image)
                    if key not in readings:
                        readings[key] = estimate(restorer, case, s.input)
                    reading = readings[key]
                t0 = time.perf_counter()
                out = _restore(name, restorer, case, s.input)
                seconds = time.perf_counter() - t0
                if out.shape != s.target.shape or out.dtype != np.uint8:
                    raise ValueError(
                        f"{name} returned {out.dtype} {out.shape} on {case.name}/{s.image}; "
                        f"expected uint8 {s.target.shape}"
                    )
                p, q, shift = _score(case, out, s.target)
                mp = out.shape[0] * out.shape[1] / 1e6
                who, p_true, top, p_top = reading if reading is not None else ("", None, "", None)
                results.append(
                    ImageResult(
                        case.name,
                        case.kind,
                        name,
                        s.image,
                        p,
                        q,
                        p - ref_psnr,
                        shift,
                        *size,
                        seconds,
                        mp,
                        p_true,
                        f"{top} {p_top:.2f}" if top else "",
                        who,
                    )
                )
                bar.update(1)
            if not any(scored(n, case) for n in restorers):
                bar.update(1)
    bar.close()
    methods = (INPUT, *((BICUBIC,) if any(c.kind == "sr" for c in cases) else ()), *restorers)
    return PaperReport(
        tuple(results), tuple(cases), methods, root, limit, machine_description(restorers), time.perf_counter() - start
    )


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    """CLI: run the paper suite, print the Markdown report and write it (and optionally a CSV)."""
    parser = argparse.ArgumentParser(
        prog="python -m restore.evaluation.evaluate --suite paper", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--paper-data",
        type=Path,
        default=None,
        help=f"the paper data folder (default: ${PAPER_DATA_ENV}, else ../shared/paper_data beside the repository)",
    )
    parser.add_argument(
        "--models", type=_csv_list, default=list(DEFAULT_MODELS), help=f"default {','.join(DEFAULT_MODELS)}"
    )
    parser.add_argument(
        "--kinds",
        type=_csv_list,
        default=list(KINDS),
        help=f"the kinds of sets to run (default {','.join(KINDS)}; e.g. pair: Rain-NDR5, Rain-MFDNet3, SOTS-NDR5)",
    )
    parser.add_argument(
        "--oracle-on",
        choices=("pair", "all"),
        default="pair",
        help="the sets the :oracle rows are scored on: the pair sets (default) or all",
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of every set (smoke runs)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("docs/paper-suite.md"),
        help="the Markdown report (default docs/paper-suite.md)",
    )
    parser.add_argument("--csv", type=Path, default=None, help="also write the per-image results here")
    parser.add_argument("--threads", type=int, default=None, help="torch / OpenCV threads (default: torch's)")
    parser.add_argument("--note", default="", help="a line added to the report's header")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    unknown = sorted(set(args.kinds) - set(KINDS))
    if unknown or not args.kinds:
        parser.error(f"--kinds: unknown kind(s) {unknown}; valid: {', '.join(KINDS)}")
    cases = [c for c in CASES if c.kind in args.kinds]
    if args.threads is not None:
        import cv2
        import torch

        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)

    root = args.paper_data or default_paper_data()
    try:
        check_sets(root, cases)  # before loading any model
        restorers = load_restorers([] if args.models == ["none"] else args.models)
        oracle = None if args.oracle_on == "all" else ORACLE_KINDS
        report = run_suite(root, restorers, cases=cases, limit=args.limit, progress=True, oracle_kinds=oracle)
    except PaperDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = markdown(report, args.note)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    logger.info("wrote %s", args.out)
    if args.csv is not None:
        write_csv(report, args.csv)
        logger.info("wrote %s", args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
