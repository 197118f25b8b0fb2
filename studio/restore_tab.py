"""The Restore tab's callbacks: restore one photo, compare the models, the noise level's estimate,
and the tab's examples.

Handlers take the raw upload (the events run with ``preprocess=False``) and return HxWx3 uint8
images and Markdown; progress goes to a plain ``progress((done, total), desc=..., unit=...)``
callable, a no-op by default.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from restore import Restorer, images
from restore.inference.noise_map import MAX_NOISE_LEVEL
from restore.inference.tiling import auto_tile, tile_count
from restore.models.weights import fingerprint
from restore.refinements.haze import WORK_SIDE
from restore.resources import examples_dir, weights_dir
from restore.synthesis.registry import degrade_image
from studio.common import (
    APP_DIR,
    ImageInput,
    Progress,
    UserError,
    code_version,
    download_stem,
    get_model,
    load_upload,
    model_names,
    no_progress,
    number,
    save_download,
)

#: The Restore tab's examples: example photos degraded once with these recipes (cached on disk).
EXAMPLE_RECIPES: tuple[tuple[str, dict[str, dict[str, float]]], ...] = (
    ("mountains", {"haze": {"beta": 1.8}}),
    ("rock_face", {"noise": {"sigma": 30}}),
    ("dandelion", {"rain": {"density": 0.6}}),
    ("fig", {"lowlight": {"gain": 0.2}}),
)
MIN_TILE = 64  # smaller tiles only multiply the work (a 40-MP photo in 8-px tiles is 600,000 runs)
MAX_TILE = 4096
#: The noise level slider's step (grey levels): the estimate it shows is rounded to it.
NOISE_STEP = 0.5
NOISE_AUTO = "Noise level: auto"


def check_settings(
    upscale: Any, strength: Any, tile: Any, overlap: Any, size: tuple[int, int] | None = None
) -> tuple[int, float, int, int]:
    """The Restore settings in the UI's units, checked: (upscale, strength in %, tile px or 0 for
    auto, overlap px), or a ``UserError`` that names the setting and what it may be.

    Args:
        size: ``(height, width)`` of the input, to check the overlap against the automatic tile.
    """
    s = int(number(upscale, "upscale", low=1, high=4, unit="(times)", integer=True))
    pct = number(strength, "strength", low=0, high=100, unit="%")
    t = int(number(tile, "tile size", low=0, high=MAX_TILE, unit="px (0 = automatic)", integer=True))
    if 0 < t < MIN_TILE:
        raise UserError(
            f"tile size must be 0 (automatic) or at least {MIN_TILE} px, got {tile!r}.", title="Invalid settings"
        )
    o = int(number(overlap, "tile overlap", low=0, high=MAX_TILE, unit="px", integer=True))
    effective = t or (auto_tile(size[0] * s, size[1] * s) if size else 0)
    if effective and effective < 2 * o + 8:
        which = f"{t}-px tiles" if t else f"the automatic {effective}-px tiles"
        raise UserError(
            f"A tile overlap of {o} px is too large for {which}: it can be at most {(effective - 8) // 2} px "
            "(tiles blend over the overlap at both edges). Lower the overlap or choose larger tiles.",
            title="Invalid settings",
        )
    return s, pct, t, o


def check_noise(noise_auto: Any, noise_level: Any) -> float | None:
    """The noise level ``Restorer.restore`` gets: None while ``noise_auto`` is on (the slider is then
    not read), else the slider's level in grey levels, checked; a ``UserError`` names what is wrong.

    Args:
        noise_auto: the "Noise level: auto" checkbox, True or False (None counts as on).
        noise_level: the slider, 0..MAX_NOISE_LEVEL grey levels on the 0-255 scale.
    """
    if noise_auto is None or noise_auto is True:
        return None
    if noise_auto is not False:
        raise UserError(f"noise level auto must be true or false, got {noise_auto!r}.", title="Invalid settings")
    return number(noise_level, "noise level", low=0, high=MAX_NOISE_LEVEL, unit="grey levels")


def noise_estimate(image: ImageInput, model: str | None, upscale: Any = 1) -> tuple[str, float | None]:
    """The "Noise level: auto" checkbox's label with the estimate for this upload at this upscale
    (:meth:`Restorer.noise_estimate`, the level ``restore`` reads when auto is on), and the estimate
    rounded to the slider's step (None when there is none).

    Never raises: this runs on every upload, and a file that cannot be used (or a missing model)
    is refused by Restore itself, with its message; until then the label says plain "auto".
    """
    try:
        img = load_upload(image)
        r = get_model(model)
        s = int(number(upscale, "upscale", low=1, high=4, unit="(times)", integer=True))
        h, w = img.shape[:2]
        images.check_megapixels(w * s, h * s, images.max_megapixels(), name=f"the {s}x result")
    except (UserError, images.ImageError):
        return NOISE_AUTO, None
    estimate = r.noise_estimate(img, upscale=s)
    return f"{NOISE_AUTO} (estimate {estimate:.1f})", round(estimate / NOISE_STEP) * NOISE_STEP


def run_restore(
    r: Restorer,
    img: np.ndarray,
    upscale: int,
    strength: float,
    tile: int,
    overlap: int,
    progress: Progress,
    refine: bool = True,
    report: dict[str, object] | None = None,
    noise_level: float | None = None,
) -> tuple[np.ndarray, float, int]:
    """Run ``r.restore`` with the UI's units (strength in %, checked by :func:`check_settings`);
    returns (result, seconds, number of tiles). ``report``: filled as :meth:`Restorer.restore` does;
    ``noise_level``: grey levels, None = estimated (:func:`check_noise`)."""
    h, w = img.shape[:2]
    upscale, strength, tile, overlap = check_settings(upscale, strength, tile, overlap, (h, w))
    tiles = tile_count(h * upscale, w * upscale, tile or None, overlap)

    def step(done: int, total: int) -> None:
        desc = f"{r.name}: restoring {tiles} tiles" if tiles > 1 else f"{r.name}: restoring"
        progress((done, total), desc=desc, unit="steps")

    start = time.perf_counter()
    out = r.restore(
        img,
        upscale=upscale,
        strength=strength / 100.0,
        tile=tile or None,
        overlap=overlap,
        progress=step,
        refine=bool(refine),
        report=report,
        noise_level=noise_level,
    )
    return out, time.perf_counter() - start, tiles


def _before(img: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The slider's "before": the input, bicubic-upscaled to the result's size when upscaling."""
    return img if img.shape == out.shape else images.resize_bicubic(img, out.shape[1], out.shape[0])


def restore_image(
    image: ImageInput,
    model: str | None,
    upscale: int = 1,
    strength: float = 100,
    tile: int = 0,
    overlap: int = 32,
    refine: bool = True,
    noise_auto: bool = True,
    noise_level: float = 0.0,
    progress: Progress = no_progress,
) -> tuple[tuple[np.ndarray, np.ndarray], str, str]:
    """Restore one image. Returns ((before, after), PNG path of the full-resolution result, named
    ``<original>_restored.png``, info). ``noise_level`` (grey levels) is read only with
    ``noise_auto`` off (:func:`check_noise`)."""
    img = load_upload(image)
    r = get_model(model)
    h, w = img.shape[:2]
    s, strength, tile, overlap = check_settings(upscale, strength, tile, overlap, (h, w))
    level = check_noise(noise_auto, noise_level)
    try:
        images.check_megapixels(w * s, h * s, images.max_megapixels(), name=f"the {s}x result")
    except images.ImageError as err:
        raise UserError(f"{err} Choose a smaller upscale factor.", title="Too large") from err
    done: dict[str, object] = {}
    out, seconds, tiles = run_restore(r, img, s, strength, tile, overlap, progress, refine, done, level)
    oh, ow = out.shape[:2]
    note = _noise_note(level, done) + _refine_note(s, refine, done, estimated=level is None)
    info = (
        f"**{r.name}** restored {w}x{h} → {ow}x{oh} ({ow * oh / 1e6:.2f} MP) in **{seconds:.2f} s**"
        f" ({tiles} tile{'s' * (tiles != 1)}, strength {float(strength):.0f} %). {note}"
    )
    return (_before(img, out), out), save_download(out, download_stem(image, "restored")), info


def _noise_note(level: float | None, done: Mapping[str, Any]) -> str:
    """The noise level the network's noise map read (models with one) or the user set, as a
    sentence with a trailing space; empty where neither."""
    if "noise_level" not in done:
        return ""
    how = "estimated" if level is None else "yours"
    return f"Noise level {float(done['noise_level']):.1f} grey levels ({how}). "


def _refine_note(upscale: int, refine: bool, done: Mapping[str, Any], estimated: bool = True) -> str:
    """What the refinements after the network did (Wiener and the haze pass at 1x, back-projection
    when upscaling), and the noise level they worked with; ``done``: the ``report`` of
    :meth:`Restorer.restore`; ``estimated``: whether that level was estimated (not the user's)."""
    if not refine:
        return "Refinement off."
    if upscale != 1:
        weight = float(done.get("back_projection_weight", 0.0))
        if weight == 0.0:
            return (
                "Back-projection off: the input looks noisy, and matching it would bring the noise back."
                + _tone_note(done)
            )
        note = "" if weight == 1.0 else f" at {weight:.0%} strength, as the input looks slightly noisy"
        return (
            f"Back-projection on{note}: downscaled, the result matches your photo where its tone was kept."
            + _tone_note(done)
        )
    source = "estimated noise" if estimated else "noise from your level"
    note = f"Wiener refinement on ({source}: sigma {float(done.get('noise_sigma', 0.0)):.1f} grey levels)."
    hard = float(done.get("wiener_hard_share", 0.0))
    if hard >= 0.005:
        note += f" Its pilot is {hard:.0%} the thresholded photo, as noise looks like the only fault."
    haze_weight, carry_weight = float(done.get("haze_weight", 0.0)), float(done.get("haze_carry_weight", 0.0))
    if haze_weight > 0.0:
        share = "" if haze_weight >= 0.995 else f" at {haze_weight:.0%}"
        how = (
            "carried to your photo's own pixels"
            if carry_weight >= 0.5
            else "taken for the coarse tones only, as the photo has more than haze"
        )
        note += (
            f" Haze pass on{share}: the network also dehazed a {WORK_SIDE}-px copy, the scale it was trained"
            f" on, and that correction was {how}."
        )
    return note + _tone_note(done)


def _tone_note(done: Mapping[str, Any]) -> str:
    """What the tone lock did (``done["tone_lock_weights"]``: brightening, darkening), as a sentence
    with a leading space; empty where it did not run."""
    up, down = done.get("tone_lock_weights", (0.0, 0.0))
    if max(up, down) < 0.5:
        return ""
    if min(up, down) >= 0.5:
        return " Tone lock on: no low light or haze found, so your photo's brightness and colours were kept."
    return " Tone lock on against brightening: removing rain may darken your photo, nothing else may shift its tone."


def compare_sides(names: list[str]) -> tuple[str, str]:
    """What the comparison's slider shows on its (left, right): the first two models, or the input
    and the only model."""
    if len(names) >= 2:
        return names[0], names[1]
    return "input", (names or ["no model"])[0]


def compare_models(
    image: ImageInput,
    upscale: int = 1,
    strength: float = 100,
    tile: int = 0,
    overlap: int = 32,
    refine: bool = True,
    noise_auto: bool = True,
    noise_level: float = 0.0,
    progress: Progress = no_progress,
) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """Every available model on one image: the first two share the slider (first on the left).
    Returns ((left, right), a Markdown table of each model's time)."""
    img = load_upload(image)
    names = model_names()
    if not names:
        get_model(None)  # raises the "no model" error
    h, w = img.shape[:2]
    check_settings(upscale, strength, tile, overlap, (h, w))
    level = check_noise(noise_auto, noise_level)
    outs = []
    left, right = compare_sides(names)
    rows = ["| model | time | slider |", "|---|---|---|"]
    for name in names:
        r = get_model(name)
        out, seconds, tiles = run_restore(r, img, upscale, strength, tile, overlap, progress, refine, None, level)
        outs.append(out)
        side = "left" if name == left else "right" if name == right else "not shown"
        rows.append(f"| **{name}** | {seconds:.2f} s ({tiles} tile{'s' * (tiles != 1)}) | {side} |")
    if len(outs) == 1:
        outs.insert(0, _before(img, outs[0]))
        rows.append(f"\nOnly {names[0]} has weights here, so the slider shows your photo (left) against it (right).")
    oh, ow = outs[1].shape[:2]
    rows.append(f"\nBoth with the same settings: {w}x{h} → {ow}x{oh}.")
    return (outs[0], outs[1]), "\n".join(rows)


# --------------------------------------------------------------------------- examples


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def restore_examples() -> list[str]:
    """The degraded example photos of the Restore tab, written on first start to
    ``.gradio/examples/<key>/``, the key a hash of :data:`EXAMPLE_RECIPES` and the code
    (:func:`studio.common.code_version`): a changed recipe or degradation makes fresh files."""
    folder = APP_DIR / ".gradio" / "examples" / _key(EXAMPLE_RECIPES, code_version())
    paths = []
    for stem, recipe in EXAMPLE_RECIPES:
        src = examples_dir() / f"{stem}.jpg"
        dst = folder / f"{stem}_{'+'.join(recipe)}.png"
        if src.is_file() and not dst.is_file():
            images.save_png(degrade_image(images.load_image(src), recipe, seed=0), dst)
        if dst.is_file():
            paths.append(str(dst))
    return paths


def examples_cache() -> Path:
    """The folder of the lazily cached example results: one per recipe set, weights of the model
    the examples use (its fingerprint) and code version, so none of them can change under a
    cached result."""
    names = model_names()
    weights = fingerprint(weights_dir() / f"{names[0]}.safetensors") if names else "none"
    return APP_DIR / ".gradio" / "cached_examples" / _key(EXAMPLE_RECIPES, weights, code_version())
