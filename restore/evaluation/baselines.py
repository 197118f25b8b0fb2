"""Classical restorers: the yardstick the networks must beat, and what the app shows beside them.

Every restorer takes an ``HxWx3`` uint8 RGB array and returns uint8 RGB. The registry
:data:`BASELINES` wraps each one in a :class:`Baseline` with one call signature
``baseline(img, upscale=1, kernel=None)`` and the degradation types it applies to:

========== ============ =====================================================================
name       types        method
========== ============ =====================================================================
nlmeans    noise        OpenCV NL-means; strength from a blind (MAD) noise estimate
cbm3d      noise        CBM3D, only when the optional ``bm3d`` package is importable
dcp        haze         dark channel prior with guided-filter refinement (He et al.)
bicubic    lowres       bicubic upscaling of the small image
bicubic-bp lowres       bicubic, then the gated back-projection the models use (Irani-Peleg)
gamma      lowlight     percentile normalisation and an adaptive gamma
rl-oracle  blur         Richardson-Lucy with the *true* kernel (an oracle, evaluation only)
========== ============ =====================================================================

The methods themselves live in :mod:`restore.evaluation.classical`. For a mixture,
:func:`restore_classical` chains the applicable methods, undoing the degradations in the reverse
of their physical order (denoise first, dehaze last).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from restore.evaluation.classical import bicubic, brighten, cbm3d, check_rgb, dehaze_dcp, nlmeans, richardson_lucy
from restore.images import to_uint8
from restore.refinements.backproject import back_project
from restore.synthesis.registry import ORDER

BaselineFn = Callable[[np.ndarray, int, "np.ndarray | None"], np.ndarray]


@dataclass(frozen=True)
class Baseline:
    """A classical restorer in the registry.

    Attributes:
        name: registry key, e.g. ``"nlmeans"``.
        fn: ``fn(img, upscale, kernel)`` -> uint8 RGB.
        types: degradation types it addresses.
        label: a short human description.
        oracle: True when it needs ground truth (the blur kernel) and so only fits evaluation.
    """

    name: str
    fn: BaselineFn
    types: tuple[str, ...]
    label: str
    oracle: bool = False

    def __call__(self, img: np.ndarray, *, upscale: int = 1, kernel: np.ndarray | None = None) -> np.ndarray:
        """Restore ``img`` (``HxWx3`` uint8 RGB) -> uint8 RGB of size ``upscale`` times larger.

        A restorer that does not itself upscale gets a bicubic-upscaled input, as the networks do.
        """
        check_rgb(img)
        if upscale != 1 and "lowres" not in self.types:
            img, upscale = bicubic(img, upscale), 1
        if self.oracle and kernel is None:
            raise ValueError(f"baseline {self.name!r} is an oracle: pass the true blur kernel")
        return self.fn(img, upscale, kernel)

    def applies_to(self, types: Sequence[str]) -> bool:
        """Whether this restorer addresses any of ``types``."""
        return any(t in self.types for t in types)


def _rl(img: np.ndarray, upscale: int, kernel: np.ndarray | None) -> np.ndarray:
    if kernel is None:
        raise ValueError("rl-oracle needs the true blur kernel")
    return richardson_lucy(img, kernel)


def _bicubic_bp(img: np.ndarray, upscale: int) -> np.ndarray:
    big = bicubic(img, upscale)
    if upscale == 1:
        return big
    out, _ = back_project(big.astype(np.float32) / 255.0, img)
    return to_uint8(out)


def _registry() -> dict[str, Baseline]:
    entries = [
        Baseline("nlmeans", lambda im, s, k: nlmeans(im), ("noise",), "OpenCV NL-means (blind MAD sigma)"),
        Baseline("dcp", lambda im, s, k: dehaze_dcp(im), ("haze",), "Dark channel prior + guided filter"),
        Baseline("bicubic", lambda im, s, k: bicubic(im, s), ("lowres",), "Bicubic upscaling"),
        Baseline("bicubic-bp", lambda im, s, k: _bicubic_bp(im, s), ("lowres",), "Bicubic + back-projection"),
        Baseline("gamma", lambda im, s, k: brighten(im), ("lowlight",), "Percentile normalisation + gamma"),
        Baseline("rl-oracle", _rl, ("blur",), "Richardson-Lucy, 30 it., true kernel (oracle)", oracle=True),
    ]
    if importlib.util.find_spec("bm3d") is not None:
        entries.insert(1, Baseline("cbm3d", lambda im, s, k: cbm3d(im), ("noise",), "CBM3D (blind MAD sigma)"))
    return {b.name: b for b in entries}


BASELINES: dict[str, Baseline] = _registry()


def baseline_for(types: Sequence[str]) -> str | None:
    """The non-oracle classical method the app should show for a (possibly mixed) degradation.

    Args:
        types: degradation type names, most dominant first (e.g. sorted by the estimator's
            probability). The first type that has a classical method decides.

    Returns:
        A key of :data:`BASELINES` (never an oracle, never CBM3D, which is too slow for the
        app), or ``None`` when no type has one (rain, blur).
    """
    for t in types:
        for b in BASELINES.values():
            if not b.oracle and b.name != "cbm3d" and t in b.types:
                return b.name
    return None


def chain_for(types: Sequence[str]) -> tuple[str, ...]:
    """The non-oracle baselines that undo ``types``, in application order.

    The order reverses :data:`restore.synthesis.registry.ORDER` (noise, then low light, then ...,
    then haze), so each method sees the degradation it models on top of the ones it does not.
    CBM3D is left out (too slow for the app); NL-means stands for noise.

    Returns:
        Keys of :data:`BASELINES`, possibly empty (e.g. rain, blur).
    """
    return tuple(name for t in reversed(ORDER) if t in types and (name := baseline_for((t,))) is not None)


def restore_classical(img: np.ndarray, types: Sequence[str], *, upscale: int = 1) -> np.ndarray:
    """Apply the classical chain for ``types`` (see :func:`chain_for`).

    Args:
        img: ``hxwx3`` uint8 RGB.
        types: the degradation types present, any order.
        upscale: the output is ``upscale`` times larger (bicubic first, as the networks do).

    Returns:
        ``(h * upscale)x(w * upscale)x3`` uint8 RGB; a bicubic-upscaled copy if no method applies.
    """
    check_rgb(img)
    out = bicubic(img, upscale)
    for name in chain_for(types):
        if name != "bicubic":
            out = BASELINES[name](out)
    return out
