"""Robust image loading for the app and the command line: anything a user uploads becomes RGB uint8.

:func:`load_image` accepts a path, raw bytes, a binary file object, a PIL image or a numpy array
and returns an ``HxWx3`` uint8 RGB array. It

- applies the EXIF orientation, so phone photos come out upright;
- converts every common mode correctly: transparent images (RGBA, LA, PA and palette images with
  a transparent colour) are composited over **white**, the way a viewer shows them on a page;
  grayscale (L, 1) is repeated into three channels; 16-bit images (I;16, I, 16-bit PNG) are
  scaled to 8 bit (``round(v / 257)``), never clipped; 32-bit float images (F) and float arrays
  are read as ``[0, 1]``; palette (P) and CMYK images are converted by Pillow;
- refuses, with an :class:`ImageError` that says what is wrong, empty files, corrupt or truncated
  files, files that are not images, images with zero width or height, and images larger than
  ``max_megapixels``.

The megapixel limit used by the app defaults to :data:`DEFAULT_MAX_MEGAPIXELS` (40 MP) and is set
with the environment variable ``RESTORE_MAX_MEGAPIXELS`` (e.g. ``RESTORE_MAX_MEGAPIXELS=100``).
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

log = logging.getLogger(__name__)

MAX_MEGAPIXELS_ENV = "RESTORE_MAX_MEGAPIXELS"
DEFAULT_MAX_MEGAPIXELS = 40.0

ImageSource = str | os.PathLike | bytes | bytearray | BinaryIO | Image.Image | np.ndarray

# Float images may overshoot [0, 1] slightly after processing; more than this is a wrong range.
_FLOAT_TOLERANCE = 0.01


class ImageError(ValueError):
    """An input that cannot be used as an image; the message says why and what to do."""


def max_megapixels() -> float:
    """The megapixel limit from ``RESTORE_MAX_MEGAPIXELS`` (default 40), read at call time.

    Raises:
        ValueError: if the variable is set but is not a positive number.
    """
    raw = os.environ.get(MAX_MEGAPIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_MEGAPIXELS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{MAX_MEGAPIXELS_ENV} must be a positive number of megapixels, got {raw!r}")
    return value


MAX_MEGAPIXELS: float = max_megapixels()
"""The limit in force when this module was imported (:func:`max_megapixels` re-reads it)."""


def load_image(source: ImageSource, *, max_megapixels: float | None = None) -> np.ndarray:
    """Load any supported image as ``HxWx3`` uint8 RGB.

    Args:
        source: a path, the file's bytes, a binary file object, a PIL image or a numpy array
            (``HxW``, ``HxWx1``, ``HxWx2``, ``HxWx3`` or ``HxWx4``; uint8, uint16, bool or float
            in ``[0, 1]``).
        max_megapixels: refuse images with more pixels than this many millions; ``None`` means no
            limit of ours (Pillow still refuses decompression bombs). The app passes
            :func:`max_megapixels`.

    Returns:
        ``(H, W, 3)`` uint8 RGB, EXIF orientation applied, a new array the caller may modify.

    Raises:
        ImageError: empty, corrupt, truncated, non-image, zero-sized or too large inputs.
    """
    if isinstance(source, np.ndarray):
        check_megapixels(source.shape[1] if source.ndim > 1 else 0, source.shape[0], max_megapixels)
        return to_rgb_uint8(source)
    if isinstance(source, Image.Image):
        check_megapixels(source.width, source.height, max_megapixels)
        return to_rgb_uint8(_upright(source))
    name, stream = _open_stream(source)
    try:
        im = Image.open(stream)
    except Image.DecompressionBombError as err:
        raise ImageError(f"{name} is far too large to open safely: {err}") from err
    except UnidentifiedImageError as err:
        raise ImageError(
            f"{name} is not an image that can be read (supported: PNG, JPEG, WebP, TIFF, BMP, GIF)"
        ) from err
    except OSError as err:
        raise ImageError(f"{name} could not be read as an image: {err}") from err
    with im:
        check_megapixels(im.width, im.height, max_megapixels, name=name)
        try:
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise ImageError(f"{name} is corrupt or truncated and cannot be decoded ({err})") from err
        return to_rgb_uint8(_upright(im))


def to_rgb_uint8(image: np.ndarray | Image.Image) -> np.ndarray:
    """Convert a PIL image or a numpy array to ``HxWx3`` uint8 RGB (no EXIF handling, no size limit).

    Transparency is composited over white; 16-bit data is scaled by 1/257; floats are read as
    ``[0, 1]``. See the module docstring for every mode.

    Raises:
        ImageError: zero-sized images, unsupported shapes or modes, float data outside ``[0, 1]``.
    """
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image)
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    arr = image
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise ImageError(f"expected an HxW or HxWxC (C = 1-4) image array, got shape {image.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"the image is empty (shape {image.shape})")
    values = _to_unit_float(arr) if arr.dtype != np.uint8 else None
    if values is None and arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr).copy()
    if values is None:
        values = arr.astype(np.float32) / 255.0
    if values.ndim == 2:
        values = values[..., None]
    channels = values.shape[2]
    if channels in (2, 4):
        color, alpha = values[..., :-1], values[..., -1:]
        values = color * alpha + (1.0 - alpha)  # over a white page
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    return to_uint8(values)


def to_tensor(img: np.ndarray, device: torch.device | str | None = None) -> Tensor:
    """``HxWx3`` uint8 RGB -> ``(1, 3, H, W)`` float32 in ``[0, 1]`` on ``device`` (a private copy:
    the input may be a read-only view)."""
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(
            f"expected an HxWx3 uint8 RGB array, got {getattr(img, 'dtype', type(img))} {getattr(img, 'shape', '')}"
        )
    x = torch.from_numpy(np.array(img, copy=True))
    if device is not None:
        x = x.to(device)
    return x.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_uint8(x: Tensor | np.ndarray) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` tensor, or ``HxWxC`` float array, in ``[0, 1]`` ->
    ``HxWxC`` uint8: clipped to ``[0, 1]``, then rounded half up."""
    if isinstance(x, Tensor):
        x = x[0] if x.dim() == 4 else x
        x = x.detach().float().permute(1, 2, 0).cpu().numpy()
    return (np.clip(x, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def save_png(image: np.ndarray | Image.Image, path: str | os.PathLike) -> Path:
    """Write an image as PNG (lossless), creating parent folders; returns the path.

    Args:
        image: anything :func:`to_rgb_uint8` accepts.
        path: destination; the ``.png`` suffix is not added for you.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_rgb_uint8(image)).save(path, format="PNG")
    return path


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink an ``HxWxC`` image so its longer side is at most ``max_side`` (OpenCV's area filter);
    never enlarges (a smaller image is returned as it is)."""
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def resize_bicubic(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize of ``HxWx3`` uint8 to ``height`` x ``width`` (e.g. the "before" of an upscale)."""
    return np.array(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))


def _open_stream(source: ImageSource) -> tuple[str, BinaryIO]:
    """A readable binary stream and a name for messages; refuses missing and empty inputs."""
    if isinstance(source, bytes | bytearray):
        if not source:
            raise ImageError("the uploaded file is empty (0 bytes)")
        return "the uploaded data", io.BytesIO(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"no such image file: {path}")
        if path.stat().st_size == 0:
            raise ImageError(f"{path.name} is empty (0 bytes)")
        return path.name, io.BytesIO(path.read_bytes())
    if hasattr(source, "read"):
        data = source.read()
        if not data:
            raise ImageError("the uploaded file is empty (0 bytes)")
        return getattr(source, "name", "the uploaded file"), io.BytesIO(data)
    raise ImageError(f"cannot load an image from a {type(source).__name__}")


def check_megapixels(width: int, height: int, limit: float | None, *, name: str = "the image") -> None:
    """Raise :class:`ImageError` if a ``width`` x ``height`` image is empty or over ``limit`` megapixels."""
    if width <= 0 or height <= 0:
        raise ImageError(f"{name} has no pixels ({width}x{height})")
    megapixels = width * height / 1e6
    if limit is not None and megapixels > limit:
        raise ImageError(
            f"{name} is {width}x{height} ({megapixels:.1f} megapixels), more than the limit of {limit:g} "
            f"megapixels. Downscale it, or raise the limit with the environment variable {MAX_MEGAPIXELS_ENV}."
        )


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a malformed EXIF block leaves the image as stored (logged)."""
    try:
        return ImageOps.exif_transpose(im)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError) as err:
        log.warning("ignoring malformed EXIF orientation: %s", err)
        return im


def _pil_to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if im.width == 0 or im.height == 0:
        raise ImageError(f"the image has no pixels ({im.width}x{im.height})")
    if mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit grayscale (PNG, TIFF) and 32-bit integer/float images go through numpy so that the
        # full range is scaled to 8 bit instead of Pillow's clipping conversion.
        arr = np.array(im)
        if mode == "I":
            arr = np.clip(arr, 0, 65535).astype(np.uint16)  # 16-bit data read by older Pillow versions
        return to_rgb_uint8(arr)
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        im = im.convert("RGBA")
    elif mode in ("L", "1"):
        im = im.convert("L")
    else:
        try:
            im = im.convert("RGB")  # CMYK, YCbCr, HSV, ...
        except ValueError as err:
            raise ImageError(f"images in mode {mode} are not supported; save it as RGB") from err
    return to_rgb_uint8(np.array(im))


def _to_unit_float(arr: np.ndarray) -> np.ndarray:
    """Non-uint8 pixel data as float32 in [0, 1] (uint16 by 1/65535, bool, floats as given)."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        values = arr.astype(np.float32)
        if not np.isfinite(values).all():
            raise ImageError("the float image contains NaN or infinite values")
        lo, hi = float(values.min()), float(values.max())
        if lo < -_FLOAT_TOLERANCE or hi > 1 + _FLOAT_TOLERANCE:
            raise ImageError(
                f"float images must hold values in [0, 1], this one spans [{lo:g}, {hi:g}] "
                "(divide 0-255 data by 255 first)"
            )
        return np.clip(values, 0.0, 1.0)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise ImageError(f"integer images must hold values in [0, 65535], this one spans [{lo}, {hi}]")
        # uint16 (and wider integer types holding more than 8-bit data) span 0..65535.
        full = 65535.0 if arr.dtype == np.uint16 or hi > 255 else 255.0
        return arr.astype(np.float32) / full
    raise ImageError(f"unsupported pixel type {arr.dtype}")
