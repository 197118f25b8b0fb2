"""Real rain and haze against our synthesis: streak and haze statistics of the paper pairs and of
every generator of the rain and haze families.

Run ``python -m restore.evaluation.weather_stats [--paper-data PATH] [--photos DIR] [--n 24]
[--models ...] [--probe-models ...] [--out docs/weather-stats.md] [--threads 1]``: the statistics,
the probe, and the paper suite on the pair sets (oracle rows, the estimator's reading per pair).
The pairs (Rain-NDR5, Rain-MFDNet3, SOTS-NDR5) are TEST data: they are measured here, never
trained on; what the measurements may steer is a family's parameter *range*, so that it covers
real rain and haze in general, never a fit to these images.

How each statistic is measured: :mod:`restore.evaluation.weather.rain` (streaks) and
:mod:`restore.evaluation.weather.haze` (transmission, airlight); what is measured:
:mod:`restore.evaluation.weather.samples`; the probe: :mod:`restore.evaluation.weather.probe`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import torch

from restore.evaluation.model_columns import load_restorers
from restore.evaluation.paper_data import CASES, PaperDataError, default_paper_data
from restore.evaluation.paper_report import markdown as paper_markdown
from restore.evaluation.paper_suite import DEFAULT_MODELS, run_suite
from restore.evaluation.transfer import SUFFIXES, default_photos
from restore.evaluation.weather.probe import PROBE_MODELS, probe
from restore.evaluation.weather.report import kept_text, report
from restore.evaluation.weather.samples import clean_images, family_stats, pair_stats

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """CLI: measure the pairs and the generators, run the paper suite on the pair sets, write the report."""
    parser = argparse.ArgumentParser(
        prog="python -m restore.evaluation.weather_stats", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--paper-data", type=Path, default=None, help="the paper data folder (default: the suite's)")
    parser.add_argument(
        "--photos", type=Path, default=None, help="clean photos for the generators (default data/photos/val)"
    )
    parser.add_argument("--n", type=int, default=24, help="samples per generator (default 24)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--models",
        type=lambda v: [m.strip() for m in v.split(",") if m.strip()],
        default=list(DEFAULT_MODELS),
        help=f"models for the pair sets' paper-suite report (default {','.join(DEFAULT_MODELS)}; 'none': no report)",
    )
    parser.add_argument(
        "--probe-models",
        type=lambda v: [m.strip() for m in v.split(",") if m.strip()],
        default=list(PROBE_MODELS),
        help=f"models for the probe (default {','.join(PROBE_MODELS)}; 'none': no probe)",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/weather-stats.md"))
    parser.add_argument("--threads", type=int, default=None, help="torch / OpenCV threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.n < 1:
        parser.error("--n must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    root = args.paper_data or default_paper_data()
    photos = (
        sorted(p for p in args.photos.iterdir() if p.suffix.lower() in SUFFIXES) if args.photos else default_photos()
    )
    try:
        pairs = pair_stats(root)
        clean = clean_images(photos)
        generators = {name: family_stats(name, clean, args.n, args.seed) for name in ("rain", "haze")}
        probed = probe(load_restorers(args.probe_models), clean) if args.probe_models != ["none"] else []
        suite = ""
        if args.models != ["none"]:
            cases = [c for c in CASES if c.kind == "pair"]
            runs = run_suite(root, load_restorers(args.models), cases=cases, progress=True)
            suite = paper_markdown(runs)
    except (PaperDataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = report(pairs, generators, photos=photos, suite=suite, probed=probed, kept=kept_text(args.out))
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
