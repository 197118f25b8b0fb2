"""The tone lock (restore.refinements.tone): the network may shift a photo's brightness and colour
only where the estimator finds low light, haze or (darkening only) rain."""

from __future__ import annotations

import numpy as np
import pytest

from restore.refinements import tone
from restore.refinements.tone import clipped_mean, grid_shape, lock_weights, tone_lock, tone_shift


def scene(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    """A uint8 photo-like image: smooth gradients plus texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.3 + 0.4 * xx / w, 0.5 + 0.3 * np.sin(yy / 17.0), 0.6 - 0.3 * yy / h], axis=-1)
    texture = 0.08 * rng.standard_normal((h, w, 1)).astype(np.float32)
    return (np.clip(base + texture, 0, 1) * 255 + 0.5).astype(np.uint8)


def test_weights_follow_the_estimator() -> None:
    assert lock_weights({"noise": 1.0, "rain": 0.0, "haze": 0.0, "lowlight": 0.0}) == (1.0, 1.0)
    assert lock_weights({"noise": 0.0, "lowlight": 1.0, "haze": 0.0, "rain": 0.0}) == (0.0, 0.0)
    assert lock_weights({"haze": 1.0, "lowlight": 0.0, "rain": 0.0}) == (0.0, 0.0)
    up, down = lock_weights({"rain": 1.0, "haze": 0.0, "lowlight": 0.0})
    assert up == 1.0 and down == 0.0  # removing rain may darken, never brighten
    up, down = lock_weights({"haze": 0.5, "lowlight": 0.0, "rain": 0.5})
    assert up == pytest.approx(0.5) and down == pytest.approx(0.25)
    # a probability the model does not give leaves the lock off for what it would allow
    assert lock_weights({"noise": 1.0}) == (0.0, 0.0)
    assert lock_weights({"lowlight": float("nan"), "haze": 0.0, "rain": 0.0}) == (0.0, 0.0)


def test_a_darkened_output_gets_its_tone_back_and_keeps_its_detail() -> None:
    rgb = scene()
    clean = rgb.astype(np.float32) / 255.0
    restored = 0.6 * clean  # the network darkened the photo by 40 %
    out = tone_lock(rgb, restored, (1.0, 1.0))
    assert abs(float(out.mean() - clean.mean())) < 0.01 < abs(float(restored.mean() - clean.mean()))
    # only low frequencies moved: the correction has no texture of its own
    corr = out - restored
    lap = corr[1:-1, 1:-1] * 4 - corr[:-2, 1:-1] - corr[2:, 1:-1] - corr[1:-1, :-2] - corr[1:-1, 2:]
    assert float(np.abs(lap).mean()) < 0.002
    assert np.abs(out - clean).mean() < np.abs(restored - clean).mean() / 4


def test_allowed_shifts_are_kept() -> None:
    rgb = scene()
    clean = rgb.astype(np.float32) / 255.0
    brighter, darker = np.clip(clean + 0.2, 0, 1), np.clip(clean - 0.2, 0, 1)
    assert np.array_equal(tone_lock(rgb, brighter, (0.0, 0.0)), brighter)
    # rain allowed (darkening weight 0): a darker output stays, a brighter one is pulled back
    assert np.allclose(tone_lock(rgb, darker, (1.0, 0.0)), darker)
    assert abs(float(tone_lock(rgb, brighter, (1.0, 0.0)).mean() - clean.mean())) < 0.01
    # half a lock gives back half the shift
    half = tone_lock(rgb, brighter, (0.5, 0.5))
    assert float(half.mean() - clean.mean()) == pytest.approx(float(brighter.mean() - clean.mean()) / 2, abs=0.01)


def test_clipped_noise_is_not_read_as_a_tone_shift() -> None:
    """Noise clipped at black lifts a dark photo's mean: a right restoration of it is not locked
    to that lifted mean."""
    rng = np.random.default_rng(3)
    clean = np.full((96, 96, 3), 0.03, np.float32)
    noisy = (np.clip(clean + 50 / 255 * rng.standard_normal(clean.shape), 0, 1) * 255 + 0.5).astype(np.uint8)
    lift = float(noisy.mean()) / 255 - 0.03
    assert lift > 0.05  # about 20 grey levels
    assert float(clipped_mean(clean, 50 / 255).mean()) == pytest.approx(float(noisy.mean()) / 255, abs=0.004)
    # what is left is the cells' sampling noise (576 noisy pixels a cell: about 0.004)
    assert np.abs(tone_shift(noisy, clean, 50 / 255)).mean() < 0.008
    assert np.abs(tone_lock(noisy, clean, (1.0, 1.0), 50 / 255) - clean).max() < 0.02
    # without the noise level the lift would have been given to the output
    assert float(tone_lock(noisy, clean, (1.0, 1.0)).mean() - clean.mean()) > 0.05


def test_strips_give_the_same_result_as_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    rgb = scene(200, 90)
    restored = np.clip(rgb.astype(np.float32) / 255.0 * 0.7 + 0.1, 0, 1)
    whole = tone_lock(rgb, restored, (1.0, 0.7))
    monkeypatch.setattr(tone, "STRIP_ROWS", 7)
    assert np.array_equal(tone_lock(rgb, restored, (1.0, 0.7)), whole)


@pytest.mark.parametrize("size", [(1, 1), (5, 300), (300, 5), (24, 24), (1000, 1500)])
def test_grid_and_any_size(size: tuple[int, int]) -> None:
    h, w = size
    gh, gw = grid_shape(h, w)
    assert 1 <= gh <= max(1, h // 8 + 1) and 1 <= gw <= max(1, w // 8 + 1)
    rgb = np.full((h, w, 3), 128, np.uint8)
    out = tone_lock(rgb, np.full((h, w, 3), 0.3, np.float32), (1.0, 1.0))
    assert out.shape == (h, w, 3) and out.dtype == np.float32
    assert np.allclose(out, 128 / 255, atol=1e-3)


def test_bad_arguments_are_refused() -> None:
    rgb = scene()
    with pytest.raises(ValueError, match="one size"):
        tone_lock(rgb, np.zeros((10, 10, 3), np.float32), (1.0, 1.0))
    with pytest.raises(ValueError, match="weights"):
        tone_lock(rgb, rgb.astype(np.float32) / 255, (1.5, 0.0))


# ------------------------------------------------------------------ the shipped models, do no harm
SCENES = ("as-is", "snow", "saturated")


def _toned_examples(kind: str, side: int = 192) -> list[tuple[str, np.ndarray]]:
    """The first two example photos at ``side`` px as ``kind``: as they are, bright and flat (as
    snow or an overcast sky), or with saturated colours."""
    from restore.images import fit_within, load_image
    from restore.resources import example_photos

    out = []
    for path in example_photos()[:2]:
        x = fit_within(load_image(path), side).astype(np.float32) / 255.0
        grey = x.mean(axis=2, keepdims=True)
        t = {"as-is": x, "snow": 1.0 - 0.35 * (1.0 - x), "saturated": np.clip(grey + 1.7 * (x - grey), 0.0, 1.0)}[kind]
        out.append((f"{path.stem}-{kind}", (t * 255.0 + 0.5).astype(np.uint8)))
    return out


@pytest.fixture(scope="module")
def shipped() -> dict[str, object]:
    from restore import Restorer
    from restore.resources import package_assets

    weights = package_assets() / "weights"
    return {n: Restorer.from_pretrained(n, device="cpu", directory=weights) for n in ("ndr-restore", "dfpir")}


@pytest.mark.parametrize("name,kind", [(n, k) for n in ("ndr-restore", "dfpir") for k in SCENES])
def test_shipped_models_keep_the_tone_of_bright_and_colourful_photos(shipped: dict, name: str, kind: str) -> None:
    """Clean, and merely noisy (sigma 15), versions of the example photos come back within 8 grey
    levels of the scene's mean brightness in every channel, and the noisy ones better than they
    went in."""
    r = shipped[name]
    rng = np.random.default_rng(0)
    for label, clean in _toned_examples(kind):
        for sigma in (0, 15):
            noisy = np.clip(clean + sigma * rng.standard_normal(clean.shape), 0, 255).astype(np.uint8)
            out = r.restore(noisy).astype(np.float64)
            shift = out.reshape(-1, 3).mean(0) - clean.reshape(-1, 3).mean(0)
            assert np.abs(shift).max() <= 8.0, (label, sigma, shift)
            if sigma:
                mse_in = np.mean((noisy.astype(np.float64) - clean) ** 2)
                mse_out = np.mean((out - clean) ** 2)
                assert 10 * np.log10(mse_in / mse_out) >= 0.5, (label, sigma)


def test_the_lock_is_what_keeps_the_tone(shipped: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the lock, and without the Wiener refinement's thresholded pilot (which keeps the
    input's tone on a photo read as noisy), NDR-Restore darkens the noisy snow version of an
    example (the network's own tone shift, with the estimator saying noise); with either, the tone
    stays."""
    import restore.inference.refine as refine_module
    from restore.refinements import REFINEMENTS

    r = shipped["ndr-restore"]
    label, clean = _toned_examples("snow", 448)[0]
    noisy = np.clip(clean + 15 * np.random.default_rng(1).standard_normal(clean.shape), 0, 255).astype(np.uint8)
    report: dict = {}
    locked = r.restore(noisy, report=report).astype(np.float64).mean() - clean.mean()
    no_lock = [x for x in REFINEMENTS if x != "tone"]
    piloted_report: dict = {}
    piloted = r.restore(noisy, refine=no_lock, report=piloted_report).astype(np.float64).mean() - clean.mean()
    assert report["tone_lock_weights"][0] > 0.9 and report["tone_lock_weights"][1] > 0.9
    assert piloted_report["wiener_hard_share"] > 0.5
    monkeypatch.setattr(refine_module, "hard_share", lambda *_: 0.0)
    free = r.restore(noisy, refine=no_lock).astype(np.float64).mean() - clean.mean()
    assert max(abs(locked), abs(piloted)) < 2.0 < 4.0 < abs(free), (label, locked, piloted, free)
