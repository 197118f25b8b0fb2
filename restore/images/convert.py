"""Pixel conversions of :mod:`restore.images`: any mode or dtype to RGB uint8, uint8 to and from tensors, resizes.

:func:`to_rgb_uint8` composites transparency over white, repeats greyscale into three channels,
scales 16-bit data by 1/257 and reads floats as ``[0, 1]`` (the float rule and every mode are in
:mod:`restore.images`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from restore.images.limits import ImageError

# Float images may overshoot [0, 1] slightly after processing; more than this is a wrong range.
_FLOAT_TOLERANCE = 0.01


def to_rgb_uint8(image: np.ndarray | Image.Image, *, name: str = "the image") -> np.ndarray:
    """Convert a PIL image or a numpy array to ``HxWx3`` uint8 RGB (no EXIF handling, no size limit).

    Transparency is composited over white; 16-bit data is scaled by 1/257; floats are read as
    ``[0, 1]``. See :mod:`restore.images` for every mode. ``name`` names the image in messages.

    Raises:
        ImageError: zero-sized images, unsupported shapes or modes, float data outside ``[0, 1]``.
    """
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image, name)
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    arr = image
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise ImageError(f"expected an HxW or HxWxC (C = 1-4) image array, got shape {image.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"{name} is empty (shape {image.shape})")
    values = _to_unit_float(arr, name) if arr.dtype != np.uint8 else None
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


def _pil_to_rgb(im: Image.Image, name: str) -> np.ndarray:
    mode = im.mode
    if im.width == 0 or im.height == 0:
        raise ImageError(f"{name} has no pixels ({im.width}x{im.height})")
    if mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit grayscale (PNG, TIFF) and 32-bit integer/float images go through numpy so that the
        # full range is scaled to 8 bit instead of Pillow's clipping conversion.
        arr = np.array(im)
        if mode == "I":
            arr = np.clip(arr, 0, 65535).astype(np.uint16)  # 16-bit data read by older Pillow versions
        return to_rgb_uint8(arr, name=name)
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
            raise ImageError(f"{name} is in mode {mode}, which is not supported; save it as RGB") from err
    return to_rgb_uint8(np.array(im), name=name)


def _to_unit_float(arr: np.ndarray, name: str) -> np.ndarray:
    """Non-uint8 pixel data as float32 in [0, 1] (uint16 by 1/65535, bool, floats as given)."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        values = arr.astype(np.float32)
        if not np.isfinite(values).all():
            raise ImageError(f"{name} contains NaN or infinite values")
        lo, hi = float(values.min()), float(values.max())
        if lo < -_FLOAT_TOLERANCE or hi > 1 + _FLOAT_TOLERANCE:
            raise ImageError(
                f"{name} holds floating-point values in [{lo:g}, {hi:g}], but float images must hold values "
                "in [0, 1]: scale the data to [0, 1] (divide 0-255 data by 255) or save it as an 8- or "
                "16-bit image"
            )
        return np.clip(values, 0.0, 1.0)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise ImageError(f"{name} holds integer values in [{lo}, {hi}], but images must hold values in [0, 65535]")
        # uint16 (and wider integer types holding more than 8-bit data) span 0..65535.
        full = 65535.0 if arr.dtype == np.uint16 or hi > 255 else 255.0
        return arr.astype(np.float32) / full
    raise ImageError(f"{name} has an unsupported pixel type {arr.dtype}")
