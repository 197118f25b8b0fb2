"""A model's column in the evaluation tables: what its name asks for, and the model it loads.

A column is a model name with an optional suffix: ``:oracle`` is told the true degradation types,
``:dominant`` routes DFPIR by its most likely type, ``:raw`` is the network without the
refinements, ``:no-wiener`` (``:no-haze``, ...) all refinements but that one. Both the public
benchmark (:mod:`restore.evaluation.evaluate`) and the paper suite
(:mod:`restore.evaluation.paper_suite`) read their model columns with these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from restore.refinements import REFINEMENTS

ORACLE_SUFFIX = ":oracle"
#: DFPIR blind, routed by the single most likely type instead of the probability blend.
DOMINANT_SUFFIX = ":dominant"
#: The network alone, without the Wiener refinement that follows it by default.
RAW_SUFFIX = ":raw"
#: The default pipeline minus one refinement (``ndr-restore:no-haze``): what each one earns.
WITHOUT_SUFFIXES = tuple(f":no-{r}" for r in REFINEMENTS)
SUFFIXES = (ORACLE_SUFFIX, DOMINANT_SUFFIX, RAW_SUFFIX, *WITHOUT_SUFFIXES)


def refine_argument(name: str) -> bool | tuple[str, ...]:
    """``restore``'s ``refine`` for a column name: False for ``:raw``, all refinements but one for
    ``:no-<refinement>``, else True (all)."""
    if name.endswith(RAW_SUFFIX):
        return False
    for r in REFINEMENTS:
        if name.endswith(f":no-{r}"):
            return tuple(x for x in REFINEMENTS if x != r)
    return True


class RestorerLike(Protocol):
    """What the evaluator needs from a model (e.g. :class:`restore.Restorer`)."""

    def restore(self, img: np.ndarray, *, upscale: int = 1, **kwargs: Any) -> np.ndarray: ...


def load_restorers(names: Sequence[str]) -> dict[str, RestorerLike]:
    """Load models by name with ``Restorer.from_pretrained``; ``"x:oracle"`` reuses model ``x``."""
    if not names:
        return {}
    from restore import Restorer

    loaded: dict[str, RestorerLike] = {}
    out: dict[str, RestorerLike] = {}
    for name in names:
        base = name
        for suffix in SUFFIXES:
            base = base.removesuffix(suffix)
        if base not in loaded:
            loaded[base] = Restorer.from_pretrained(base)
        out[name] = loaded[base]
    return out
