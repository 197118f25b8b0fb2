"""The restoration studio's callbacks: what each control of the Gradio app (``app.py``) computes.

``app.py`` lays out the page and wires its events here through a small adapter. Handlers take the
raw upload (the events run with ``preprocess=False``) and return HxWx3 uint8 images, Markdown and
matplotlib figures. A user's mistake raises ``UserError`` (a message and a title), which the app
shows as an error pop-up; progress goes to a plain ``progress((done, total), desc=..., unit=...)``
callable, a no-op by default. So this module, like all of ``restore``, never imports gradio.
The Playground tab's callbacks are in :mod:`restore.playground`.
"""

from __future__ import annotations

import atexit
import base64
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from restore import Analysis, Restorer, available_models, images, plots
from restore.atlas import Atlas, load_atlas
from restore.degradations import degrade_image
from restore.hazedetail import WORK_SIDE
from restore.inference import tile_count, weights_dir
from restore.metrics import psnr
from restore.weights import WeightsError, fingerprint


class UserError(Exception):
    """A mistake the user can fix (no image, a bad recipe, ...): ``message`` under the heading ``title``."""

    def __init__(self, message: str, title: str = "Error") -> None:
        super().__init__(message)
        self.message, self.title = message, title

    def __reduce__(self) -> tuple[type[UserError], tuple[str, str]]:
        return type(self), (self.message, self.title)  # survives pickling (ZeroGPU runs calls in a worker)


Progress = Callable[..., Any]  # called as progress((done, total), desc=..., unit=...)


def no_progress(*args: Any, **kwargs: Any) -> None:
    """The default progress callable: reports nowhere."""


ROOT = Path(__file__).resolve().parent.parent
# The Restore tab's examples: example photos degraded once with these recipes (cached on disk).
EXAMPLE_RECIPES: tuple[tuple[str, dict[str, dict[str, float]]], ...] = (
    ("mountains", {"haze": {"beta": 1.8}}),
    ("rock_face", {"noise": {"sigma": 30}}),
    ("dandelion", {"rain": {"density": 0.6}}),
    ("fig", {"lowlight": {"gain": 0.2}}),
)
ANALYSIS_SIDE = 512  # the activation plots are computed on a copy at most this large
DOWNLOADS = Path(tempfile.mkdtemp(prefix="restore-studio-"))  # PNGs for download; Gradio serves copies
atexit.register(shutil.rmtree, DOWNLOADS, ignore_errors=True)

ImageInput = dict | str | np.ndarray | None  # handlers take the raw upload (preprocess=False)

# --------------------------------------------------------------------------- models
# One Restorer per model name, loaded on first use (app.main() loads them all at start-up) and then
# only read: inference keeps no state between calls, so every session can share it.
_MODELS: dict[str, Restorer] = {}
_MODELS_LOCK = threading.Lock()
MODEL_NAMES: list[str] = available_models()
NO_MODEL = (
    "No trained weights were found in `assets/weights/` (the training run has not shipped them yet), "
    "so restoring is unavailable; the Playground's Degrade button still works."
)


def get_model(name: str | None) -> Restorer:
    """The shared restorer called ``name`` (loaded once), or a ``UserError`` that says why not."""
    if not MODEL_NAMES:
        raise UserError(NO_MODEL, title="No model available")
    name = name or MODEL_NAMES[0]
    if name not in MODEL_NAMES:
        raise UserError(f"Unknown model {name!r}; available: {', '.join(MODEL_NAMES)}")
    with _MODELS_LOCK:
        if name not in _MODELS:
            try:
                _MODELS[name] = Restorer.from_pretrained(name=name)
            except (WeightsError, ValueError) as err:
                raise UserError(f"Cannot load {name}: {err}", title="Model unavailable") from err
        return _MODELS[name]


def load_upload(image: ImageInput) -> np.ndarray:
    """An upload (Gradio file payload, path or array) as HxWx3 uint8, or a ``UserError`` with the reason."""
    if image is None:
        raise UserError("Add an image first: drag and drop, paste, or pick an example.", title="No image")
    source: Any = image
    if isinstance(image, dict):
        source = image.get("path")
        url = image.get("url") or ""
        if not source and url.startswith("data:"):
            source = base64.b64decode(url.split(",", 1)[1])
    try:
        return images.load_image(source, max_megapixels=images.max_megapixels())
    except images.ImageError as err:
        raise UserError(str(err), title="Cannot use this image") from err


def _png(img: np.ndarray, stem: str) -> str:
    """Write a result for download (a fresh folder per call keeps names readable and unique)."""
    for old in DOWNLOADS.iterdir():  # Gradio has copied these into its own cache long ago
        if time.time() - old.stat().st_mtime > 600:
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=DOWNLOADS))
    h, w = img.shape[:2]
    return str(images.save_png(img, folder / f"{stem}_{w}x{h}.png"))


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


# --------------------------------------------------------------------------- restore tab


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
    return (_before(img, out), out), _png(out, f"restored_{r.name}"), info


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


def _activation_plots(img: np.ndarray, a: Analysis) -> tuple[Figure | None, Figure | None]:
    """Per-scale atom weights and the dominant-atom map (None for models without an NDR)."""
    if not a.activations:
        return None, None
    first = a.activations[0]
    return (
        plots.atom_weights([s.pooled for s in a.activations], [s.level for s in a.activations]),
        plots.dominant_atoms(img, first.map, level=first.level),
    )


def explain_image(image: ImageInput, model: str | None) -> tuple[Figure, Figure | None, Figure | None]:
    """Detected degradations, per-scale atom weights and the dominant-atom map for one image."""
    img = images.fit_within(load_upload(image), ANALYSIS_SIDE)
    a = get_model(model).analyze(img)
    return plots.probability_bars(a.probabilities), *_activation_plots(img, a)


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
    for name in MODEL_NAMES or [None]:
        out, seconds, _ = run_restore(get_model(name), img, upscale, strength, tile, overlap, progress, refine)
        outs.append(out)
        lines.append(f"- **{name}**: {seconds:.2f} s")
    if len(outs) == 1:
        outs.insert(0, _before(img, outs[0]))
        lines.append(
            f"- **dfpir is not available yet** (no weights), so the slider shows the input (left) against "
            f"{MODEL_NAMES[0]} (right)."
        )
    return (outs[0], outs[1]), "\n".join(lines)


# --------------------------------------------------------------------------- inside the model


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
                f"`python -m restore.atlas --model {model}`."
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


def analyze(image: ImageInput, model: str | None) -> tuple[dict[str, float], Figure | None, Figure, Figure]:
    """Blind analysis: degradation probabilities, the image in the atlas' PCA, and its activations."""
    img = images.fit_within(load_upload(image), ANALYSIS_SIDE)
    r = get_model(model)
    a = r.analyze(img)
    atlas = _atlas(r.name)
    pca = None
    if atlas is not None and a.pooled_vector.size:
        pca = plots.pca_scatter(
            atlas.points, atlas.sample_types, explained=atlas.explained, star=atlas.project(a.pooled_vector)
        )
    return dict(a.probabilities), pca, *_activation_plots(img, a)


def redegrade(image: ImageInput, model: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Restore the input, then let NDR-Degrad re-synthesise its degradation on the result."""
    img = images.fit_within(load_upload(image), ANALYSIS_SIDE)
    r = get_model(model)
    if not r.has_redegrader:
        raise UserError(f"{r.name} has no NDR-Degrad network, so it cannot re-synthesise degradations.")
    restored = r.restore(img)
    again = r.redegrade(restored, img)
    score = f"PSNR between the real input and the re-synthesised one: **{psnr(again, img):.2f} dB** "
    score += "(higher = the queried NDR features describe this degradation better)."
    return img, restored, again, score


# --------------------------------------------------------------------------- examples


def restore_examples() -> list[str]:
    """The degraded example photos of the Restore tab, written to ``.gradio/examples`` on first start."""
    paths = []
    for stem, recipe in EXAMPLE_RECIPES:
        src = ROOT / "assets" / "examples" / f"{stem}.jpg"
        dst = ROOT / ".gradio" / "examples" / f"{stem}_{'+'.join(recipe)}.png"
        if src.is_file() and not dst.is_file():
            images.save_png(degrade_image(images.load_image(src), recipe, seed=0), dst)
        if dst.is_file():
            paths.append(str(dst))
    return paths


def examples_cache() -> Path:
    """Lazily cached example results live in one folder per set of weights: new weights, fresh results."""
    key = fingerprint(weights_dir() / f"{MODEL_NAMES[0]}.safetensors")[:16] if MODEL_NAMES else "none"
    return ROOT / ".gradio" / "cached_examples" / key
