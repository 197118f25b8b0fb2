"""Synthetic degradations: the operators (:mod:`.ops`) and the registry of named, parametrised
types with mixtures and training draws (:mod:`.registry`).

Owns: how a clean image becomes a degraded one. May import: torch, numpy, ``restore.types``.
Never imports models, inference, training or the app.
"""
