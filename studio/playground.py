"""The Playground tab's callbacks: degrade a clean photo with a recipe, restore it and score both.

Split from :mod:`studio.restore_tab`, whose models, upload handling and errors it shares; like it, this
module never imports gradio.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from restore import images
from restore.evaluation.baselines import BASELINES, baseline_for
from restore.evaluation.metrics import WIN_SIZE, psnr, ssim
from restore.synthesis.registry import DEGRADATIONS, degrade_image, random_spec, validate_spec
from studio import plots
from studio.common import ImageInput, Progress, UserError, get_model, load_upload, no_progress, number
from studio.restore_tab import run_restore

PLAYGROUND_SIDE = 768  # the playground works on a copy at most this large: it is for exploring
MAX_SEED = 2**32 - 1

# (type, param) per playground control, in the order ui/playground_tab.py builds them: each type's checkbox
# (param None), then one slider per parameter.
CONTROLS: tuple[tuple[str, str | None], ...] = tuple(
    control
    for name, deg in DEGRADATIONS.items()
    for control in ((name, None), *((name, prm.name) for prm in deg.params))
)


def recipe_from_controls(*values: float | bool) -> dict[str, dict[str, float]]:
    """The playground's checkboxes and sliders (in ``CONTROLS`` order) as a degradation recipe."""
    enabled = {t for (t, p), v in zip(CONTROLS, values, strict=True) if p is None and v}
    recipe: dict[str, dict[str, float]] = {t: {} for t in DEGRADATIONS if t in enabled}
    for (t, p), v in zip(CONTROLS, values, strict=True):
        if p is not None and t in enabled:
            recipe[t][p] = float(v)
    return recipe


def recipe_for_seed(seed: float | None) -> list[Any]:
    """A random recipe drawn from ``seed``, as values for every control in ``CONTROLS`` order, then the recipe."""
    spec = random_spec(torch.Generator().manual_seed(int(seed or 0)))
    values: list[Any] = []
    for t, p in CONTROLS:
        if p is None:
            values.append(t in spec)
        else:
            values.append(spec[t][p] if t in spec else DEGRADATIONS[t].param(p).default)
    return [*values, spec]


def random_degradation() -> list[Any]:
    """A fresh seed (shown, so the draw can be repeated) and the random recipe it gives."""
    seed = int(np.random.default_rng().integers(0, 1_000_000))
    return [seed, *recipe_for_seed(seed)]


def _recipe(recipe: Any) -> dict[str, dict[str, float]]:
    """``recipe`` checked by the registry, or a ``UserError`` that says what is wrong with it."""
    if recipe is None:
        recipe = {}
    if not isinstance(recipe, dict) or not all(isinstance(v, dict | None) for v in recipe.values()):
        raise UserError(
            'The recipe must be a JSON object {type: {parameter: value}}, e.g. {"noise": {"sigma": 25}}; '
            f"got {recipe!r:.80}.",
            title="Invalid recipe",
        )
    try:
        return validate_spec({t: p or {} for t, p in recipe.items()})
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"Invalid degradation recipe: {err}", title="Invalid recipe") from err


def _clean_and_degraded(image: ImageInput, recipe: Any, seed: Any) -> tuple[np.ndarray, np.ndarray]:
    clean = images.fit_within(load_upload(image), PLAYGROUND_SIDE)
    spec = _recipe(recipe)
    seed = int(number(seed or 0, "seed", low=0, high=MAX_SEED, integer=True))
    if not spec:
        raise UserError("Tick at least one degradation (or press Random degradation).", title="Nothing to do")
    return clean, degrade_image(clean, spec, seed=seed)


def _score_row(label: str, img: np.ndarray, clean: np.ndarray, ref: float | None = None) -> str:
    value = psnr(img, clean)
    gain = "" if ref is None else f"{value - ref:+.2f}"
    score = f"{ssim(img, clean):.4f}" if min(img.shape[:2]) >= WIN_SIZE else "n/a"
    return f"| {label} | {value:.2f} | {score} | {gain} |"


def _notes(clean: np.ndarray) -> str:
    """What the table leaves out and why (empty when nothing is)."""
    h, w = clean.shape[:2]
    if min(h, w) >= WIN_SIZE:
        return ""
    return f"\n\n*SSIM skipped: it needs at least {WIN_SIZE}x{WIN_SIZE} px and this image is {w}x{h}.*"


def degrade(
    image: ImageInput, recipe: dict | None, seed: float | None = 0
) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """Degrade a clean photo with a recipe ``{type: {param: value}}``; returns ((clean, degraded), metrics).
    Metrics an image is too small for (SSIM under 11x11 px) are skipped with a note."""
    clean, degraded = _clean_and_degraded(image, recipe, seed)
    table = "| image | PSNR (dB) | SSIM | |\n|---|---|---|---|\n" + _score_row("degraded vs clean", degraded, clean)
    return (clean, degraded), table + _notes(clean)


def degrade_and_restore(
    image: ImageInput,
    recipe: dict | None,
    seed: float | None,
    model: str | None,
    progress: Progress = no_progress,
) -> tuple[Any, ...]:
    """Degrade, restore and score: the three images, a degraded/restored slider, metrics, detection."""
    clean, degraded = _clean_and_degraded(image, recipe, seed)
    r = get_model(model)
    restored, _, _ = run_restore(r, degraded, 1, 100, 0, 32, progress)
    probs = r.analyze(degraded).probabilities
    true_types = list(_recipe(recipe))
    ranked = sorted(true_types, key=lambda t: -probs.get(t, 0.0))
    base = psnr(degraded, clean)
    rows = [_score_row("degraded input", degraded, clean), _score_row(f"restored ({r.name})", restored, clean, base)]
    name = baseline_for(ranked)
    if name is not None:
        b = BASELINES[name]
        rows.append(_score_row(f"classical: {b.label}", b(degraded), clean, base))
    else:
        rows.append(f"| classical | no classical method for {', '.join(true_types)} | | |")
    detected = [t for t, p in probs.items() if p >= 0.5]
    metrics = "\n".join(
        [
            "| vs clean | PSNR (dB) | SSIM | gain (dB) |",
            "|---|---|---|---|",
            *rows,
            "",
            f"**True:** {', '.join(true_types)} · **detected (p ≥ 0.5):** {', '.join(detected) or 'none'}",
        ]
    )
    metrics += _notes(clean)
    views = {"clean": clean, "degraded": degraded, "restored": restored}
    return (
        clean,
        degraded,
        restored,
        (degraded, restored),
        metrics,
        plots.probability_bars(probs, true_types),
        views,
    )


def compare_with(use_clean: bool, views: dict | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The playground slider: restored against the degraded input, or against the clean photo."""
    if not views:
        return None
    return (views["clean"] if use_clean else views["degraded"], views["restored"])
