"""All-in-one image restoration: NDR-Restore and DFPIR, blind, on the CPU.

The public API is :class:`Restorer` (``Restorer.from_pretrained("ndr-restore").restore(img)``,
where ``img`` is a file's path, a PIL image or a numpy array), :class:`Analysis`,
:func:`available_models` and :func:`load_image`; inputs that cannot be used raise
:class:`ImageError` (a ``ValueError``; :class:`ImageTooLargeError` for images over the megapixel
limit), whose message names the input and says what to do. The ``restore`` command is
:mod:`restore.cli`.

Subpackages, each owning one job (``docs/DEVELOPMENT.md`` has the map and the import rules):
``models`` (networks, configs, weight files), ``synthesis`` (degradations), ``inference``
(Restorer, tiling), ``refinements`` (classical steps after the network), ``training``,
``data`` (training photos, examples) and ``evaluation`` (benchmarks, metrics, baselines).
"""

from restore.types import DEGRADATION_TYPES

__all__ = [
    "DEGRADATION_TYPES",
    "Analysis",
    "ImageError",
    "ImageTooLargeError",
    "Restorer",
    "available_models",
    "load_image",
]


def __getattr__(name: str):
    # Lazy, so that `import restore` stays cheap (no torch) for tools that only need the names.
    if name in ("Restorer", "Analysis", "available_models"):
        from restore import inference

        return getattr(inference, name)
    if name in ("ImageError", "ImageTooLargeError", "load_image"):
        from restore import images

        return getattr(images, name)
    raise AttributeError(f"module 'restore' has no attribute {name!r}")
