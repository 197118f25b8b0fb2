"""The haze pass (restore.refinements.haze): the affine carry, its gate, and its wiring into Restorer."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import restore.refinements.haze as H
from restore import Restorer
from restore.models.config import preset
from restore.refinements.wiener import image_noise_sigma
from restore.synthesis.registry import DEGRADATION_TYPES


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


def scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A clear ``(h, w, 3)`` float scene in [0, 1] with fine texture (periods of 9-11 px) and edges."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 0.45 + 0.2 * np.sin(2 * math.pi * (2 * xx + yy) / max(h, w))[..., None] * np.array([1.0, 0.8, 0.6])
    fine = 0.12 * np.sin(2 * math.pi * xx / 9) * np.cos(2 * math.pi * yy / 11)
    blobs = np.repeat(np.repeat(rng.random((h // 8 + 1, w // 8 + 1, 1)), 8, 0), 8, 1)[:h, :w]
    img = base + fine[..., None] + 0.1 * (blobs - 0.5)
    img[: h // 3, : w // 2] += 0.2
    return np.clip(img, 0.02, 0.98).astype(np.float32)


def hazy(clear: np.ndarray, beta: float = 1.6, airlight: float = 0.85) -> tuple[np.ndarray, np.ndarray]:
    """``I = J t + A (1 - t)`` with a smooth depth (far at the top); returns uint8 and t."""
    h, w = clear.shape[:2]
    depth = np.linspace(1.0, 0.0, h)[:, None] * 0.8 + 0.1 * np.sin(np.linspace(0, 3, w))[None, :]
    t = np.exp(-beta * (0.2 + depth))[..., None].astype(np.float32)
    img = clear * t + airlight * (1 - t)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), t


def test_carry_recovers_full_size_detail_from_a_small_dehazed_copy() -> None:
    clear = scene(600, 520)
    img, _ = hazy(clear)
    small = H.working_copy(img)
    assert max(small.shape[:2]) == H.WORK_SIDE
    # an ideal small restoration: the clear scene at the working size
    small_clear = H.working_copy((clear * 255 + 0.5).astype(np.uint8)).astype(np.float32) / 255
    blurry_full = cv2.resize(small_clear, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = H.haze_pass(img, small, small_clear, blurry_full, 1.0)
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    # the enlarged small restoration lacks the fine texture; the carry takes it from the input
    assert _psnr(out, clear) > _psnr(blurry_full, clear) + 6
    assert _psnr(out, clear) > _psnr(img / 255.0, clear) + 15


def test_weight_blends_and_zero_leaves_the_restoration_alone() -> None:
    img, _ = hazy(scene(100, 140))
    small = H.working_copy(img)
    ys = np.full(small.shape, 0.5, np.float32)
    restored = np.random.default_rng(1).random(img.shape).astype(np.float32)
    assert np.array_equal(H.haze_pass(img, small, ys, restored, 0.0), restored)
    full = H.haze_pass(img, small, ys, restored, 1.0)
    half = H.haze_pass(img, small, ys, restored, 0.5)
    np.testing.assert_allclose(half, 0.5 * (full + restored), atol=1e-6)


def test_follow_stronger_keeps_the_full_size_dehazing_when_the_small_copy_removed_less() -> None:
    clear = scene(600, 520)
    img, _ = hazy(clear)
    small = H.working_copy(img)
    clear_u8 = (clear * 255 + 0.5).astype(np.uint8)
    small_clear = H.working_copy(clear_u8).astype(np.float32) / 255
    full_clear = clear_u8.astype(np.float32) / 255  # the full-size run dehazed the photo
    left_hazy = small.astype(np.float32) / 255  # ... and the small copy did nothing
    assert H.haze_removed(small, small_clear) > 10 / 255
    assert abs(H.haze_removed(small, left_hazy)) < 1e-6
    # the old pass puts the haze back; following the stronger dehazing keeps it out
    back = H.haze_pass(img, small, left_hazy, full_clear, 1.0)
    kept = H.haze_pass(img, small, left_hazy, full_clear, 1.0, follow_stronger=True)
    assert _psnr(back, clear) < _psnr(img / 255.0, clear) + 1
    assert _psnr(kept, clear) > _psnr(img / 255.0, clear) + 15
    # where the small copy removed more (the pass's premise), following changes nothing
    blurry_full = cv2.resize(small_clear, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    hazier_full = 0.5 * blurry_full + 0.5 * img.astype(np.float32) / 255
    np.testing.assert_array_equal(
        H.haze_pass(img, small, small_clear, hazier_full, 1.0, follow_stronger=True),
        H.haze_pass(img, small, small_clear, hazier_full, 1.0),
    )


def test_strips_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    img, _ = hazy(scene(300, 410))
    small = H.working_copy(img)
    ys = np.clip(small.astype(np.float32) / 255 * 1.5 - 0.3, 0, 1)
    restored = np.zeros(img.shape, np.float32)
    whole = H.haze_pass(img, small, ys, restored, 1.0)
    monkeypatch.setattr(H, "STRIP_ROWS", 7)
    np.testing.assert_array_equal(H.haze_pass(img, small, ys, restored, 1.0), whole)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 700), (37, 53), (256, 256), (900, 40)])
def test_any_size(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (*shape, 3)).astype(np.uint8)
    small = H.working_copy(img)
    assert max(small.shape[:2]) == min(H.WORK_SIDE, max(shape))
    out = H.haze_pass(img, small, small.astype(np.float32) / 255, img.astype(np.float32) / 255, 1.0)
    assert out.shape == img.shape and np.isfinite(out).all()


def test_an_identity_restoration_carries_back_to_nearly_the_input() -> None:
    img, _ = hazy(scene(400, 300))
    small = H.working_copy(img)
    out = H.haze_pass(img, small, small.astype(np.float32) / 255, np.zeros(img.shape, np.float32), 1.0)
    assert _psnr(out, img / 255.0) > 40


def test_bad_arguments_are_refused() -> None:
    img = np.zeros((20, 30, 3), np.uint8)
    small = H.working_copy(img)
    ys = small.astype(np.float32)
    with pytest.raises(ValueError, match="one size"):
        H.haze_pass(img, small, ys, np.zeros((20, 31, 3), np.float32), 1.0)
    with pytest.raises(ValueError, match="working copies"):
        H.haze_pass(img, small, ys[:-1], np.zeros(img.shape, np.float32), 1.0)
    with pytest.raises(ValueError, match="weights"):
        H.haze_pass(img, small, ys, np.zeros(img.shape, np.float32), 1.5)
    with pytest.raises(ValueError, match="weights"):
        H.haze_pass(img, small, ys, np.zeros(img.shape, np.float32), 1.0, -0.1)


def grey_noise(img: np.ndarray) -> float:
    return float(image_noise_sigma(img).max()) * 255.0


def test_the_weights_want_haze_and_the_carry_wants_nothing_else() -> None:
    img, _ = hazy(scene(200, 200))
    sigma = grey_noise(img)
    none = dict.fromkeys(DEGRADATION_TYPES, 0.0)
    assert H.pass_weights({**none, "haze": 0.9}, sigma) == pytest.approx((0.9, 1.0))
    # mixed with rain or noise: the pass stays on, the carry goes off (low frequencies only)
    assert H.pass_weights({**none, "haze": 1.0, "rain": 1.0}, sigma) == (1.0, 0.0)
    assert H.pass_weights({**none, "haze": 1.0, "noise": 0.5}, sigma) == pytest.approx((1.0, 0.5))
    # dark photos, photos without haze and unknown probabilities: off
    assert H.pass_weights({**none, "haze": 1.0, "lowlight": 1.0}, sigma) == (0.0, 0.0)
    assert H.pass_weights(none, sigma) == (0.0, 0.0)
    assert H.pass_weights({**none, "haze": 0.005}, sigma) == (0.0, 0.0)  # below MIN_WEIGHT: skipped
    assert H.pass_weights(dict.fromkeys(DEGRADATION_TYPES, float("nan")), sigma) == (0.0, 0.0)
    assert H.pass_weights({"haze": 1.0}, sigma) == (0.0, 0.0)


def test_noise_turns_the_carry_off_but_not_the_pass() -> None:
    img, _ = hazy(scene(200, 200))
    assert H.noise_factor(grey_noise(img)) == 1.0
    rng = np.random.default_rng(2)
    noisy = np.clip(img + 8.0 * rng.standard_normal(img.shape), 0, 255).astype(np.uint8)
    assert H.noise_factor(grey_noise(noisy)) == 0.0
    haze_only = {**dict.fromkeys(DEGRADATION_TYPES, 0.0), "haze": 1.0}
    assert H.pass_weights(haze_only, grey_noise(img)) == (1.0, 1.0)
    assert H.pass_weights(haze_only, grey_noise(noisy)) == (1.0, 0.0)


def test_low_frequency_correction_keeps_the_full_size_detail() -> None:
    clear = scene(500, 600)
    img, _ = hazy(clear)
    small = H.working_copy(img)
    small_clear = H.working_copy((clear * 255 + 0.5).astype(np.uint8)).astype(np.float32) / 255
    # a full-size restoration with all the detail but the haze only half removed
    half = (0.5 * clear + 0.5 * img / 255.0).astype(np.float32)
    out = H.haze_pass(img, small, small_clear, half, 1.0, 0.0)
    assert _psnr(out, clear) > _psnr(half, clear) + 8
    # the detail is the restoration's: what differs from it is smooth
    diff = out - half
    assert np.abs(diff - cv2.GaussianBlur(diff, (0, 0), 3)).mean() < 0.15 * np.abs(diff).mean()


@pytest.fixture(scope="module")
def tiny() -> Restorer:
    return Restorer.from_config(preset("ndr-tiny"), name="tiny")


def test_restorer_runs_the_haze_pass_when_told_the_photo_is_hazy(tiny: Restorer) -> None:
    img, _ = hazy(scene(270, 330))  # larger than the working copy, so its two halves differ
    assert tiny.haze_pass_weights(img, task="haze") == (1.0, 1.0)
    assert tiny.haze_pass_weights(img, task=("haze", "rain")) == (1.0, 0.0)
    assert tiny.haze_pass_weights(img, task=("haze", "lowlight")) == (0.0, 0.0)
    raw = tiny.restore(img, refine=False)
    other = tiny.restore(img, task="rain")
    hazy_out = tiny.restore(img, task="haze")
    mixed = tiny.restore(img, task=("haze", "rain"))
    assert hazy_out.shape == mixed.shape == img.shape
    assert len({hazy_out.tobytes(), other.tobytes(), mixed.tobytes()}) == 3
    # without the haze pass a task that is not noise changes nothing for NDR-Restore's Wiener step
    # (noise mixes the thresholded input into its pilot; the tone lock reads the task too: rain may darken)
    only = ("wiener", "haze", "backproject")
    assert np.array_equal(tiny.restore(img, task="rain", refine=only), tiny.restore(img, task="blur", refine=only))
    assert not np.array_equal(hazy_out, raw)
    # the pass is part of the refinement: off with it
    assert np.array_equal(tiny.restore(img, task="haze", refine=False), raw)
    # and only at 1x
    up = {"upscale": 2, "refine": only}
    assert np.array_equal(tiny.restore(img, task="haze", **up), tiny.restore(img, task="rain", **up))


def test_only_ndr_restore_follows_the_full_size_dehazing(monkeypatch: pytest.MonkeyPatch) -> None:
    img, _ = hazy(scene(60, 80))
    seen: list[bool] = []
    real = H.haze_pass

    def spy(*args, follow_stronger: bool = False, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.append(follow_stronger)
        return real(*args, follow_stronger=follow_stronger, **kwargs)

    monkeypatch.setattr("restore.inference.refine.haze_pass", spy)
    for name in ("ndr-restore", "dfpir", "custom"):
        Restorer.from_config(preset("ndr-tiny"), name=name).restore(img, task="haze")
    # measured per model: DFPIR lost 0.15 dB on the validation crops with it, NDR-Restore gained 0.16
    assert seen == [True, False, False]


def test_blind_restore_uses_the_estimator_as_analyze_reports_it(tiny: Restorer, monkeypatch) -> None:
    img, _ = hazy(scene(60, 80))
    seen: list[dict[str, float]] = []
    real = H.pass_weights

    def spy(probs: dict[str, float], noise_grey: float) -> tuple[float, float]:
        seen.append(dict(probs))
        return real(probs, noise_grey)

    monkeypatch.setattr("restore.inference.refine.pass_weights", spy)
    tiny.restore(img)
    reported = tiny.analyze(img).probabilities
    assert seen and seen[0].keys() == reported.keys()
    for t in DEGRADATION_TYPES:
        assert seen[0][t] == pytest.approx(reported[t], abs=1e-6)
    # tiled, the image's probabilities come from analyze()
    seen.clear()
    tiny.restore(img, tile=40, overlap=8)
    assert seen and all(seen[0][t] == pytest.approx(reported[t], abs=1e-6) for t in DEGRADATION_TYPES)


def test_restore_reports_the_haze_pass_and_the_app_says_so(tiny: Restorer) -> None:
    from studio.restore_tab import _refine_note

    img, _ = hazy(scene(60, 80))
    report: dict[str, object] = {}
    tiny.restore(img, task="haze", report=report)
    assert report["haze_weight"] == 1.0 and report["haze_carry_weight"] == 1.0
    assert report["probabilities"] == {t: float(t == "haze") for t in DEGRADATION_TYPES}
    report.clear()
    tiny.restore(img, upscale=2, report=report)
    assert report["haze_weight"] == 0.0 and report["haze_carry_weight"] == 0.0
    assert report["back_projection_weight"] == 1.0 and len(report["tone_lock_weights"]) == 2

    def note(weight: float, carry: float) -> str:
        return _refine_note(1, True, {"noise_sigma": 1.0, "haze_weight": weight, "haze_carry_weight": carry})

    assert "Haze pass on: " in note(1.0, 1.0)
    assert "own pixels" in note(1.0, 1.0)
    assert "coarse tones only" in note(1.0, 0.0)
    assert "Haze pass on at 40%:" in note(0.4, 1.0)
    assert "Haze" not in note(0.0, 0.0)
    assert _refine_note(1, False, {"haze_weight": 1.0, "haze_carry_weight": 1.0}) == "Refinement off."
