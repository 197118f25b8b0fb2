"""What every tab of the app shares: the loaded models, reading uploads, checking settings,
writing downloads, and ``UserError``, a mistake the user can fix (the app shows it as an error
pop-up and logs one line, never a traceback).

Nothing is computed at import: the models are listed when asked (:func:`model_names`) and loaded
on first use, and the download folder is made on the first download.

Environment: ``RESTORE_MAX_UPLOAD_MB`` caps the size of an uploaded file (:func:`max_upload_mb`);
``RESTORE_MAX_MEGAPIXELS`` (read by :mod:`restore.images`) caps its pixels.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

import restore
from restore import Restorer, available_models, images
from restore.inference.loading import ESTIMATOR_SOURCES
from restore.models.weights import WeightsError
from restore.resources import weights_dir

#: The app's own folder (``app.py`` and ``.gradio/`` live here).
APP_DIR = Path(__file__).resolve().parent.parent
ANALYSIS_SIDE = 512  # the model's-view plots are computed on a copy at most this large

ImageInput = dict | str | np.ndarray | None  # handlers take the raw upload (preprocess=False)
Progress = Callable[..., Any]  # called as progress((done, total), desc=..., unit=...)


class UserError(Exception):
    """A mistake the user can fix (no image, a bad recipe, ...): ``message`` under the heading ``title``.

    ``upload``: the path of an uploaded file this error refuses (set by :func:`load_upload`), so the
    app can delete the server's copy at once instead of keeping a file nobody can use.
    """

    def __init__(self, message: str, title: str = "Error", *, upload: str | None = None) -> None:
        super().__init__(message)
        self.message, self.title, self.upload = message, title, upload

    def __reduce__(self) -> tuple[Callable[..., UserError], tuple[type[UserError], str, str, str | None]]:
        # survives pickling (ZeroGPU runs calls in a worker), keyword argument included
        return _rebuild_user_error, (type(self), self.message, self.title, self.upload)


def _rebuild_user_error(cls: type[UserError], message: str, title: str, upload: str | None) -> UserError:
    return cls(message, title, upload=upload)


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
        raise UserError(f"Unknown model {name!r}; available: {', '.join(names)}", title="Unknown model")
    key = (str(weights_dir()), name)
    with _MODELS_LOCK:
        cached = _MODELS.get(key)
    if cached is not None:
        return cached
    # a model that borrows another's estimator (DFPIR) gets the app's copy of it, not one more
    source = ESTIMATOR_SOURCES.get(name)
    lender: Restorer | str = get_model(source) if source in names else "auto"
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                _MODELS[key] = Restorer.from_pretrained(name=name, estimator=lender)
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


# --------------------------------------------------------------------------- uploads
REFUSED_IMAGE = "Cannot use this image"


def upload_name(image: ImageInput) -> str:
    """The file name the user knows an upload by ("" for arrays, pasted data and no image)."""
    if isinstance(image, dict):
        name = image.get("orig_name") or (Path(image["path"]).name if image.get("path") else "")
        return str(name)
    if isinstance(image, str | os.PathLike):
        return Path(image).name
    return ""


def load_upload(image: ImageInput) -> np.ndarray:
    """An upload (Gradio file payload, path or array) as HxWx3 uint8, or a ``UserError`` with the reason.

    The size policy is :func:`restore.images.max_megapixels`. A refused file's error carries its
    path (``UserError.upload``) so the app can delete the server's copy.
    """
    if image is None:
        raise UserError("Add an image first: drag and drop, paste, or pick an example.", title="No image")
    source: Any = image
    if isinstance(image, dict):
        source = image.get("path")
        url = image.get("url") or ""
        if not source and url.startswith("data:"):
            try:
                source = base64.b64decode(url.split(",", 1)[1], validate=True)
            except (ValueError, IndexError) as err:
                raise UserError("The pasted image is not valid base64 data.", title=REFUSED_IMAGE) from err
        elif not source:
            raise UserError(
                "The request carried no file. Upload the image (with gradio_client: handle_file('photo.jpg')).",
                title="No image",
            )
        elif not Path(source).exists():
            raise UserError(
                f"{upload_name(image)} is no longer on the server (refused uploads are deleted at once, others "
                "after an hour): upload it again.",
                title="Upload expired",
            )
    try:
        return images.load_image(source, max_megapixels=images.max_megapixels())
    except images.ImageError as err:
        path = str(source) if isinstance(source, str | os.PathLike) else None
        raise UserError(str(err), title=REFUSED_IMAGE, upload=path) from err


def discard_upload(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Delete a refused upload if it lies inside the web server's upload folder ``root`` (and its
    folder, when that is left empty); files anywhere else are never touched. Returns whether it
    was deleted."""
    file, root = Path(path).resolve(), Path(root).resolve()
    if not file.is_file() or not file.is_relative_to(root) or file == root:
        return False
    file.unlink(missing_ok=True)
    parent = file.parent
    if parent != root and parent.is_relative_to(root) and not any(parent.iterdir()):
        parent.rmdir()
    return True


def within(path: str | os.PathLike, roots: Iterable[str | os.PathLike]) -> bool:
    """Whether ``path`` (resolved, links followed) lies inside one of ``roots``."""
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)


MAX_UPLOAD_ENV = "RESTORE_MAX_UPLOAD_MB"


def max_upload_mb() -> int:
    """The largest file the app accepts, in MB: ``RESTORE_MAX_UPLOAD_MB``, else a file that holds
    an uncompressed 8-bit RGB image at the megapixel limit (3 bytes a pixel), at least 100 MB.

    Raises:
        ValueError: if the variable is set but is not a positive number.
    """
    raw = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    if not raw:
        return max(100, math.ceil(3 * images.max_megapixels()))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{MAX_UPLOAD_ENV} must be a positive number of megabytes, got {raw!r}")
    return math.ceil(value)


# --------------------------------------------------------------------------- settings


def number(value: Any, name: str, *, low: float, high: float, unit: str = "", integer: bool = False) -> float:
    """``value`` as a number in ``[low, high]`` (an integer if ``integer``), or a ``UserError`` that names
    the setting and its range in the units the user sees (e.g. "strength must be between 0 and 100 %")."""
    unit = f" {unit}" if unit else ""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not math.isfinite(x) or not low <= x <= high or (integer and x != int(x)):
        kind = "a whole number " if integer else ""
        raise UserError(
            f"{name} must be {kind}between {_plain(low)} and {_plain(high)}{unit}, got {value!r}.",
            title="Invalid settings",
        )
    return int(x) if integer else x


def _plain(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# --------------------------------------------------------------------------- downloads


def download_stem(image: ImageInput, suffix: str) -> str:
    """``<original file name>_<suffix>`` for a result's download ("image" when the upload has no name);
    characters no file system takes (separators, control characters, ``:*?"<>|``) become "_"."""
    stem = Path(upload_name(image)).stem or "image"
    stem = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', "_", stem).strip(" .") or "image"
    return f"{stem[:100]}_{suffix}"


def save_download(img: np.ndarray, stem: str) -> str:
    """Write a result for download as ``<stem>.png`` (a fresh folder per call keeps names readable and unique)."""
    downloads = downloads_dir()
    for old in downloads.iterdir():  # Gradio has copied these into its own cache long ago
        if time.time() - old.stat().st_mtime > 600:
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=downloads))
    return str(images.save_png(img, folder / f"{stem}.png"))


# --------------------------------------------------------------------------- cache keys


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the source of ``restore`` and ``studio`` (every ``.py`` file): results cached on disk
    (the Restore tab's examples) are keyed by it, so a code change never serves stale ones."""
    h = hashlib.sha256()
    for folder in (Path(restore.__file__).resolve().parent, Path(__file__).resolve().parent):
        for path in sorted(folder.rglob("*.py")):
            h.update(path.relative_to(folder).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()
