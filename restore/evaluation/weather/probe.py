"""The probe: restore controlled cases made on the clean photos (haze thickening upward, the same
upside down, uniform haze; screen-blended and added streaks at one setting) and report each
model's gain and its estimator's probability of the true type: what a network learned to
recognise, without the test pairs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from restore.evaluation.metrics import psnr
from restore.evaluation.model_columns import ORACLE_SUFFIX, RestorerLike, refine_argument
from restore.evaluation.weather.samples import synthesise
from restore.synthesis import families

#: The probe's default models: the networks alone, and DFPIR told the type.
PROBE_MODELS = ("ndr-restore:raw", "dfpir:raw", "dfpir:oracle")


def rows_haze(clean: np.ndarray, t_top: float, t_bottom: float, airlight: float = 0.85) -> np.ndarray:
    """``clean`` (``HxWx3`` uint8 RGB) under haze whose transmission runs linearly from ``t_top`` in
    the first row to ``t_bottom`` in the last, grey airlight; uint8 RGB."""
    t = np.linspace(t_top, t_bottom, clean.shape[0])[:, None, None]
    return np.clip((clean / 255.0 * t + airlight * (1 - t)) * 255.0 + 0.5, 0, 255).astype(np.uint8)


#: One setting of the rain generators for the probe, the same for the screen blend and the added streaks.
PROBE_RAIN = {"density": 0.3, "length": 30.0, "angle": 15.0, "width": 0.8, "brightness": 0.8}

#: The probe's cases: (label, type, make(clean, seed) -> degraded).
PROBES: tuple[tuple[str, str, Callable[[np.ndarray, int], np.ndarray]], ...] = (
    ("haze thickening upward (t 0.35 top to 0.75 bottom)", "haze", lambda c, i: rows_haze(c, 0.35, 0.75)),
    ("the same upside down (t 0.75 top to 0.35 bottom)", "haze", lambda c, i: rows_haze(c, 0.75, 0.35)),
    ("uniform haze (t 0.55)", "haze", lambda c, i: rows_haze(c, 0.55, 0.55)),
    (
        "streaks, screen blend (rain generator 0)",
        "rain",
        lambda c, i: synthesise("rain", c, {**PROBE_RAIN, "kind": 0}, i),
    ),
    (
        "streaks added (rain generator `added`)",
        "rain",
        lambda c, i: synthesise("rain", c, {**PROBE_RAIN, "kind": families.names("rain").index("added")}, i),
    ),
)


def probe(restorers: Mapping[str, RestorerLike], clean: Sequence[np.ndarray]) -> list[str]:
    """The probe's Markdown table: per case, the input's mean PSNR and each model's mean gain (dB)
    with its estimator's mean probability of the true type. A name ending in ``:raw`` runs without
    the refinements, ``:oracle`` is told the type (:mod:`restore.evaluation.model_columns`)."""
    names = list(restorers)
    lines = ["| case | input (dB) | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for label, kind, make in PROBES:
        pairs = [(make(c, i), c) for i, c in enumerate(clean)]
        cells = []
        for name, r in restorers.items():
            kwargs: dict[str, object] = {"refine": refine_argument(name)}
            if name.endswith(ORACLE_SUFFIX):
                kwargs["task"] = kind
            gain = np.mean([psnr(np.asarray(r.restore(y, **kwargs)), c) - psnr(y, c) for y, c in pairs])
            analyze = getattr(r, "analyze", None)
            probs = [analyze(y).probabilities.get(kind, np.nan) for y, _ in pairs] if analyze else []
            cells.append(f"{gain:+.2f}" + (f" (p {np.mean(probs):.2f})" if probs else ""))
        inp = np.mean([psnr(y, c) for y, c in pairs])
        lines.append(f"| {label} | {inp:.2f} | " + " | ".join(cells) + " |")
    return lines
