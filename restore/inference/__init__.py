"""Inference: :class:`Restorer` (load shipped weights, pad, tile, upscale, refine, analyze).

Owns: the product's behaviour around a network. May import: ``restore.models``,
``restore.refinements``, ``restore.images``, ``restore.resources``, ``restore.types``. Never
imports synthesis, training, evaluation or the app.
"""

from restore.inference.analysis import Analysis, ScaleActivation
from restore.inference.loading import MODEL_NAMES, available_models
from restore.inference.restorer import Restorer

__all__ = ["MODEL_NAMES", "Analysis", "Restorer", "ScaleActivation", "available_models"]
