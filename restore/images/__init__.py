"""Robust image loading for the app, the command line and the API: anything becomes RGB uint8.

:func:`load_image` accepts a path, raw bytes, a binary file object, a PIL image or a numpy array
and returns an ``HxWx3`` uint8 RGB array. It

- applies the EXIF orientation (files and PIL images alike), so phone photos come out upright;
- converts every common mode correctly: transparent images (RGBA, LA, PA and palette images with
  a transparent colour) are composited over **white**, the way a viewer shows them on a page;
  grayscale (L, 1) is repeated into three channels; 16-bit images (I;16, I, 16-bit PNG) are
  scaled to 8 bit (``round(v / 257)``), never clipped; palette (P) and CMYK images are converted
  by Pillow; animated and multi-frame files (GIF, APNG, TIFF) give their first frame;
- reads 32-bit float images (mode F TIFFs, float arrays) as ``[0, 1]``. **Float rule:** values
  must lie in ``[0, 1]`` (up to 0.01 of overshoot, clipped); anything else, 0-255 data included,
  is refused with a message saying so, because "over 1" cannot be told apart from overexposed
  ``[0, 1]`` data and a guessed scale would silently darken or brighten the photo;
- refuses, with an :class:`ImageError` whose message names the file and says what is wrong,
  missing paths, folders, empty files, files that are not images, corrupt or truncated files
  (a file that starts like a PNG, JPEG, GIF, TIFF or WebP but cannot be read is called corrupt,
  not "not an image"), images with zero width or height, and images over the size limit.

**Size policy** (one for the app, the command line and the API): the limit, in megapixels, is
the explicit argument when one is given (``max_megapixels=``, the command line's
``--max-megapixels``), else the environment variable ``RESTORE_MAX_MEGAPIXELS``, else
:data:`DEFAULT_MAX_MEGAPIXELS` (40); see :func:`resolve_max_megapixels`. A file's size is read
from its header before anything is decoded, so an oversized file costs no memory, and a file that
declares more pixels than it holds is called too large when the declared size is over the limit
and corrupt or truncated when it is not. Arrays are checked by their shape. Pillow's own guard
against decompression bombs (``PIL.Image.MAX_IMAGE_PIXELS``) is raised, never lowered, to at
least the limit, so it never refuses what the policy allows; what it still refuses is reported as
too large (:class:`ImageTooLargeError`) like everything else over the limit.

The package, one job a module: :mod:`~restore.images.limits` (the size policy and the errors),
:mod:`~restore.images.decode` (reading any source), :mod:`~restore.images.convert` (pixel
conversions, tensors, resizes) and :mod:`~restore.images.save` (writing PNGs). Import the names
below from ``restore.images``.
"""

from __future__ import annotations

from restore.images.convert import fit_within, resize_bicubic, to_rgb_uint8, to_tensor, to_uint8
from restore.images.decode import SUPPORTED_FORMATS, ImageSource, load_image, load_upscaled
from restore.images.limits import (
    DEFAULT_MAX_MEGAPIXELS,
    MAX_MEGAPIXELS,
    MAX_MEGAPIXELS_ENV,
    ImageError,
    ImageTooLargeError,
    check_megapixels,
    max_megapixels,
    resolve_max_megapixels,
)
from restore.images.save import save_png

__all__ = [
    "DEFAULT_MAX_MEGAPIXELS",
    "MAX_MEGAPIXELS",
    "MAX_MEGAPIXELS_ENV",
    "SUPPORTED_FORMATS",
    "ImageError",
    "ImageSource",
    "ImageTooLargeError",
    "check_megapixels",
    "fit_within",
    "load_image",
    "load_upscaled",
    "max_megapixels",
    "resize_bicubic",
    "resolve_max_megapixels",
    "save_png",
    "to_rgb_uint8",
    "to_tensor",
    "to_uint8",
]
