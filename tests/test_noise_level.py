"""``Restorer.restore(noise_level=...)``: the user's noise level in place of the estimate.

The estimate (``Restorer.noise_estimate``) given back as the level reproduces the automatic result;
a higher level smooths more; bad levels raise; the report names the level used.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restore import Restorer
from restore.models import build_model
from restore.models.config import preset

MODES = {"whole": {}, "tiled": {"tile": 48, "overlap": 8}, "upscale2": {"upscale": 2}}


def noisy_image(h: int, w: int, sigma: float, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients plus white Gaussian noise of ``sigma`` grey levels, ``HxWx3`` uint8."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 90 * np.sin(xx / 17), 128 + 90 * np.cos(yy / 23), 128 + 60 * np.sin((xx + yy) / 31)], -1)
    img += np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def high_frequency_energy(img: np.ndarray) -> float:
    """The mean squared Laplacian of the grey image (grey levels²): what smoothing lowers."""
    x = img.astype(np.float64).mean(-1)
    lap = 4 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]
    return float(np.mean(lap**2))


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return noisy_image(100, 120, 20)


@pytest.fixture(scope="module")
def models() -> dict[str, Restorer]:
    """Seeded random tiny models: one whose network reads a noise map, one without."""
    return {p: Restorer.from_config(preset(p), name="ndr-restore") for p in ("ndr-detail-tiny", "ndr-tiny")}


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("ndr-detail-tiny", "whole"),
        ("ndr-detail-tiny", "tiled"),
        ("ndr-detail-tiny", "upscale2"),
        ("ndr-tiny", "whole"),
        ("ndr-tiny", "tiled"),
        ("ndr-tiny", "upscale2"),
    ],
)
def test_the_estimate_as_the_level_gives_the_automatic_result(
    models: dict[str, Restorer], img: np.ndarray, model: str, mode: str
) -> None:
    r, kw = models[model], MODES[mode]
    level = r.noise_estimate(img, upscale=kw.get("upscale", 1))
    np.testing.assert_array_equal(r.restore(img, noise_level=level, **kw), r.restore(img, **kw))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("model", ["ndr-detail-tiny", "ndr-tiny"])
def test_the_estimate_gives_the_automatic_noise_map_and_wiener_filter(
    models: dict[str, Restorer], img: np.ndarray, model: str, mode: str
) -> None:
    """The parts one by one: the network (its noise map included), the Wiener refinement and
    back-projection, without the haze pass and the tone lock; and a level 10 above is read."""
    r, kw = models[model], MODES[mode] | {"refine": ("wiener", "backproject")}
    level = r.noise_estimate(img, upscale=kw.get("upscale", 1))
    auto, given = r.restore(img, **kw), r.restore(img, noise_level=level, **kw)
    np.testing.assert_array_equal(given, auto)
    # the level is read: by the noise map, or at 1x by the Wiener filter (which does not run upscaled)
    read = bool(r.config.noise_input) or mode != "upscale2"
    assert np.array_equal(r.restore(img, noise_level=level + 10, **kw), auto) != read


@pytest.mark.parametrize("model", ["ndr-detail-tiny", "ndr-tiny"])
def test_a_higher_level_smooths_more(img: np.ndarray, model: str) -> None:
    cfg = preset(model)
    torch.manual_seed(0)
    r = Restorer(build_model(cfg), cfg, name="fresh")  # zero output convolutions: the identity
    np.testing.assert_array_equal(r.restore(img, refine=False), img)
    energy = {level: high_frequency_energy(r.restore(img, noise_level=level)) for level in (5, 40)}
    auto = high_frequency_energy(r.restore(img))  # the estimate, about 20, lies between
    assert energy[40] < auto < energy[5] < high_frequency_energy(img), (energy, auto)
    assert energy[40] < 0.5 * energy[5]


@pytest.mark.parametrize("level", [-1, 101, float("nan"), float("inf"), "abc", True])
def test_levels_outside_0_to_100_raise(models: dict[str, Restorer], img: np.ndarray, level: float) -> None:
    with pytest.raises(ValueError, match=r"noise_level must be a number of grey levels between 0 and 100"):
        models["ndr-tiny"].restore(img, noise_level=level)


@pytest.mark.parametrize("model", ["ndr-detail-tiny", "ndr-tiny"])
def test_the_report_names_the_level_used(models: dict[str, Restorer], img: np.ndarray, model: str) -> None:
    r = models[model]
    flat = np.full((40, 48, 3), 90, np.uint8)  # estimate 0: the level fills every channel
    for image in (img, flat):
        for level in (0, 12.5, 40, 100):
            report: dict[str, object] = {}
            r.restore(image, noise_level=level, report=report)
            assert report["noise_level"] == level
    report = {}
    r.restore(img, report=report)
    if r.config.noise_input:  # automatic: the estimate the noise map read
        assert report["noise_level"] == pytest.approx(r.noise_estimate(img), abs=1e-9)
    else:
        assert "noise_level" not in report


def test_the_estimate_follows_the_noise_and_the_upscale(models: dict[str, Restorer]) -> None:
    r = models["ndr-tiny"]
    low, high = (r.noise_estimate(noisy_image(100, 120, s)) for s in (5, 25))
    assert 3 < low < 8 and 20 < high < 30
    assert r.noise_estimate(noisy_image(100, 120, 25), upscale=2) < 0.5 * high  # bicubic smooths the noise
    assert r.noise_estimate(np.full((40, 48, 3), 90, np.uint8)) == 0.0
