"""The estimator report counts top-1 hits on single types and exact top-k on mixtures."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from restore.evaluation.benchmark import CASES
from restore.evaluation.detection import detection_report, markdown
from restore.synthesis.registry import DEGRADATION_TYPES


def test_detection_report_counts_hits_and_misses() -> None:
    cases = [c for c in CASES if c.name in ("noise25", "haze", "haze+noise")]
    images = {"tiny": np.full((32, 32, 3), 128, np.uint8)}

    def always_noise_then_haze(img: np.ndarray) -> SimpleNamespace:
        probs = dict.fromkeys(DEGRADATION_TYPES, 0.0)
        probs.update(noise=0.9, haze=0.8)
        return SimpleNamespace(probabilities=probs)

    rep = detection_report(always_noise_then_haze, images, cases)
    assert (rep.single_total, rep.single_correct) == (2, 1)
    assert (rep.mixture_total, rep.mixture_correct) == (1, 1)
    assert rep.confusion == {"noise": {"noise": 1}, "haze": {"noise": 1}}
    assert (rep.clean_total, rep.clean_flagged) == (1, 1), "the clean image is analysed too"
    assert rep.false_alarms == {"noise": 1, "haze": 1}
    text = markdown("fake", rep)
    assert "1/2 single-type" in text and "| haze | 1 | 0 |" in text
    assert "Clean images with a type above 0.5: 1/1 (haze 1, noise 1)." in text


def test_a_quiet_estimator_raises_no_false_alarms() -> None:
    images = {"a": np.zeros((8, 8, 3), np.uint8), "b": np.zeros((8, 8, 3), np.uint8)}

    def quiet(img: np.ndarray) -> SimpleNamespace:
        return SimpleNamespace(probabilities=dict.fromkeys(DEGRADATION_TYPES, 0.1))

    rep = detection_report(quiet, images, [])
    assert (rep.clean_total, rep.clean_flagged, rep.false_alarms) == (2, 0, {})
    assert "Clean images with a type above 0.5: 0/2." in markdown("quiet", rep)
