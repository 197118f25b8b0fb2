"""Restorer: shapes, conversions, tiling, analysis, loading errors, the shipped weights."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from restore import DEGRADATION_TYPES, Restorer, available_models
from restore.inference.tiling import WHOLE_IMAGE_PIXELS, resolve_tile, tile_cores, tile_count, tile_starts
from restore.models.config import preset
from restore.models.weights import WeightsError, read_config, save_weights
from restore.resources import package_assets

RNG = np.random.default_rng(0)
EXAMPLES = package_assets() / "examples"
WEIGHTS_DIR = package_assets() / "weights"


def smooth_image(h: int, w: int) -> np.ndarray:
    """A photo-like test image: smooth gradients plus mild texture."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 90 * np.sin(xx / 17), 128 + 90 * np.cos(yy / 23), 128 + 60 * np.sin((xx + yy) / 31)], -1)
    img += RNG.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def ndr() -> Restorer:
    return Restorer.from_config(preset("ndr-tiny"), name="ndr-restore")


@pytest.fixture(scope="module")
def dfpir() -> Restorer:
    return Restorer.from_config(preset("dfpir-tiny"), name="dfpir")


@pytest.mark.parametrize("size", [(37, 53), (8, 8), (64, 33)])
def test_restore_keeps_any_size(ndr: Restorer, size: tuple[int, int]) -> None:
    img = smooth_image(*size)
    out = ndr.restore(img)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_upscale_and_strength(ndr: Restorer) -> None:
    img = smooth_image(30, 41)
    assert ndr.restore(img, upscale=2).shape == (60, 82, 3)
    assert ndr.restore(img, upscale=4).shape == (120, 164, 3)
    np.testing.assert_array_equal(ndr.restore(img, strength=0.0), img)
    full, half = ndr.restore(img).astype(int), ndr.restore(img, strength=0.5).astype(int)
    np.testing.assert_allclose(half, (full + img) / 2, atol=1.0)
    with pytest.raises(ValueError, match="upscale"):
        ndr.restore(img, upscale=5)
    with pytest.raises(ValueError, match="strength"):
        ndr.restore(img, strength=1.5)


def test_pil_and_odd_modes_are_converted(ndr: Restorer) -> None:
    img = smooth_image(24, 24)
    rgb = ndr.restore(img)
    np.testing.assert_array_equal(ndr.restore(Image.fromarray(img)), rgb)
    assert ndr.restore(Image.fromarray(img).convert("RGBA")).shape == (24, 24, 3)
    assert ndr.restore(Image.fromarray(img).convert("L")).shape == (24, 24, 3)


def test_tile_starts_cover_everything() -> None:
    for length, tile, overlap in [(100, 32, 8), (64, 64, 8), (65, 64, 8), (10, 64, 8), (1000, 256, 32)]:
        starts = tile_starts(length, tile, overlap)
        covered = np.zeros(length, bool)
        for s in starts:
            covered[s : s + tile] = True
        assert covered.all() and starts[0] == 0 and starts[-1] + min(tile, length) == length


class LocalNet(torch.nn.Module):
    """A 5x5 convolution with the restoration nets' call signature: receptive field 5 px."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 3, 5, padding=2, padding_mode="replicate")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        return x + 0.3 * self.conv(x), {}


def test_tiled_matches_untiled_when_the_overlap_covers_the_receptive_field() -> None:
    # The tiling itself must be exact: any difference would come from the seams.
    r = Restorer(LocalNet(), preset("plain-tiny"), name="local")
    img = smooth_image(150, 190)
    whole = r.restore(img, tile=0).astype(int)
    tiled = r.restore(img, tile=64, overlap=16).astype(int)
    assert np.abs(whole - tiled).max() <= 1


def test_tile_cores_split_the_overlaps() -> None:
    for length, tile, overlap in [(100, 32, 8), (64, 64, 8), (1000, 256, 32), (530, 256, 32)]:
        starts = tile_starts(length, tile, overlap)
        cores = tile_cores(starts, tile, length)
        assert cores[0][0] == 0 and cores[-1][1] == length
        assert all(a[1] == b[0] for a, b in zip(cores, cores[1:], strict=False))  # a partition
        assert all(s <= lo < hi <= s + tile for s, (lo, hi) in zip(starts, cores, strict=True))  # inside


def test_resolve_tile_picks_automatically_and_refuses_a_tile_without_room_for_its_ramps(ndr: Restorer) -> None:
    assert resolve_tile(100, 100, None, 32) == 0, "a small image is one tile"
    assert resolve_tile(4000, 4000, None, 32) > 0 and WHOLE_IMAGE_PIXELS < 4000 * 4000
    assert resolve_tile(4000, 4000, 0, 32) == 0 and resolve_tile(500, 500, 72, 32) == 72
    with pytest.raises(ValueError, match=r"tile \(71\) must be at least 2 \* overlap \+ 8 = 72"):
        resolve_tile(500, 500, 71, 32)
    with pytest.raises(ValueError, match="must be at least"):
        ndr.restore(smooth_image(40, 40), tile=20, overlap=8)


def test_gate_means_of_the_whole_image_reproduce_its_own_pooling(ndr: Restorer) -> None:
    m = ndr.config.multiple
    x = ndr._tensor(smooth_image(4 * m, 5 * m))  # no padding: the gates see exactly this image
    with torch.inference_mode():
        parts = ndr.model.gate_input_sums(x, (0, 4 * m, 0, 5 * m))
        assert len(parts) == 3 * ndr.model.gates_per_skip == 6
        means = [s / n for s, n in parts]
        plain, shared = ndr._run(x, None), ndr._run(x, None, means)
        other = ndr._run(x, None, [mean + 5.0 for mean in means])  # the gates read what they are given
    assert torch.allclose(plain, shared, atol=1e-5)
    assert (plain - other).abs().max() > 1e-3


def test_kept_encoder_outputs_change_nothing_and_respect_the_budget(ndr: Restorer, monkeypatch) -> None:
    import restore.inference.tiling as tiling

    img = smooth_image(100, 130)
    unet = ndr.model.unet
    encodes = []
    real = unet.encode
    monkeypatch.setattr(unet, "encode", lambda x, *a: encodes.append(1) or real(x, *a))
    tiles = tile_count(100, 130, 64, 16)
    # refine=False: the refinements' own forward passes (analyze() for the haze pass's gate) are not the point
    kept = ndr.restore(img, tile=64, overlap=16, refine=False)
    assert encodes == [], "the restoring pass reuses every tile's encoder output from the statistics pass"
    monkeypatch.setattr(tiling, "ENCODER_CACHE_BYTES", 0)
    again = ndr.restore(img, tile=64, overlap=16, refine=False)
    assert len(encodes) == tiles, "with no memory budget every tile is encoded again"
    assert np.array_equal(kept, again), "keeping the encoder outputs must not change a single pixel"


def test_progress_reports_every_tile(ndr: Restorer) -> None:
    calls = []
    ndr.restore(smooth_image(100, 130), tile=64, overlap=16, progress=lambda d, t: calls.append((d, t)))
    # NDR-Restore visits every tile twice: once to read the CP-gate statistics, once to restore.
    total = 2 * len(tile_starts(100, 64, 16)) * len(tile_starts(130, 64, 16))
    assert calls == [(i, total) for i in range(1, total + 1)]
    assert tile_count(100, 130, 64, 16) == total // 2
    assert tile_count(100, 130, None) == 1 and tile_count(4000, 3000, None) == 6 * 5  # 768-px auto tiles
    # A model without CP gates visits each tile once.
    local, steps = Restorer(LocalNet(), preset("plain-tiny"), name="local"), []
    local.restore(smooth_image(100, 130), tile=64, overlap=16, progress=lambda d, t: steps.append(t))
    assert steps[-1] == total // 2
    with pytest.raises(ValueError, match="tile"):
        ndr.restore(smooth_image(100, 100), tile=40, overlap=32)


def test_analyze_gives_probabilities_and_activation_maps(ndr: Restorer) -> None:
    a = ndr.analyze(smooth_image(70, 90))
    assert list(a.probabilities) == list(DEGRADATION_TYPES)
    assert all(0.0 <= p <= 1.0 for p in a.probabilities.values())
    assert [s.level for s in a.activations] == [1, 2, 3]
    for s in a.activations:
        assert s.map.shape[-1] == 32
        np.testing.assert_allclose(s.map.sum(-1), 1.0, atol=1e-4)
        np.testing.assert_allclose(s.pooled, s.map.reshape(-1, 32).mean(0), atol=1e-5)
    assert a.pooled_vector.shape == (96,)
    assert set(a.detected(0.0)) == set(DEGRADATION_TYPES)


def test_redegrade_and_dictionary(ndr: Restorer, dfpir: Restorer) -> None:
    img = smooth_image(40, 60)
    assert ndr.redegrade(img, img).shape == img.shape
    assert ndr.dictionary().shape == (32, 128)
    with pytest.raises(NotImplementedError):
        dfpir.redegrade(img, img)
    with pytest.raises(NotImplementedError):
        dfpir.dictionary()


def test_dfpir_oracle_and_blind(dfpir: Restorer) -> None:
    img = smooth_image(48, 48)
    blind = dfpir.restore(img)
    rain = dfpir.restore(img, task="rain")
    noise = dfpir.restore(img, task=("noise",))
    assert blind.shape == rain.shape == img.shape
    assert not np.array_equal(rain, noise)
    with pytest.raises(ValueError, match="unknown degradation"):
        dfpir.restore(img, task="fog")
    assert dfpir.analyze(img).activations == []


def test_loading_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model 'nope'; available"):
        Restorer.from_pretrained("nope", directory=tmp_path)
    with pytest.raises(WeightsError, match="not found"):
        Restorer.from_pretrained("dfpir", directory=tmp_path)
    (tmp_path / "ndr-restore.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        Restorer.from_pretrained("ndr-restore", directory=tmp_path)


def test_round_trip_through_a_weights_dir(tmp_path: Path, ndr: Restorer) -> None:
    save_weights(ndr.model, tmp_path / "ndr-restore.safetensors", ndr.config)
    save_weights(ndr.degrad, tmp_path / "ndr-restore-degrad.safetensors", ndr.config)
    assert available_models(tmp_path) == ["ndr-restore"]
    loaded = Restorer.from_pretrained("ndr-restore", device="cpu", directory=tmp_path)
    img = smooth_image(33, 45)
    np.testing.assert_array_equal(loaded.restore(img), ndr.restore(img))
    assert loaded.has_redegrader


@pytest.mark.parametrize("name", ["ndr-restore", "dfpir"])
def test_shipped_weights_load_strictly_and_restore(name: str) -> None:
    path = WEIGHTS_DIR / f"{name}.safetensors"
    assert path.is_file(), f"shipped weights missing: {path}"
    assert path.stat().st_size < 10e6
    r = Restorer.from_pretrained(name, device="cpu", directory=WEIGHTS_DIR)
    assert r.config == read_config(path)
    img = smooth_image(64, 80)
    out = r.restore(img)
    assert out.shape == img.shape
    probs = r.analyze(img).probabilities
    assert all(0.0 <= p <= 1.0 for p in probs.values())


def test_a_lent_estimator_decides_the_blind_calls(ndr: Restorer) -> None:
    """DFPIR routed by another model's estimator: blind calls (analyze, routing) take its
    probabilities; told the task, nothing changes."""
    own = Restorer.from_config(preset("dfpir-tiny"), name="dfpir", seed=3)
    lent = Restorer(own.model, own.config, name="dfpir", estimator=ndr)
    img = smooth_image(40, 56)
    assert lent.estimator_name == "ndr-restore" and own.estimator_name == "dfpir"
    assert lent.analyze(img).probabilities == ndr.analyze(img).probabilities
    assert lent.analyze(img).probabilities != own.analyze(img).probabilities
    assert lent.analyze(img).activations == []  # DFPIR has no dictionary to show
    np.testing.assert_array_equal(lent.restore(img, task="noise"), own.restore(img, task="noise"))
    # routed by the lent probabilities: the same as telling the routing those probabilities
    report: dict = {}
    lent.restore(img, report=report)
    assert report["probabilities"] == ndr.analyze(img).probabilities


def test_enlarging_makes_dfpir_route_as_low_resolution(dfpir: Restorer) -> None:
    """Blind at 2x, DFPIR's routing takes low resolution as certain (the image was just enlarged);
    at 1x, or told the task, the probabilities are left as they are."""
    img = smooth_image(24, 32)
    at1: dict = {}
    at2: dict = {}
    told: dict = {}
    dfpir.restore(img, report=at1)
    dfpir.restore(img, upscale=2, report=at2)
    dfpir.restore(img, upscale=2, task="noise", report=told)
    assert at2["probabilities"]["lowres"] == 1.0 and at1["probabilities"]["lowres"] < 1.0
    enlarged = dfpir.analyze(cv2.resize(img, (64, 48), interpolation=cv2.INTER_CUBIC)).probabilities
    assert {t: p for t, p in at2["probabilities"].items() if t != "lowres"} == pytest.approx(
        {t: p for t, p in enlarged.items() if t != "lowres"}
    )
    assert told["probabilities"] == {t: float(t == "noise") for t in dfpir.types}


def test_only_a_matching_estimator_can_be_lent(ndr: Restorer) -> None:
    own = Restorer.from_config(preset("dfpir-tiny"), name="dfpir")
    other = Restorer.from_config(preset("ndr-tiny", types=("noise", "rain")), name="two-types")
    with pytest.raises(ValueError, match="estimates types"):
        Restorer(own.model, own.config, name="dfpir", estimator=other)
    borrower = Restorer(own.model, own.config, name="dfpir", estimator=ndr)
    with pytest.raises(ValueError, match="no estimator of its own"):
        Restorer(own.model, own.config, name="dfpir", estimator=borrower)
    with pytest.raises(ValueError, match="estimator must be"):
        Restorer.from_pretrained("dfpir", directory=WEIGHTS_DIR, estimator="dfpir")


def test_shipped_dfpir_borrows_the_shipped_ndr_estimator(tmp_path: Path, monkeypatch, caplog) -> None:
    img = photo_crop("fig.jpg", 256)
    ndr = Restorer.from_pretrained("ndr-restore", device="cpu", directory=WEIGHTS_DIR)
    dfpir = Restorer.from_pretrained("dfpir", device="cpu", directory=WEIGHTS_DIR)
    assert dfpir.estimator_name == "ndr-restore"
    assert dfpir.analyze(img).probabilities == pytest.approx(ndr.analyze(img).probabilities, abs=1e-6)
    assert Restorer.from_pretrained("dfpir", directory=WEIGHTS_DIR, estimator=None).estimator_name == "dfpir"
    assert Restorer.from_pretrained("dfpir", directory=WEIGHTS_DIR, estimator=ndr).estimator is ndr
    # a folder with DFPIR alone borrows from the shipped weights; with none anywhere, DFPIR's own head
    (tmp_path / "dfpir.safetensors").write_bytes((WEIGHTS_DIR / "dfpir.safetensors").read_bytes())
    assert Restorer.from_pretrained("dfpir", directory=tmp_path).estimator_name == "ndr-restore"
    monkeypatch.setenv("RESTORE_WEIGHTS_DIR", str(tmp_path))
    with caplog.at_level("WARNING"):
        alone = Restorer.from_pretrained("dfpir", directory=tmp_path)
    assert alone.estimator_name == "dfpir" and "own head" in caplog.text


def photo_crop(name: str, side: int = 512) -> np.ndarray:
    """The top-left ``side`` x ``side`` (at most) of an example photo."""
    return np.asarray(Image.open(EXAMPLES / name).convert("RGB"))[:side, :side]


def tiled_minus_whole(img: np.ndarray) -> np.ndarray:
    r = Restorer.from_pretrained("ndr-restore", device="cpu", directory=WEIGHTS_DIR)
    return r.restore(img, tile=256, overlap=32).astype(float) - r.restore(img, tile=0).astype(float)


def test_shipped_ndr_tiled_is_close_to_untiled() -> None:
    # A photo with texture everywhere, in 256-px tiles (the app's are 768).
    diff = np.abs(tiled_minus_whole(photo_crop("mountains.jpg")))
    assert diff.mean() < 1.5 and np.percentile(diff, 99) < 8


def test_shipped_ndr_reads_a_sky_tile_as_the_whole_photo_does() -> None:
    # Judged alone, a tile of bright, featureless sky looks hazy (it was darkened by up to 39 grey
    # levels before the tiles shared the whole image's CP-gate statistics).
    diff = tiled_minus_whole(photo_crop("dandelion.jpg")).mean(axis=-1)
    blocks = diff.reshape(8, 64, 8, 64).mean(axis=(1, 3))  # mean change per 64-px block
    assert np.abs(blocks).max() < 3, f"a tile shifted by {np.abs(blocks).max():.1f} grey levels"
    assert np.abs(diff).mean() < 1.0


def test_refine_names_the_refinements_to_run() -> None:
    from restore.inference.refine import refinement_set
    from restore.refinements import REFINEMENTS

    assert refinement_set(True) == set(REFINEMENTS) and refinement_set(False) == set()
    assert refinement_set(["haze"]) == {"haze"} and refinement_set("wiener") == {"wiener"}
    with pytest.raises(ValueError, match="unknown refinements"):
        refinement_set(["sharpen"])
    r = Restorer.from_config(preset("ndr-tiny"), seed=1)
    img = (np.random.default_rng(2).random((64, 80, 3)) * 255).astype(np.uint8)
    assert np.array_equal(r.restore(img, refine=list(REFINEMENTS)), r.restore(img))
    assert np.array_equal(r.restore(img, refine=[]), r.restore(img, refine=False))
    assert np.array_equal(r.restore(img, upscale=2, refine=["wiener", "haze"]), r.restore(img, upscale=2, refine=False))
    assert not np.array_equal(r.restore(img, refine=["wiener"]), r.restore(img, refine=False)), "Wiener ran"


def test_evaluation_columns_leave_one_refinement_out() -> None:
    from restore.evaluation.evaluate import SUFFIXES, refine_argument

    assert refine_argument("ndr-restore") is True and refine_argument("dfpir:raw") is False
    assert refine_argument("ndr-restore:no-haze") == ("wiener", "tone", "backproject")
    assert refine_argument("dfpir:no-tone") == ("wiener", "haze", "backproject")
    assert ":no-backproject" in SUFFIXES and ":no-tone" in SUFFIXES


def test_precision_auto_follows_the_cpu_and_the_environment(monkeypatch) -> None:
    from restore.inference import precision as R

    assert R.cpu_has_native_bf16("flags\t: fpu sse avx512f avx512_bf16\n")
    assert R.cpu_has_native_bf16("flags : fpu amx_bf16 amx_tile\n")
    assert not R.cpu_has_native_bf16("flags : fpu sse avx2\n")
    monkeypatch.setattr(R, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    monkeypatch.delenv("RESTORE_PRECISION", raising=False)
    assert R.resolve_precision(None, torch.device("cpu")) == "bf16"
    assert R.resolve_precision(None, torch.device("cuda")) == "fp32"
    monkeypatch.setenv("RESTORE_PRECISION", "fp32")
    assert R.resolve_precision(None, torch.device("cpu")) == "fp32"
    assert R.resolve_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(ValueError, match="precision"):
        R.resolve_precision("fp8", torch.device("cpu"))


def test_bf16_inference_stays_close_to_fp32() -> None:
    img = (np.random.default_rng(4).random((72, 88, 3)) * 255).astype(np.uint8)
    fp32 = Restorer.from_config(preset("ndr-tiny"), seed=2)
    bf16 = Restorer(fp32.model, fp32.config, name="bf16", precision="bf16")
    assert fp32.precision == "fp32" and bf16.precision == "bf16"
    a, b = fp32.restore(img).astype(int), bf16.restore(img).astype(int)
    assert a.shape == b.shape and b.dtype != object
    assert np.abs(a - b).mean() < 2.0, "bf16 moves the output by a few grey levels at most"
