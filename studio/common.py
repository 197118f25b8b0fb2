"""What every tab of the app shares: the loaded models, reading uploads, writing downloads, and
``UserError``, a mistake the user can fix (the app shows it as an error pop-up).

Nothing is computed at import: the models are listed when asked (:func:`model_names`) and loaded
on first use, and the download folder is made on the first download.
"""

from __future__ import annotations

import atexit
import base64
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from restore import Restorer, available_models, images
from restore.models.weights import WeightsError
from restore.resources import weights_dir

#: The app's own folder (``app.py`` and ``.gradio/`` live here).
APP_DIR = Path(__file__).resolve().parent.parent
ANALYSIS_SIDE = 512  # the model's-view plots are computed on a copy at most this large

ImageInput = dict | str | np.ndarray | None  # handlers take the raw upload (preprocess=False)
Progress = Callable[..., Any]  # called as progress((done, total), desc=..., unit=...)


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


# --------------------------------------------------------------------------- models
# One Restorer per weights folder and model name, loaded on first use (app.main() loads them all at
# start-up) and then only read: inference keeps no state between calls, so every session shares it.
_MODELS: dict[tuple[str, str], Restorer] = {}
_MODELS_LOCK = threading.Lock()
NO_MODEL = (
    "No trained weights were found in `restore/assets/weights/` (the training run has not shipped them yet), "
    "so restoring is unavailable; the Playground's Degrade button still works."
)


def model_names() -> list[str]:
    """The models whose weights are present now (known names first)."""
    return available_models()


def get_model(name: str | None) -> Restorer:
    """The shared restorer called ``name`` (loaded once), or a ``UserError`` that says why not."""
    names = model_names()
    if not names:
        raise UserError(NO_MODEL, title="No model available")
    name = name or names[0]
    if name not in names:
        raise UserError(f"Unknown model {name!r}; available: {', '.join(names)}")
    key = (str(weights_dir()), name)
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                _MODELS[key] = Restorer.from_pretrained(name=name)
            except (WeightsError, ValueError) as err:
                raise UserError(f"Cannot load {name}: {err}", title="Model unavailable") from err
        return _MODELS[key]


_DOWNLOADS: list[Path] = []


def downloads_dir() -> Path:
    """The app's folder of PNGs for download (made on first use, removed at exit); Gradio serves copies."""
    with _MODELS_LOCK:
        if not _DOWNLOADS:
            folder = Path(tempfile.mkdtemp(prefix="restore-studio-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            _DOWNLOADS.append(folder)
        return _DOWNLOADS[0]


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


def save_download(img: np.ndarray, stem: str) -> str:
    """Write a result for download (a fresh folder per call keeps names readable and unique)."""
    downloads = downloads_dir()
    for old in downloads.iterdir():  # Gradio has copied these into its own cache long ago
        if time.time() - old.stat().st_mtime > 600:
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=downloads))
    h, w = img.shape[:2]
    return str(images.save_png(img, folder / f"{stem}_{w}x{h}.png"))
