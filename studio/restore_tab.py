"""The Restore tab's callbacks: restore one photo, compare the models, and the tab's examples.

Handlers take the raw upload (the events run with ``preprocess=False``) and return HxWx3 uint8
images and Markdown; progress goes to a plain ``progress((done, total), desc=..., unit=...)``
callable, a no-op by default.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from restore import Restorer, images
from restore.inference.restorer import tile_count
from restore.models.weights import fingerprint
from restore.refinements.haze import WORK_SIDE
from restore.resources import examples_dir, weights_dir
from restore.synthesis.registry import degrade_image
from studio.common import (
    APP_DIR,
    ImageInput,
    Progress,
    UserError,
    get_model,
    load_upload,
    model_names,
    no_progress,
    save_download,
)

#: The Restore tab's examples: example photos degraded once with these recipes (cached on disk).
EXAMPLE_RECIPES: tuple[tuple[str, dict[str, dict[str, float]]], ...] = (
    ("mountains", {"haze": {"beta": 1.8}}),
    ("rock_face", {"noise": {"sigma": 30}}),
    ("dandelion", {"rain": {"density": 0.6}}),
    ("fig", {"lowlight": {"gain": 0.2}}),
)


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
) -> tuple[np.ndarray, float, int]:
    """Run ``r.restore`` with the UI's units (strength in %); returns (result, seconds, number of
    tiles). ``report``: filled as :meth:`Restorer.restore` does."""
    h, w = img.shape[:2]
    tiles = tile_count(h * int(upscale), w * int(upscale), int(tile) or None, int(overlap))

    def step(done: int, total: int) -> None:
        desc = f"{r.name}: restoring {tiles} tiles" if tiles > 1 else f"{r.name}: restoring"
        progress((done, total), desc=desc, unit="steps")

    start = time.perf_counter()
    try:
        out = r.restore(
            img,
            upscale=int(upscale),
            strength=float(strength) / 100.0,
            tile=int(tile) or None,
            overlap=int(overlap),
            progress=step,
            refine=bool(refine),
            report=report,
        )
    except ValueError as err:  # e.g. a tile too small for its overlap
        raise UserError(str(err), title="Invalid settings") from err
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
    progress: Progress = no_progress,
) -> tuple[tuple[np.ndarray, np.ndarray], str, str]:
    """Restore one image. Returns ((before, after), PNG path of the full-resolution result, info)."""
    img = load_upload(image)
    r = get_model(model)
    h, w = img.shape[:2]
    s = int(upscale)
    try:
        images.check_megapixels(w * s, h * s, images.max_megapixels(), name=f"the {s}x result")
    except images.ImageError as err:
        raise UserError(f"{err} Choose a smaller upscale factor.", title="Too large") from err
    done: dict[str, object] = {}
    out, seconds, tiles = run_restore(r, img, s, strength, tile, overlap, progress, refine, done)
    oh, ow = out.shape[:2]
    note = _refine_note(s, refine, done)
    info = (
        f"**{r.name}** restored {w}x{h} → {ow}x{oh} ({ow * oh / 1e6:.2f} MP) in **{seconds:.2f} s**"
        f" ({tiles} tile{'s' * (tiles != 1)}, strength {float(strength):.0f} %). {note}"
    )
    return (_before(img, out), out), save_download(out, f"restored_{r.name}"), info


def _refine_note(upscale: int, refine: bool, done: Mapping[str, Any]) -> str:
    """What the refinements after the network did (Wiener and the haze pass at 1x, back-projection
    when upscaling), and the noise level they worked with; ``done``: the ``report`` of
    :meth:`Restorer.restore`."""
    if not refine:
        return "Refinement off."
    if upscale != 1:
        weight = float(done.get("back_projection_weight", 0.0))
        if weight == 0.0:
            return "Back-projection off: the input looks noisy, and matching it would bring the noise back."
        note = "" if weight == 1.0 else f" at {weight:.0%} strength, as the input looks slightly noisy"
        return f"Back-projection on{note}: downscaled, the result matches your photo where its tone was kept."
    note = f"Wiener refinement on (estimated noise: sigma {float(done.get('noise_sigma', 0.0)):.1f} grey levels)."
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
    return note


def compare_models(
    image: ImageInput,
    upscale: int = 1,
    strength: float = 100,
    tile: int = 0,
    overlap: int = 32,
    refine: bool = True,
    progress: Progress = no_progress,
) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """Every available model on one image: the first two share the slider (first on the left)."""
    img = load_upload(image)
    outs, lines = [], []
    names = model_names()
    for name in names or [None]:
        out, seconds, _ = run_restore(get_model(name), img, upscale, strength, tile, overlap, progress, refine)
        outs.append(out)
        lines.append(f"- **{name}**: {seconds:.2f} s")
    if len(outs) == 1:
        outs.insert(0, _before(img, outs[0]))
        lines.append(
            f"- **dfpir is not available yet** (no weights), so the slider shows the input (left) against "
            f"{names[0]} (right)."
        )
    return (outs[0], outs[1]), "\n".join(lines)


# --------------------------------------------------------------------------- examples


def restore_examples() -> list[str]:
    """The degraded example photos of the Restore tab, written to ``.gradio/examples`` on first start."""
    paths = []
    for stem, recipe in EXAMPLE_RECIPES:
        src = examples_dir() / f"{stem}.jpg"
        dst = APP_DIR / ".gradio" / "examples" / f"{stem}_{'+'.join(recipe)}.png"
        if src.is_file() and not dst.is_file():
            images.save_png(degrade_image(images.load_image(src), recipe, seed=0), dst)
        if dst.is_file():
            paths.append(str(dst))
    return paths


def examples_cache() -> Path:
    """Lazily cached example results live in one folder per set of weights: new weights, fresh results."""
    names = model_names()
    key = fingerprint(weights_dir() / f"{names[0]}.safetensors")[:16] if names else "none"
    return APP_DIR / ".gradio" / "cached_examples" / key
