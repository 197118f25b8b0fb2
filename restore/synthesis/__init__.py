"""Synthetic degradations: the operators (:mod:`.ops`), the registry of named, parametrised
types with mixtures and training draws (:mod:`.registry`), and the families of generators per
type (:mod:`.families`, built from :mod:`.variants`, :mod:`.jpeg` and :mod:`.resample`).

Owns: how a clean image becomes a degraded one. May import: torch, numpy, ``restore.types``.
Never imports models, inference, training or the app.
"""
