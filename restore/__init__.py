"""All-in-one image restoration: NDR-Restore and DFPIR, blind, on the CPU.

The public API is :class:`Restorer` (``Restorer.from_pretrained("ndr-restore").restore(img)``),
:class:`Analysis` and :func:`available_models`; the ``restore`` command is :mod:`restore.cli`.

Subpackages, each owning one job (``docs/DEVELOPMENT.md`` has the map and the import rules):
``models`` (networks, configs, weight files), ``synthesis`` (degradations), ``inference``
(Restorer, tiling), ``refinements`` (classical steps after the network), ``training``,
``data`` (training photos, examples) and ``evaluation`` (benchmarks, metrics, baselines).
"""

from restore.types import DEGRADATION_TYPES

__all__ = ["DEGRADATION_TYPES", "Analysis", "ImageError", "Restorer", "available_models"]


def __getattr__(name: str):
    # Lazy, so that `import restore` stays cheap (no torch) for tools that only need the names.
    if name in ("Restorer", "Analysis", "available_models"):
        from restore.inference import restorer

        return getattr(restorer, name)
    if name == "ImageError":
        from restore.images import ImageError

        return ImageError
    raise AttributeError(f"module 'restore' has no attribute {name!r}")
