"""The classical refinements :meth:`Restorer.restore` runs on the whole restored image, in order.

Owns: which refinements ``restore(refine=...)`` names, which of them read the type probabilities,
and running the haze pass, the tone lock and gated back-projection after the network (the Wiener
refinement runs inside the network pass, tile by tile), with what they report.

What each does: at ``upscale=1`` the pilot-guided Wiener refinement (:mod:`restore.refinements.wiener`)
gives back the fine texture the network smoothed away with the noise, where the input is consistent
with "clean + noise" (on photos the estimator finds noisy, and not rainy, hazy or dark, part of its
pilot is the input hard-thresholded in a sliding DCT, the more the lighter the noise); then, on
photos the estimator finds hazy (and not dark), the haze pass
(:mod:`restore.refinements.haze`) dehazes a 256-px copy, the scale the network was trained on, and
carries that correction to the full-size image: to the input's own pixels when haze is its only
fault, to the low frequencies only otherwise. At ``upscale > 1`` gated back-projection
(:mod:`restore.refinements.backproject`) makes the output agree with the small input when
downscaled, where the input's only fault is its size. At every scale the tone lock
(:mod:`restore.refinements.tone`) takes back the network's shifts of the photo's overall brightness
and colour unless the estimator finds low light or haze (or, for darkening, rain).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from torch import Tensor

from restore.noise import grey_levels
from restore.refinements import REFINEMENTS
from restore.refinements.backproject import back_project, noise_weight
from restore.refinements.haze import haze_pass, pass_weights, working_copy
from restore.refinements.tone import lock_weights, tone_lock
from restore.refinements.wiener import hard_share, image_noise_sigma, wiener_refine

#: Models whose haze pass follows the full-size restoration where it removed more haze than the
#: 256-px copy (``haze_pass(follow_stronger=True)``). Measured on 6 validation crops of 512 px per
#: haze generator: NDR-Restore +0.16 dB on the mean (tinted +0.51, image-cue +0.14, light +0.12),
#: public benchmark haze + noise +0.18, rain + haze +0.36; DFPIR -0.15 (image-cue -0.88), its
#: full-size output darkens more than it dehazes, so DFPIR keeps the small copy's amount.
HAZE_FOLLOWS_FULL_SIZE: frozenset[str] = frozenset({"ndr-restore"})


def refinement_set(refine: bool | Sequence[str]) -> frozenset[str]:
    """``restore``'s ``refine`` as the set of refinements to run: True = all, False = none.

    Raises:
        ValueError: a name that is not in :data:`restore.refinements.REFINEMENTS`.
    """
    if refine is True:
        return frozenset(REFINEMENTS)
    if refine is False:
        return frozenset()
    names = frozenset([refine] if isinstance(refine, str) else refine)
    unknown = sorted(names - set(REFINEMENTS))
    if unknown:
        raise ValueError(f"unknown refinements {unknown}; valid: {', '.join(REFINEMENTS)}")
    return names


def wants_probabilities(use: frozenset[str], upscale: int) -> bool:
    """Whether the refinements in ``use`` read the type probabilities at this ``upscale`` (the haze
    pass, which runs at 1x only, and the tone lock)."""
    return ("haze" in use and upscale == 1) or "tone" in use


def haze_weights(probs: dict[str, float], rgb: np.ndarray) -> tuple[float, float]:
    """The haze pass's weight for ``rgb`` at 1x and its carry's weight within it (both 0..1, see
    :func:`restore.refinements.haze.pass_weights`), from the type probabilities ``probs`` and the
    noise level of ``rgb`` (``HxWx3`` uint8 RGB)."""
    return pass_weights(probs, grey_levels(image_noise_sigma(rgb)))


def apply_refinements(
    out: np.ndarray,
    rgb: np.ndarray,
    small: np.ndarray,
    *,
    use: frozenset[str],
    upscale: int,
    probs: dict[str, float] | None,
    noise_sigma: Tensor | None,
    run: Callable[[np.ndarray], np.ndarray],
    report: dict[str, object] | None,
    haze_follow: bool = False,
) -> np.ndarray:
    """The network's output after the haze pass and the tone lock (given the type probabilities)
    at 1x, or after gated back-projection when upscaling.

    Args:
        out: the network's output for ``rgb``, ``(H, W, 3)`` float32 in ``[0, 1]``.
        rgb: the network's input, ``(H, W, 3)`` uint8 RGB (the input, enlarged if upscaling).
        small: the input before upscaling, ``(H / upscale, W / upscale, 3)`` uint8 RGB.
        use: the refinements to run (:func:`refinement_set`).
        upscale: 1, 2, 3 or 4.
        probs: type -> probability (the estimator's, or the task's one-hot); None: unknown, so the
            haze pass and the tone lock do not run.
        noise_sigma: ``small``'s noise level per opponent channel (None where no refinement in
            ``use`` reads it).
        run: the network on an ``(h, w, 3)`` uint8 RGB image -> ``(h, w, 3)`` float32 in
            ``[0, 1]``, for the haze pass's working copy.
        report: if given, filled as :meth:`Restorer.restore` documents.
        haze_follow: the haze pass's ``follow_stronger`` (:data:`HAZE_FOLLOWS_FULL_SIZE`).

    Returns:
        ``(H, W, 3)`` float32 in ``[0, 1]``.
    """
    if "haze" in use and upscale == 1 and probs is not None:
        weight, carry_weight = pass_weights(probs, grey_levels(noise_sigma))
        if report is not None:
            report.update(haze_weight=weight, haze_carry_weight=carry_weight, probabilities=dict(probs))
        if weight > 0.0:
            copy = working_copy(rgb)
            out = haze_pass(rgb, copy, run(copy), out, weight, carry_weight, follow_stronger=haze_follow)
    if "tone" in use and probs is not None:
        lock = lock_weights(probs)
        out = tone_lock(rgb, out, lock, grey_levels(noise_sigma) / 255.0)
        if report is not None:
            report.update(tone_lock_weights=lock, probabilities=dict(probs))
    if report is not None:
        report.setdefault("haze_weight", 0.0)
        report.setdefault("haze_carry_weight", 0.0)
        if "wiener" in use and upscale == 1:  # the Wiener refinement read this level
            report["noise_sigma"] = float(noise_sigma[0]) * 255.0
    if "backproject" in use and upscale > 1:
        bp_weight = noise_weight(small)
        out, _ = back_project(out, small, weight=bp_weight)
        if report is not None:
            report["back_projection_weight"] = bp_weight
    return out


def wiener_share(
    sigma: Tensor | None, probs: dict[str, float] | None, report: dict[str, object] | None = None
) -> float:
    """The thresholded input's share in the Wiener refinement's pilot for an image whose noise level
    is ``sigma`` (per opponent channel; None: no refinement) and whose type probabilities are
    ``probs`` (:func:`restore.refinements.wiener.hard_share`); noted in ``report`` as
    ``"wiener_hard_share"`` when the refinement runs."""
    if sigma is None:
        return 0.0
    share = hard_share(grey_levels(sigma), probs)
    if report is not None:
        report["wiener_hard_share"] = share
    return share


def wiener_pass(x: Tensor, y: Tensor, sigma: Tensor | None, share: float = 0.0) -> Tensor:
    """The network's output ``y`` after the Wiener refinement against its input ``x`` (``sigma``: the
    whole image's noise level per opponent channel; None: no refinement, ``y`` as it is; ``share``:
    the thresholded input's share in the pilot, :func:`wiener_share`)."""
    if sigma is None:
        return y
    return wiener_refine(x, y, sigma, hard=share)[0].clamp_(0, 1)
