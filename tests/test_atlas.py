"""restore.evaluation.atlas (the dictionary atlas) and studio.plots (the app's figures)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from studio_env import single_thread_torch

from restore.evaluation import atlas as atlas_mod
from restore.evaluation.atlas import Atlas, compute_atlas, cosine_similarity, load_atlas, pca, read_atlas
from restore.inference.loading import available_models
from restore.inference.restorer import Restorer
from restore.models.config import preset
from restore.models.weights import fingerprint, save_weights
from restore.resources import package_assets, weights_dir
from restore.synthesis.registry import DEGRADATION_TYPES
from studio import plots

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    with single_thread_torch():
        yield


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Restorer, Path]:
    directory = tmp_path_factory.mktemp("weights")
    cfg = preset("ndr-tiny")
    r = Restorer.from_config(cfg, name="ndr-restore", seed=1)
    path = save_weights(r.model, directory / "ndr-restore.safetensors", cfg)
    return r, path


@pytest.fixture(scope="module")
def small_atlas(tiny: tuple[Restorer, Path]) -> Atlas:
    r, path = tiny
    return compute_atlas(r, path, samples_per_type=2, crop=48, seed=3)


def test_atlas_contents(small_atlas: Atlas, tiny: tuple[Restorer, Path]) -> None:
    a = small_atlas
    k = tiny[0].config.atoms
    assert a.types == DEGRADATION_TYPES and a.levels == (1, 2, 3)
    assert a.mean_activation.shape == (3, len(DEGRADATION_TYPES), k)
    np.testing.assert_allclose(a.mean_activation.sum(-1), 1.0, atol=1e-4)  # means of softmax weights
    assert a.pooled.shape == (2 * len(DEGRADATION_TYPES), 3 * k)
    assert a.labels.tolist() == [i for i in range(len(DEGRADATION_TYPES)) for _ in range(2)]
    assert a.similarity.shape == (k, k)
    np.testing.assert_allclose(np.diag(a.similarity), 1.0, atol=1e-5)
    np.testing.assert_allclose(a.similarity, a.similarity.T, atol=1e-6)
    assert a.sample_types[:3] == ["noise", "noise", "rain"]


def test_atlas_is_deterministic(small_atlas: Atlas, tiny: tuple[Restorer, Path]) -> None:
    again = compute_atlas(tiny[0], tiny[1], samples_per_type=2, crop=48, seed=3)
    np.testing.assert_array_equal(again.pooled, small_atlas.pooled)


def test_projection_matches_the_samples(small_atlas: Atlas) -> None:
    points = small_atlas.points
    assert points.shape == (len(small_atlas.labels), 2)
    np.testing.assert_allclose(small_atlas.project(small_atlas.pooled[4]), points[4], atol=1e-6)
    assert abs(points.mean(axis=0)).max() < 1e-6  # PCA centres the samples
    with pytest.raises(ValueError, match="expects"):
        small_atlas.project(np.zeros(5))


def test_save_load_round_trip_and_fingerprint(small_atlas: Atlas, tiny, tmp_path: Path, monkeypatch) -> None:
    path = small_atlas.save(tmp_path / "ndr-restore.npz")
    loaded = read_atlas(path)
    for name in ("mean_activation", "similarity", "pooled", "labels", "pca_mean", "pca_components", "explained"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(small_atlas, name))
    assert loaded.fingerprint == fingerprint(tiny[1]) and loaded.matches(tiny[1])
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"different weights")
    assert not loaded.matches(other)
    assert load_atlas("missing", tmp_path) is None
    monkeypatch.setenv("RESTORE_ATLAS_DIR", str(tmp_path))
    assert load_atlas("ndr-restore").fingerprint == small_atlas.fingerprint


def test_pca_recovers_the_main_direction() -> None:
    rng = np.random.default_rng(0)
    direction = np.array([3.0, 4.0, 0.0]) / 5
    x = rng.normal(size=(200, 1)) * 10 * direction + rng.normal(size=(200, 3)) * 0.1 + 7
    mean, comps, explained = pca(x)
    np.testing.assert_allclose(mean, x.mean(0))
    np.testing.assert_allclose(comps[0], direction, atol=0.01)  # sign fixed: largest loading positive
    np.testing.assert_allclose(comps @ comps.T, np.eye(2), atol=1e-9)
    assert explained[0] > 0.99


def test_cosine_similarity() -> None:
    sim = cosine_similarity(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, -1.0], [-1.0, 0.0]]))
    np.testing.assert_allclose(sim[0], [1.0, 1.0, 0.0, -1.0], atol=1e-7)


def test_texture_crops_when_there_are_no_photos() -> None:
    crops = atlas_mod.source_crops(3, 32, np.random.default_rng(0), photos=[])
    assert [c.shape for c in crops] == [(32, 32, 3)] * 3 and crops[0].std() > 10


def test_shipped_atlases_match_the_shipped_weights() -> None:
    """Every shipped NDR model needs an atlas made from exactly its weights (regenerate on change)."""
    shipped = [m for m in available_models(package_assets() / "weights") if m != "dfpir"]
    if not shipped:
        pytest.skip("no shipped NDR weights in restore/assets/weights yet")
    for name in shipped:
        atlas = load_atlas(name, package_assets() / "atlas")
        hint = f"run `python -m restore.evaluation.atlas --model {name}`"
        assert atlas is not None, f"restore/assets/atlas/{name}.npz is missing: {hint}"
        assert atlas.matches(package_assets() / "weights" / f"{name}.safetensors"), f"stale atlas: {hint}"
    assert weights_dir().name  # the app reads weights from here


# --------------------------------------------------------------------------- plots


def _text(fig: Figure) -> str:
    parts = [fig.get_suptitle()]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return " ".join(parts)


def test_plots_are_labelled_figures(small_atlas: Atlas) -> None:
    rng = np.random.default_rng(0)
    maps = rng.random((12, 16, 32)).astype(np.float32)
    figures = {
        "probability": plots.probability_bars(dict.fromkeys(DEGRADATION_TYPES, 0.3), ["haze"]),
        "atom": plots.atom_weights([maps.mean((0, 1))] * 3, [1, 2, 3]),
        "dominant": plots.dominant_atoms(np.zeros((48, 64, 3), np.uint8), maps, level=1),
        "atlas": plots.atlas_heatmaps(small_atlas.mean_activation, small_atlas.types, small_atlas.levels),
        "similar": plots.similarity_matrix(small_atlas.similarity),
        "PCA": plots.pca_scatter(small_atlas.points, small_atlas.sample_types, explained=(0.5, 0.2), star=(0, 0)),
    }
    for word, fig in figures.items():
        assert isinstance(fig, Figure)
        assert word.lower() in _text(fig).lower(), word
    assert "variance" in _text(figures["PCA"])
    assert len(figures["atlas"].axes) == 4 and len(figures["similar"].axes) == 2  # colour bars
