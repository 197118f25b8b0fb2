"""The public inference API: :class:`Restorer` (load, pad, tile with blended overlaps, upscale,
strength, analyze). Inference keeps no state between calls and runs under ``torch.inference_mode``.

Owns: a loaded model's behaviour, composed from the modules beside it: :mod:`.loading` (where the
networks come from), :mod:`.precision`, :mod:`.tiling`, :mod:`.routing` (DFPIR's type weights),
:mod:`.refine` (the classical refinements) and :mod:`.analysis` (what the estimator recognised).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from restore.images import ImageSource, fit_within, load_image, load_upscaled, to_tensor, to_uint8
from restore.inference.analysis import ANALYZE_SIDE, Analysis, read_analysis, type_probabilities
from restore.inference.loading import check_lender, default_device, lender_folder, load_network, random_network
from restore.inference.noise_map import (
    check_noise_level,
    copy_level,
    estimate_grey,
    network_conditions,
    noise_levels,
)
from restore.inference.precision import resolve_precision
from restore.inference.refine import (
    HAZE_FOLLOWS_FULL_SIZE,
    apply_refinements,
    haze_weights,
    refinement_set,
    wants_probabilities,
    wiener_pass,
    wiener_share,
)
from restore.inference.routing import enlarged, task_probabilities, type_weights
from restore.inference.tiling import Encoded, ProgressFn, resolve_tile, restore_tiled, tile_count
from restore.models import count_parameters
from restore.models.config import ModelConfig
from restore.noise import grey_levels, image_noise_level
from restore.refinements.wiener import hard_ramp
from restore.resources import weights_dir


class Restorer:
    """A loaded restoration model with the product's inference behaviour.

    Create with :meth:`from_pretrained` (shipped weights) or :meth:`from_config` (random
    weights, for tests). Holds no per-call state, so one instance can serve many requests.
    """

    def __init__(
        self,
        model: nn.Module,
        config: ModelConfig,
        *,
        name: str,
        device: torch.device | str = "cpu",
        degrad: nn.Module | None = None,
        metadata: dict[str, str] | None = None,
        precision: str | None = None,
        estimator: Restorer | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        self.config = config
        self.name = name
        self.metadata = metadata or {}
        self.model = model.eval().to(self.device).to(memory_format=torch.channels_last)
        self.degrad = degrad.eval().to(self.device) if degrad is not None else None
        self.num_parameters = count_parameters(self.model)
        if estimator is not None:
            check_lender(estimator, name, config.types)
        self.estimator = estimator

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_pretrained(
        cls,
        name: str = "ndr-restore",
        device: str | torch.device | None = None,
        directory: str | Path | None = None,
        precision: str | None = None,
        estimator: Restorer | str | None = "auto",
    ) -> Restorer:
        """Load shipped weights strictly (``NAME.safetensors`` and, if present, ``NAME-degrad``).
        ``precision``: "auto" (default, or ``RESTORE_PRECISION``), "fp32" or "bf16", see
        :func:`restore.inference.precision.resolve_precision`. ``estimator``: whose estimator names the
        types for the blind decisions: "auto" (default) the model :data:`.loading.ESTIMATOR_SOURCES`
        names, from ``directory`` if it is there, else from the shipped weights (the model's own head
        where neither has it); a loaded :class:`Restorer` (shared, e.g. by the app); None: its own head.

        Raises:
            ValueError: unknown model name (the message lists the available ones).
            WeightsError: the file is missing, corrupt or does not match its config.
        """
        d = Path(directory) if directory is not None else weights_dir()
        model, config, degrad, metadata = load_network(name, d)
        if isinstance(estimator, str):
            if estimator != "auto":
                raise ValueError(f"estimator must be 'auto', None or a Restorer, got {estimator!r}")
            lender = lender_folder(name, d)
            estimator = cls.from_pretrained(lender[0], device, lender[1], precision) if lender else None
        return cls(
            model,
            config,
            name=name,
            device=device or default_device(),
            degrad=degrad,
            metadata=metadata,
            precision=precision,
            estimator=estimator,
        )

    @classmethod
    def from_config(
        cls, config: ModelConfig, *, name: str = "custom", device: str | torch.device = "cpu", seed: int = 0
    ) -> Restorer:
        """A model with seeded random weights (tests, benchmarks of untrained presets).

        The zero-initialised output convolutions (which make a fresh network the identity) get
        random weights too, so an untrained model really transforms its input.
        """
        model, degrad = random_network(config, seed)
        return cls(model, config, name=name, device=device, degrad=degrad)

    @property
    def types(self) -> tuple[str, ...]:
        """The degradation types this model knows, in the order of its outputs (from its weights)."""
        return self.config.types

    @property
    def has_redegrader(self) -> bool:
        return self.degrad is not None

    def dictionary(self) -> np.ndarray:
        """The NDR dictionary ``(K, d)`` float32 (raises for models without one)."""
        d = getattr(self.model, "dictionary", None)
        if d is None:
            raise NotImplementedError(f"model {self.name!r} ({self.config.arch}) has no NDR dictionary")
        return d.detach().float().cpu().numpy()

    # ----------------------------------------------------------------- helpers
    def _tensor(self, img: np.ndarray) -> Tensor:
        return to_tensor(img, self.device).contiguous(memory_format=torch.channels_last)

    def _routing(
        self, img: np.ndarray, task: Sequence[str] | str | None, routing: str, upscale: int = 1
    ) -> tuple[Tensor | None, dict[str, float] | None]:
        """DFPIR's type weights ``(1, T)`` for a whole image, decided once for all tiles, and the
        type probabilities they came from (the task's one-hot for oracle routing; None when they
        were not needed). Blind at ``upscale > 1``, low resolution is not a guess: the image was
        just enlarged, so its probability is 1 whatever the estimator reads."""
        if task is not None:
            known = task_probabilities(task, self.types)
            return (type_weights(known, "blend", self.device) if self.config.arch == "dfpir" else None), known
        if self.config.arch != "dfpir":
            return None, None
        probs = enlarged(self._analyze(img).probabilities, upscale)
        return type_weights(probs, routing, self.device), probs

    def _run(
        self,
        x: Tensor,
        weights: Tensor | None,
        gate_means: list[Tensor] | None = None,
        encoded: Encoded | None = None,
        logits: list[Tensor] | None = None,
        conditions: Mapping[str, Tensor] | None = None,
    ) -> Tensor:
        """The network's output for ``x``; its estimator logits are appended to ``logits`` if given.
        ``conditions``: what the network reads besides ``x`` (:func:`.noise_map.network_conditions`)."""
        kw: dict[str, object] = {"weights": weights} if weights is not None else {}
        kw.update(conditions or {})
        if gate_means:
            kw["gate_means"] = gate_means
        if encoded is not None:
            kw["encoded"] = encoded
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            y, aux = self.model(x, **kw)
        if logits is not None and "logits" in aux:
            logits.append(aux["logits"][0].float())
        return y.float().clamp_(0, 1)

    @property
    def has_estimator(self) -> bool:
        """Whether blind calls get type probabilities (the model's own head or a lent one)."""
        return self.estimator is not None or hasattr(self.model, "estimator")

    @property
    def estimator_name(self) -> str | None:
        """The model whose estimator names the types for this one (None: none at all)."""
        if self.estimator is not None:
            return self.estimator.name
        return self.name if hasattr(self.model, "estimator") else None

    def haze_pass_weights(
        self, img: ImageSource, task: Sequence[str] | str | None = None, *, max_megapixels: float | None = None
    ) -> tuple[float, float]:
        """The weights of the haze pass that ``restore(img, refine=True)`` blends in at 1x, and of
        its carry within it (both 0..1, see :mod:`restore.refinements.haze`); ``task``: the known
        types, as in :meth:`restore`; ``img`` and ``max_megapixels`` as there."""
        rgb = load_image(img, max_megapixels=max_megapixels)
        if not self.has_estimator and task is None:
            return 0.0, 0.0
        probs = self._routing(rgb, task, "blend")[1] or self._analyze(rgb).probabilities
        return haze_weights(probs, rgb)

    # ----------------------------------------------------------------- public API
    @torch.inference_mode()
    def restore(
        self,
        img: ImageSource,
        *,
        upscale: int = 1,
        strength: float = 1.0,
        tile: int | None = None,
        overlap: int = 32,
        progress: ProgressFn | None = None,
        task: Sequence[str] | str | None = None,
        routing: str = "blend",
        refine: bool | Sequence[str] = True,
        report: dict[str, object] | None = None,
        max_megapixels: float | None = None,
        noise_level: float | None = None,
    ) -> np.ndarray:
        """Restore an image.

        Args:
            img: an image file's path (``str`` or ``os.PathLike``), a PIL image (its EXIF
                orientation applied) or a numpy array; anything :func:`restore.images.load_image`
                reads (RGBA, grayscale, 16-bit etc. are converted).
            upscale: 1, 2, 3 or 4: bicubic to ``upscale`` x the size, then restore.
            strength: 0..1, blend of the restored image with the (upscaled) input.
            tile: tile side in px (of the upscaled image); None picks one from the image size.
            overlap: overlap of neighbouring tiles, blended with linear ramps.
            progress: called as ``progress(done, total)`` steps (a tile restored is a step; NDR-Restore
                first reads every tile once more, so its total is twice
                :func:`restore.inference.tiling.tile_count`).
            task: the known degradation type(s): DFPIR's oracle routing, and for both models
                what decides the haze pass (instead of the estimator); None = blind.
            routing: DFPIR blind routing, "blend" (by probability) or "dominant".
            refine: follow the network with the classical refinements (True: all, False: none):
                :mod:`restore.inference.refine` says what each does, in what order, and when it
                fires. A collection of names from :data:`restore.refinements.REFINEMENTS`
                (``"wiener"``, ``"haze"``, ``"tone"``, ``"backproject"``) runs only those (to
                measure what each one earns).
            report: if given, filled with what the refinements did: ``"haze_weight"`` and
                ``"haze_carry_weight"`` (0..1, the haze pass's share and its carry's share within
                it); ``"tone_lock_weights"`` (brightening, darkening: 0..1, the shares of the
                network's tone shifts the tone lock took back) when it ran; when they ran,
                ``"noise_sigma"`` (the Wiener filter's luminance sigma, grey
                levels), ``"wiener_hard_share"`` (0..1, the thresholded input's share in its
                pilot) and ``"back_projection_weight"`` (its noise gate, 0..1); when the type
                probabilities were needed, ``"probabilities"``.
            max_megapixels: the size limit for the input and, when upscaling, for the result;
                None means the policy's (``RESTORE_MAX_MEGAPIXELS``, else 40). A file's size is
                read from its header before it is decoded.
            noise_level: the input's noise level in grey levels (0-255 scale) instead of the
                estimate (:meth:`noise_estimate`): the network's noise map (models with one) and
                the Wiener refinement read it, so a higher level smooths more; None = automatic.
                ``report["noise_level"]`` is the level used.

        Returns:
            ``(H*upscale, W*upscale, 3)`` uint8 RGB.

        Raises:
            restore.ImageError: the input cannot be read (the message says why, naming the file)
                or it, or the upscaled result, is over the limit
                (:class:`restore.images.ImageTooLargeError`).
            ValueError: a bad ``upscale``, ``strength``, ``tile``, ``task`` or ``max_megapixels``.
        """
        if upscale not in (1, 2, 3, 4):
            raise ValueError(f"upscale must be 1, 2, 3 or 4, got {upscale}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        level = check_noise_level(noise_level)
        rgb, small = load_upscaled(img, upscale, max_megapixels=max_megapixels)
        use = refinement_set(refine)
        weights, probs = self._routing(rgb, task, routing, upscale)
        levels = noise_levels(rgb, small, use, upscale, level, self.config.noise_input, report)
        noise_sigma, sigma, net_sigma, reference = levels
        conditions = network_conditions(self.config, net_sigma, upscale, self.device)
        h, w = rgb.shape[:2]
        tile = resolve_tile(h, w, tile, overlap)
        logits: list[Tensor] = []
        # the Wiener refinement's thresholded pilot reads the probabilities, where its ramp allows one
        needs_probs = sigma is not None and hard_ramp(grey_levels(sigma)) > 0.0 and self.has_estimator
        whole = tile_count(h, w, tile, overlap) == 1
        if whole:  # its forward pass first: its logits may give the probabilities
            x = self._tensor(rgb)
            y = self._run(x, weights, logits=logits, conditions=conditions)
        if needs_probs and probs is None:
            probs = self._probabilities(rgb, logits)
        share = wiener_share(sigma, probs, report)
        if whole:
            out = wiener_pass(x, y, sigma, share)[0].permute(1, 2, 0).float().cpu().numpy()
            if progress:
                progress(1, 1)
        else:
            out = self._tiled(rgb, tile, overlap, weights, progress, sigma, conditions, share)
        if wants_probabilities(use, upscale) and probs is None and self.has_estimator:
            probs = self._probabilities(rgb, logits)

        def run(copy: np.ndarray) -> np.ndarray:  # a resized copy measures its own level, scaled as the user's
            copy_sigma = copy_level(copy, reference, level) if self.config.noise_input else None
            own = network_conditions(self.config, copy_sigma, 1, self.device)
            y = self._run(self._tensor(copy), weights, conditions=own)
            return y[0].permute(1, 2, 0).float().cpu().numpy()

        out = apply_refinements(
            out,
            rgb,
            small,
            use=use,
            upscale=upscale,
            probs=probs,
            noise_sigma=noise_sigma,
            run=run,
            report=report,
            haze_follow=self.name in HAZE_FOLLOWS_FULL_SIZE,
        )
        if strength < 1.0:
            out = strength * out + (1.0 - strength) * (rgb.astype(np.float32) / 255.0)
        return to_uint8(out)

    def _probabilities(self, rgb: np.ndarray, logits: list[Tensor]) -> dict[str, float]:
        """The type probabilities of ``rgb``: from the logits of the forward pass that just ran on
        it whole where :meth:`analyze` would run that very pass, else :meth:`_analyze`."""
        h, w = rgb.shape[:2]
        if logits and max(h, w) <= ANALYZE_SIDE and self.estimator is None:
            return type_probabilities(logits[0], self.types)
        return self._analyze(rgb).probabilities

    def _tiled(
        self,
        rgb: np.ndarray,
        tile: int,
        overlap: int,
        weights: Tensor | None,
        progress: ProgressFn | None,
        sigma: Tensor | None = None,
        conditions: Mapping[str, Tensor] | None = None,
        share: float = 0.0,
    ) -> np.ndarray:
        """:func:`restore.inference.tiling.restore_tiled` with this model, then :func:`wiener_pass` on
        each tile (``sigma``, ``share``: as there; ``conditions``: the whole image's, as there)."""

        def restore_tile(xt: Tensor, gate_means: list[Tensor] | None, enc: Encoded | None) -> np.ndarray:
            out = wiener_pass(xt, self._run(xt, weights, gate_means, enc, conditions=conditions), sigma, share)
            return out[0].permute(1, 2, 0).float().cpu().numpy()

        return restore_tiled(
            self.model,
            rgb,
            tile,
            overlap,
            to_tensor=self._tensor,
            restore_tile=restore_tile,
            progress=progress,
            conditions=conditions,
        )

    def noise_estimate(self, img: ImageSource, *, upscale: int = 1, max_megapixels: float | None = None) -> float:
        """The input's estimated noise level in grey levels (the largest RGB channel), as
        :meth:`restore` reads it at ``upscale``: the value ``noise_level=`` replaces. Raises as
        :meth:`restore` for an input, or an enlarged result, that cannot be used."""
        return estimate_grey(image_noise_level(load_upscaled(img, upscale, max_megapixels=max_megapixels)[0]))

    def analyze(self, img: ImageSource, *, max_megapixels: float | None = None) -> Analysis:
        """Degradation probabilities and NDR activations, from a global view of the image.

        The image is resized (area) so its longest side is at most
        :data:`restore.inference.analysis.ANALYZE_SIDE`.

        Args:
            img: a path, a PIL image or a numpy array, as for :meth:`restore`.
            max_megapixels: the size limit, as for :meth:`restore`.

        Raises:
            restore.ImageError: the input cannot be read or is over the limit.
        """
        return self._analyze(load_image(img, max_megapixels=max_megapixels))

    @torch.inference_mode()
    def _analyze(self, img: np.ndarray) -> Analysis:
        """:meth:`analyze` of an ``HxWx3`` uint8 RGB array, with no size limit (the callers checked it)."""
        if self.estimator is not None:  # the lender's probabilities; a borrower (DFPIR) has no activations to show
            lent = self.estimator._analyze(img)
            return Analysis(lent.probabilities, [], np.zeros(0, np.float32), lent.size)
        return read_analysis(self.model, self._tensor(fit_within(img, ANALYZE_SIDE)), self.types)

    @torch.inference_mode()
    def redegrade(
        self,
        clean: ImageSource,
        degraded: ImageSource,
        max_side: int = ANALYZE_SIDE * 2,
        *,
        max_megapixels: float | None = None,
    ) -> np.ndarray:
        """NDR-Degrad: re-synthesise ``degraded``'s degradation on ``clean`` (resized to match), at
        most ``max_side`` px on the longest side; both read as in :meth:`restore`. Returns uint8
        RGB at the (possibly reduced) size of ``degraded``; raises restore.ImageError as there."""
        if self.degrad is None:
            raise NotImplementedError(f"model {self.name!r} has no NDR-Degrad network")
        deg = fit_within(load_image(degraded, max_megapixels=max_megapixels), max_side)
        clean_rgb = load_image(clean, max_megapixels=max_megapixels)
        cl = cv2.resize(clean_rgb, (deg.shape[1], deg.shape[0]), interpolation=cv2.INTER_AREA)
        _, aux = self.model(self._tensor(deg))
        return to_uint8(self.degrad(self._tensor(cl), aux["queries"]))
