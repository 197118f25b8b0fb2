"""How well a model's degradation estimator names what is wrong with the benchmark inputs.

``python -m restore.evaluation.detection [--models ndr-restore,dfpir]`` prints, per model, the top-1
accuracy on the single-type cases of :mod:`restore.evaluation.benchmark` (the seeded inputs that
:mod:`restore.evaluation.evaluate` scores), the share of mixture inputs whose true types are exactly the
top-k, a confusion table (true type x top-1), and how many types it reports (probability above
one half, as the app's bar chart marks them) on the clean images, where every report is false.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from restore.evaluation.benchmark import CASES, Case, benchmark_images, make_sample
from restore.synthesis.registry import DEGRADATION_TYPES


@dataclass
class DetectionReport:
    """Counts behind the accuracies (``confusion[true][predicted]`` over single-type inputs)."""

    single_total: int = 0
    single_correct: int = 0
    mixture_total: int = 0
    mixture_correct: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    clean_total: int = 0
    clean_flagged: int = 0
    false_alarms: dict[str, int] = field(default_factory=dict)

    @property
    def single_accuracy(self) -> float:
        return self.single_correct / max(1, self.single_total)

    @property
    def mixture_accuracy(self) -> float:
        return self.mixture_correct / max(1, self.mixture_total)


def detection_report(analyze, images: Mapping[str, np.ndarray], cases: Sequence[Case] = CASES) -> DetectionReport:
    """Score ``analyze(img) -> Analysis`` on every case and image.

    The estimator sees what the network sees: for low-resolution cases, the bicubic-upscaled input.
    The clean ``images`` themselves are analysed too (false alarms).
    """
    rep = DetectionReport()
    for clean in images.values():
        probs = analyze(clean).probabilities
        reported = [t for t in DEGRADATION_TYPES if probs[t] > 0.5]
        rep.clean_total += 1
        rep.clean_flagged += bool(reported)
        for t in reported:
            rep.false_alarms[t] = rep.false_alarms.get(t, 0) + 1
    for case in cases:
        truth = set(case.types)
        for name, clean in images.items():
            probs = analyze(make_sample(clean, case, name).input_view).probabilities
            ranked = sorted(probs, key=lambda k: -probs[k])
            if len(truth) == 1:
                (t,) = truth
                rep.single_total += 1
                rep.single_correct += ranked[0] == t
                row = rep.confusion.setdefault(t, {})
                row[ranked[0]] = row.get(ranked[0], 0) + 1
            else:
                rep.mixture_total += 1
                rep.mixture_correct += set(ranked[: len(truth)]) == truth
    return rep


def markdown(name: str, rep: DetectionReport) -> str:
    lines = [
        f"**{name}**: top-1 correct on {rep.single_correct}/{rep.single_total} single-type inputs "
        f"({100 * rep.single_accuracy:.0f} %); mixtures with exactly the true types on top: "
        f"{rep.mixture_correct}/{rep.mixture_total} ({100 * rep.mixture_accuracy:.0f} %). "
        f"Clean images with a type above 0.5: {rep.clean_flagged}/{rep.clean_total}"
        + (f" ({', '.join(f'{t} {n}' for t, n in sorted(rep.false_alarms.items()))})." if rep.false_alarms else "."),
        "",
        "| true \\ top-1 | " + " | ".join(DEGRADATION_TYPES) + " |",
        "|---|" + "---|" * len(DEGRADATION_TYPES),
    ]
    for t in DEGRADATION_TYPES:
        if t in rep.confusion:
            lines.append(f"| {t} | " + " | ".join(str(rep.confusion[t].get(p, 0)) for p in DEGRADATION_TYPES) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restore.evaluation.detection", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--models", default=None, help="comma-separated shipped models (default: all shipped)")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--images", type=int, default=None)
    args = parser.parse_args(argv)
    from restore.inference.loading import available_models
    from restore.inference.restorer import Restorer

    names = [m for m in (args.models.split(",") if args.models else available_models()) if m]
    images = benchmark_images(args.size, limit=args.images)
    for name in names:
        r = Restorer.from_pretrained(name)
        print(markdown(name, detection_report(r.analyze, images)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
