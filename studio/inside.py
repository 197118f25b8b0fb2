"""The "Inside the model" tab's callbacks: what the model recognised (probabilities, NDR
activations, the atlas of its dictionary) and NDR-Degrad's re-synthesis."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from restore import Analysis, images
from restore.evaluation.atlas import Atlas, load_atlas
from restore.evaluation.metrics import psnr
from restore.resources import weights_dir
from studio import plots
from studio.common import ANALYSIS_SIDE, NO_MODEL, ImageInput, UserError, get_model, load_upload

THRESHOLD = 0.5  # a type counts as detected from this probability on


def verdict(probabilities: Mapping[str, float]) -> str:
    """The analysis in words (Markdown): the detected types (p >= 0.5, most likely first), or "no
    clear degradation" when every probability is under 0.5, so a clean photo never shows its most
    likely type, however unlikely, as the answer."""
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
    found = [f"**{t}** ({p:.0%})" for t, p in ranked if p >= THRESHOLD]
    if found:
        return f"### Detected: {', '.join(found)}"
    if not ranked:
        return "### No degradation types: this model has no estimator."
    top, p = ranked[0]
    return (
        f"### No clear degradation\nEvery type is under {THRESHOLD:.0%}: the photo looks clean to the model "
        f"(the most likely, {top}, is {p:.0%})."
    )


def _analysis_copy(image: ImageInput) -> tuple[np.ndarray, tuple[int, int]]:
    """The upload shrunk to the analysis size, and the upload's own ``(width, height)``."""
    full = load_upload(image)
    return images.fit_within(full, ANALYSIS_SIDE), (full.shape[1], full.shape[0])


def _activation_plots(img: np.ndarray, a: Analysis, size: tuple[int, int]) -> tuple[Figure | None, Figure | None]:
    """Per-scale atom weights and the dominant-atom map, its axes in the photo's own pixels
    (``size``: its width and height); None for models without an NDR."""
    if not a.activations:
        return None, None
    first = a.activations[0]
    return (
        plots.atom_weights([s.pooled for s in a.activations], [s.level for s in a.activations]),
        plots.dominant_atoms(img, first.map, level=first.level, size=size),
    )


def explain_image(image: ImageInput, model: str | None) -> tuple[Figure, Figure | None, Figure | None]:
    """Detected degradations, per-scale atom weights and the dominant-atom map for one image."""
    img, size = _analysis_copy(image)
    a = get_model(model).analyze(img)
    return plots.probability_bars(a.probabilities), *_activation_plots(img, a, size)


def _atlas(model: str | None) -> Atlas | None:
    return load_atlas(model) if model else None


def atlas_figures(model: str | None) -> tuple[Figure | None, Figure | None, str]:
    """The dictionary atlas heatmaps and the atom similarity matrix for ``model``."""
    atlas = _atlas(model)
    if model is None:
        return None, None, NO_MODEL
    if atlas is None:
        return (
            None,
            None,
            (
                f"No atlas for {model}. Atlases exist for models with an NDR dictionary; make one with "
                f"`python -m restore.evaluation.atlas --model {model}`."
            ),
        )
    note = (
        ""
        if atlas.matches(weights_dir() / f"{model}.safetensors")
        else " **The atlas is older than the weights: regenerate it.**"
    )
    return (
        plots.atlas_heatmaps(atlas.mean_activation, atlas.types, atlas.levels),
        plots.similarity_matrix(atlas.similarity),
        f"Atlas of {atlas.samples_per_type} synthesised samples per degradation type.{note}",
    )


def analyze(
    image: ImageInput, model: str | None
) -> tuple[dict[str, float], Figure | None, Figure | None, Figure | None]:
    """Blind analysis: degradation probabilities, the image in the atlas' PCA, and its activations
    (the app states the probabilities' :func:`verdict` in words above them)."""
    img, size = _analysis_copy(image)
    r = get_model(model)
    a = r.analyze(img)
    atlas = _atlas(r.name)
    pca = None
    if atlas is not None and a.pooled_vector.size:
        pca = plots.pca_scatter(
            atlas.points, atlas.sample_types, explained=atlas.explained, star=atlas.project(a.pooled_vector)
        )
    return dict(a.probabilities), pca, *_activation_plots(img, a, size)


def redegrade(image: ImageInput, model: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Restore the input, then let NDR-Degrad re-synthesise its degradation on the result."""
    img = _analysis_copy(image)[0]
    r = get_model(model)
    if not r.has_redegrader:
        raise UserError(
            f"{r.name} has no NDR-Degrad network, so it cannot re-synthesise degradations: choose an NDR model.",
            title="Not available",
        )
    restored = r.restore(img)
    again = r.redegrade(restored, img)
    score = f"PSNR between the real input and the re-synthesised one: **{psnr(again, img):.2f} dB** "
    score += "(higher = the queried NDR features describe this degradation better)."
    return img, restored, again, score
