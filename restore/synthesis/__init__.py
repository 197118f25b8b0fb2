"""Synthetic degradations: the operators (:mod:`.ops`), the catalog of named, parametrised types
(:mod:`.catalog`), the registry that applies them in mixtures and training draws and re-exports
the catalog (:mod:`.registry`), and the families of generators per type (:mod:`.families`, built
from the :mod:`.variants` package, :mod:`.jpeg` and :mod:`.resample`).

Owns: how a clean image becomes a degraded one. May import: torch, numpy, ``restore.types`` and
``restore.images`` (uint8 <-> tensor for whole images).
Never imports models, inference, training or the app.
"""
