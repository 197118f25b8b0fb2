"""The public inference API: :class:`Restorer` (load, pad, tile with blended overlaps, upscale,
strength, analyze). Inference keeps no state between calls and runs under ``torch.inference_mode``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from restore.images import ImageSource, check_megapixels, fit_within, load_image, to_tensor, to_uint8
from restore.models import build_degrad, build_model, count_parameters
from restore.models.config import ModelConfig
from restore.models.dfpir import routing_weights
from restore.models.weights import WeightsError, degrad_path, load_weights, read_config, read_metadata
from restore.noise import grey_levels
from restore.refinements import REFINEMENTS
from restore.refinements.backproject import back_project, noise_weight
from restore.refinements.haze import haze_pass, pass_weights, working_copy
from restore.refinements.tone import lock_weights, tone_lock
from restore.refinements.wiener import image_noise_sigma, wiener_refine
from restore.resources import weights_dir

log = logging.getLogger(__name__)

#: Shipped model names, in the order the app offers them.
MODEL_NAMES: tuple[str, ...] = ("ndr-restore", "dfpir")
#: Images up to this many pixels are restored in one piece when ``tile`` is None.
WHOLE_IMAGE_PIXELS = 1536 * 1536
#: Tile side used when tiling automatically.
AUTO_TILE = 768
#: Memory (bytes) NDR-Restore's tiled inference may spend keeping each tile's encoder output from
#: the statistics pass for the restoring pass (12 MB per 768-px tile, so a 12 MP photo fits);
#: tiles beyond it are encoded again: very large images trade some speed for bounded memory.
ENCODER_CACHE_BYTES = 384 * 2**20
#: Longest side at which :meth:`Restorer.analyze` looks at an image (a global view is enough).
ANALYZE_SIDE = 512
#: ``Restorer(precision=...)``: "auto" runs the network in bf16 where the CPU computes bf16 natively.
PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_ENV = "RESTORE_PRECISION"
#: The type that enlarging an image makes (its probability is 1 for DFPIR's routing at ``upscale > 1``).
LOWRES = "lowres"
#: Models whose blind decisions (DFPIR's routing, the haze pass, the tone lock, ``analyze``) take
#: the type probabilities of another shipped model's estimator, loaded from the same folder (else
#: the shipped one) by :meth:`Restorer.from_pretrained`. NDR-Restore's estimator reads the dictionary's
#: activation maps and names the degradation more reliably than DFPIR's own head, which reads
#: encoder statistics: routed by it, DFPIR no longer takes mild noise on dark or flat photos for low
#: light or rain (the model card's "One estimator for both models").
ESTIMATOR_SOURCES: dict[str, str] = {"dfpir": "ndr-restore"}


@functools.cache
def _cpuinfo() -> str:
    """``/proc/cpuinfo``, read once per process ("" where there is none)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has bf16 arithmetic (AVX-512 BF16 or AMX), from ``/proc/cpuinfo``'s flags
    (False where it cannot be read: other systems run fp32)."""
    if cpuinfo is None:
        cpuinfo = _cpuinfo()
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str | None, device: torch.device) -> str:
    """ "fp32" or "bf16" for ``precision`` (None: ``RESTORE_PRECISION``, else "auto"). "auto" is bf16
    on a CPU with native bf16 (there it is 1.4-2x faster and moves the paper suite by under 0.05 dB,
    see the model card), fp32 elsewhere (emulated bf16 is slower than fp32)."""
    chosen = precision or os.environ.get(PRECISION_ENV) or "auto"
    if chosen not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {chosen!r}")
    if chosen == "auto":
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
    return chosen


def refinement_set(refine: bool | Sequence[str]) -> frozenset[str]:
    """``restore``'s ``refine`` as the set of refinements to run: True = all, False = none."""
    if refine is True:
        return frozenset(REFINEMENTS)
    if refine is False:
        return frozenset()
    names = frozenset([refine] if isinstance(refine, str) else refine)
    unknown = sorted(names - set(REFINEMENTS))
    if unknown:
        raise ValueError(f"unknown refinements {unknown}; valid: {', '.join(REFINEMENTS)}")
    return names


ProgressFn = Callable[[int, int], None]


def available_models(directory: Path | None = None) -> list[str]:
    """Names of the models whose weights are present (known names first)."""
    d = directory or weights_dir()
    found = {p.stem for p in d.glob("*.safetensors") if not p.stem.endswith("-degrad")} if d.is_dir() else set()
    return [n for n in MODEL_NAMES if n in found] + sorted(found - set(MODEL_NAMES))


@dataclass(frozen=True)
class ScaleActivation:
    """NDR activations at one encoder scale.

    Attributes:
        level: 1 (finest) to 3.
        map: ``(h, w, K)`` float32, softmax over the K atoms per pixel (sums to 1).
        pooled: ``(K,)`` float32, the map's mean over pixels.
    """

    level: int
    map: np.ndarray
    pooled: np.ndarray


@dataclass(frozen=True)
class Analysis:
    """What a model recognised in an image.

    Attributes:
        probabilities: type -> probability (independent sigmoids: several can be high).
        activations: per-scale NDR activations (empty for models without a dictionary).
        pooled_vector: all scales' pooled activations concatenated, ``(3K,)`` (empty if none).
        size: ``(H, W)`` at which the model looked.
    """

    probabilities: dict[str, float]
    activations: list[ScaleActivation]
    pooled_vector: np.ndarray
    size: tuple[int, int]

    def detected(self, threshold: float = 0.5) -> list[str]:
        """Types above ``threshold``, most likely first."""
        items = sorted(self.probabilities.items(), key=lambda kv: -kv[1])
        return [k for k, v in items if v >= threshold]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``tile`` px overlapping by ``overlap``."""
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    return list(range(0, length - tile, stride)) + [length - tile]


def tile_count(height: int, width: int, tile: int | None, overlap: int = 32) -> int:
    """How many tiles :meth:`Restorer.restore` cuts an image of this size into (``tile`` as there;
    the size is after upscaling). Its progress counts steps: NDR-Restore visits each tile twice."""
    tile = auto_tile(height, width) if tile is None else tile
    if not tile or (height <= tile and width <= tile):
        return 1
    return len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))


def auto_tile(height: int, width: int) -> int:
    """The tile side used when ``tile`` is None (0 = whole image)."""
    return 0 if height * width <= WHOLE_IMAGE_PIXELS else AUTO_TILE


def tile_cores(starts: list[int], tile: int, length: int) -> list[tuple[int, int]]:
    """Each tile's own part ``[lo, hi)`` along one axis: overlaps are split at their middle, so
    the parts cover ``[0, length)`` exactly once."""
    bounds = [0] + [(starts[k] + tile + starts[k + 1]) // 2 for k in range(len(starts) - 1)] + [length]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D blending weights: linear ramps over ``overlap`` px at inner tile edges."""
    w = np.ones(length, dtype=np.float32)
    if overlap > 0:
        r = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        n = min(overlap, length)
        if not at_start:
            w[:n] = np.minimum(w[:n], r[:n])
        if not at_end:
            w[-n:] = np.minimum(w[-n:], r[:n][::-1])
    return w


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
            if not estimator.has_estimator or estimator.estimator is not None:
                raise ValueError(f"model {estimator.name!r} has no estimator of its own to lend")
            if tuple(estimator.types) != tuple(config.types):
                raise ValueError(
                    f"model {estimator.name!r} estimates types {estimator.types}, {name!r} needs {config.types}"
                )
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
        :func:`resolve_precision`. ``estimator``: whose estimator names the types for the blind
        decisions: "auto" (default) the model :data:`ESTIMATOR_SOURCES` names, from ``directory``
        if it is there, else from the shipped weights (the model's own head where neither has it);
        a loaded :class:`Restorer` (shared, e.g. by the app); None: the model's own head.

        Raises:
            ValueError: unknown model name (the message lists the available ones).
            WeightsError: the file is missing, corrupt or does not match its config.
        """
        d = Path(directory) if directory is not None else weights_dir()
        path = d / f"{name}.safetensors"
        if not path.is_file():
            avail = available_models(d)
            if name not in MODEL_NAMES:
                raise ValueError(f"unknown model {name!r}; available: {', '.join(avail) or 'none'}")
            raise WeightsError(
                f"weights for {name!r} not found at {path}; available: {', '.join(avail) or 'none'} "
                f"(train and export them with `python -m restore.training ... --export RUN --name {name}`)"
            )
        config = read_config(path)
        model = load_weights(build_model(config), path)
        degrad = None
        dpath = degrad_path(path)
        if config.arch == "ndr" and dpath.is_file():
            degrad = load_weights(build_degrad(config), dpath)
        if isinstance(estimator, str):
            if estimator != "auto":
                raise ValueError(f"estimator must be 'auto', None or a Restorer, got {estimator!r}")
            estimator = _estimator_source(name, d, device, precision)
        return cls(
            model,
            config,
            name=name,
            device=device or _default_device(),
            degrad=degrad,
            metadata=read_metadata(path),
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
        torch.manual_seed(seed)
        model = build_model(config)
        degrad = build_degrad(config) if config.arch == "ndr" else None
        for net in (model, degrad):
            for m in net.modules() if net is not None else ():
                if isinstance(m, nn.Conv2d) and not bool(m.weight.any()):
                    m.reset_parameters()
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
            names = (task,) if isinstance(task, str) else tuple(task)
            bad = [t for t in names if t not in self.types]
            if bad:
                raise ValueError(f"unknown degradation type(s) {bad}; valid: {', '.join(self.types)}")
            known = {t: 1.0 if t in names else 0.0 for t in self.types}
            if self.config.arch != "dfpir":
                return None, known
            hot = torch.tensor([list(known.values())], device=self.device)
            return routing_weights(hot, "blend"), known
        if self.config.arch != "dfpir":
            return None, None
        probs = self._analyze(img).probabilities
        if upscale > 1 and LOWRES in probs:
            probs = {**probs, LOWRES: 1.0}
        return routing_weights(torch.tensor([list(probs.values())], device=self.device), routing), probs

    def _run(
        self,
        x: Tensor,
        weights: Tensor | None,
        gate_means: list[Tensor] | None = None,
        encoded: tuple[list[Tensor], Tensor] | None = None,
        logits: list[Tensor] | None = None,
    ) -> Tensor:
        """The network's output for ``x``; its estimator logits are appended to ``logits`` if given."""
        kw: dict[str, object] = {"weights": weights} if weights is not None else {}
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
        return pass_weights(probs, grey_levels(image_noise_sigma(rgb)))

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
                first reads every tile once more, so its total is twice :func:`tile_count`).
            task: the known degradation type(s): DFPIR's oracle routing, and for both models
                what decides the haze pass (instead of the estimator); None = blind.
            routing: DFPIR blind routing, "blend" (by probability) or "dominant".
            refine: follow the network with classical refinements. At ``upscale=1`` the
                pilot-guided Wiener refinement (:mod:`restore.refinements.wiener`) gives back the fine texture
                the network smoothed away with the noise, where the input is consistent with
                "clean + noise"; then, on photos the estimator finds hazy (and not dark), the haze
                pass (:mod:`restore.refinements.haze`) dehazes a 256-px copy, the scale the network was
                trained on, and carries that correction to the full-size image: to the input's own
                pixels when haze is its only fault, to the low frequencies only otherwise. At
                ``upscale > 1`` gated back-projection (:mod:`restore.refinements.backproject`) makes the output
                agree with the small input when downscaled, where the input's only fault is its size.
                At every scale the tone lock (:mod:`restore.refinements.tone`) takes back the
                network's shifts of the photo's overall brightness and colour unless the estimator
                finds low light or haze (or, for darkening, rain).
                A collection of names from :data:`REFINEMENTS` (``"wiener"``, ``"haze"``,
                ``"tone"``, ``"backproject"``) runs only those (to measure what each one earns).
            report: if given, filled with what the refinements did: ``"haze_weight"`` and
                ``"haze_carry_weight"`` (0..1, the haze pass's share and its carry's share within
                it); ``"tone_lock_weights"`` (brightening, darkening: 0..1, the shares of the
                network's tone shifts the tone lock took back) when it ran; when they ran,
                ``"noise_sigma"`` (the Wiener filter's luminance sigma, grey
                levels) and ``"back_projection_weight"`` (its noise gate, 0..1); when the type
                probabilities were needed, ``"probabilities"``.
            max_megapixels: the size limit for the input and, when upscaling, for the result;
                None means the policy's (``RESTORE_MAX_MEGAPIXELS``, else 40). A file's size is
                read from its header before it is decoded.

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
        rgb = load_image(img, max_megapixels=max_megapixels)
        if upscale > 1:
            check_megapixels(
                rgb.shape[1] * upscale, rgb.shape[0] * upscale, max_megapixels, name=f"the {upscale}x result"
            )
        small = rgb
        if upscale > 1:
            h, w = rgb.shape[:2]
            rgb = cv2.resize(rgb, (w * upscale, h * upscale), interpolation=cv2.INTER_CUBIC)
        use = refinement_set(refine)
        weights, probs = self._routing(rgb, task, routing, upscale)
        # the input's noise level (per opponent channel), measured before any upscaling
        noise_sigma = image_noise_sigma(small) if use & {"wiener", "haze", "tone"} else None
        sigma = noise_sigma if "wiener" in use and upscale == 1 else None  # what the Wiener refinement reads
        h, w = rgb.shape[:2]
        if tile is None:
            tile = auto_tile(h, w)
        if tile and tile < 2 * overlap + 8:
            raise ValueError(f"tile ({tile}) must be at least 2 * overlap + 8 = {2 * overlap + 8}")
        logits: list[Tensor] = []
        if tile_count(h, w, tile, overlap) == 1:
            x = self._tensor(rgb)
            y = self._run(x, weights, logits=logits)
            out = self._refined(x, y, sigma)[0].permute(1, 2, 0).float().cpu().numpy()
            if progress:
                progress(1, 1)
        else:
            out = self._tiled(rgb, tile, overlap, weights, progress, sigma)
        wants_probs = ("haze" in use and upscale == 1) or "tone" in use
        if wants_probs and probs is None and self.has_estimator:
            if logits and max(h, w) <= ANALYZE_SIDE and self.estimator is None:
                # analyze() would run this very forward pass: reuse its estimate
                probs = dict(zip(self.types, torch.sigmoid(logits[0]).float().cpu().tolist(), strict=True))
            else:
                probs = self._analyze(rgb).probabilities
        if "haze" in use and upscale == 1 and probs is not None:
            weight, carry_weight = pass_weights(probs, grey_levels(noise_sigma))
            if report is not None:
                report.update(haze_weight=weight, haze_carry_weight=carry_weight, probabilities=dict(probs))
            if weight > 0.0:
                small = working_copy(rgb)
                ys = self._run(self._tensor(small), weights)[0].permute(1, 2, 0).float().cpu().numpy()
                out = haze_pass(rgb, small, ys, out, weight, carry_weight)
        if "tone" in use and probs is not None:
            lock = lock_weights(probs)
            out = tone_lock(rgb, out, lock, grey_levels(noise_sigma) / 255.0)
            if report is not None:
                report.update(tone_lock_weights=lock, probabilities=dict(probs))
        if report is not None:
            report.setdefault("haze_weight", 0.0)
            report.setdefault("haze_carry_weight", 0.0)
            if sigma is not None:
                report["noise_sigma"] = float(sigma[0]) * 255.0
        if "backproject" in use and upscale > 1:
            bp_weight = noise_weight(small)
            out, _ = back_project(out, small, weight=bp_weight)
            if report is not None:
                report["back_projection_weight"] = bp_weight
        if strength < 1.0:
            out = strength * out + (1.0 - strength) * (rgb.astype(np.float32) / 255.0)
        return to_uint8(out)

    @staticmethod
    def _refined(x: Tensor, y: Tensor, sigma: Tensor | None) -> Tensor:
        """``y`` after the Wiener refinement against ``x`` (``sigma``: the whole image's noise
        level per opponent channel; None: no refinement)."""
        if sigma is None:
            return y
        return wiener_refine(x, y, sigma)[0].clamp_(0, 1)

    def _tiled(
        self,
        rgb: np.ndarray,
        tile: int,
        overlap: int,
        weights: Tensor | None,
        progress: ProgressFn | None,
        sigma: Tensor | None = None,
    ) -> np.ndarray:
        """Restore tile by tile into float32 accumulators (memory ~ 16 bytes per pixel).

        NDR-Restore first reads the whole image's CP-gate statistics, tile by tile (encoder
        only), so that every tile is gated as the whole image would be: judged alone, a tile of
        featureless sky looks hazy. Progress then counts each tile twice. The encoder outputs of
        that first pass are kept for the second (up to :data:`ENCODER_CACHE_BYTES`), so the
        encoder runs once per tile.
        """
        h, w = rgb.shape[:2]
        ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
        acc = np.zeros((h, w, 3), dtype=np.float32)
        norm = np.zeros((h, w, 1), dtype=np.float32)
        shared = hasattr(self.model, "gate_input_sums") and self.model.gates_per_skip > 0
        total, done = len(ys) * len(xs) * (2 if shared else 1), 0
        gate_means, encoded = None, {}
        if shared:
            gate_means, encoded = self._statistics_pass(rgb, tile, ys, xs, progress, total)
            done = total // 2
        for y in ys:
            for x in xs:
                patch = rgb[y : y + tile, x : x + tile]
                th, tw = patch.shape[:2]
                enc = encoded.pop((y, x), None)
                xt = self._tensor(patch)
                out = self._refined(xt, self._run(xt, weights, gate_means, enc), sigma)
                out = out[0].permute(1, 2, 0).float().cpu().numpy()
                wy = _ramp(th, overlap, y == 0, y + th >= h)
                wx = _ramp(tw, overlap, x == 0, x + tw >= w)
                wgt = (wy[:, None] * wx[None, :])[..., None]
                acc[y : y + th, x : x + tw] += out * wgt
                norm[y : y + th, x : x + tw] += wgt
                done += 1
                if progress:
                    progress(done, total)
        acc /= np.maximum(norm, 1e-8)
        return acc

    def _statistics_pass(
        self, rgb: np.ndarray, tile: int, ys: list[int], xs: list[int], progress: ProgressFn | None, total: int
    ) -> tuple[list[Tensor], dict[tuple[int, int], tuple[list[Tensor], Tensor]]]:
        """The whole image's pooled input of every CP gate, summed over each tile's own part (its
        core), and the tiles' encoder outputs kept for the restoring pass, by tile origin."""
        h, w = rgb.shape[:2]
        totals: list[tuple[Tensor, int]] | None = None  # (sum, count) per gate
        kept: dict[tuple[int, int], tuple[list[Tensor], Tensor]] = {}
        budget = ENCODER_CACHE_BYTES
        done = 0
        for y, (r0, r1) in zip(ys, tile_cores(ys, tile, h), strict=True):
            for x, (c0, c1) in zip(xs, tile_cores(xs, tile, w), strict=True):
                patch = self._tensor(rgb[y : y + tile, x : x + tile])
                enc = self.model.encode_tile(patch)
                parts = self.model.gate_input_sums(patch, (r0 - y, r1 - y, c0 - x, c1 - x), enc)
                size = sum(t.numel() * t.element_size() for t in (*enc[0], enc[1]))
                if size <= budget:
                    kept[(y, x)] = enc
                    budget -= size
                if totals is not None:
                    parts = [(s + p, n + m) for (s, n), (p, m) in zip(totals, parts, strict=True)]
                totals = parts
                done += 1
                if progress:
                    progress(done, total)
        return [s / max(n, 1) for s, n in totals or []], kept

    def analyze(self, img: ImageSource, *, max_megapixels: float | None = None) -> Analysis:
        """Degradation probabilities and NDR activations, from a global view of the image.

        The image is resized (area) so its longest side is at most :data:`ANALYZE_SIDE`.

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
        rgb = fit_within(img, ANALYZE_SIDE)
        x = self._tensor(rgb)
        estimate = getattr(self.model, "estimate", None)
        aux = estimate(x) if estimate is not None else self.model(x)[1]
        if "logits" in aux:
            p = torch.sigmoid(aux["logits"][0]).float().cpu().tolist()
        else:
            p = [float("nan")] * len(self.types)
        probs = dict(zip(self.types, p, strict=True))
        acts = []
        for level, a in enumerate(aux.get("activations", []), start=1):
            m = a[0].permute(1, 2, 0).float().cpu().numpy()
            acts.append(ScaleActivation(level, m, m.reshape(-1, m.shape[-1]).mean(0)))
        pooled = np.concatenate([a.pooled for a in acts]) if acts else np.zeros(0, np.float32)
        return Analysis(probs, acts, pooled, (rgb.shape[0], rgb.shape[1]))

    @torch.inference_mode()
    def redegrade(
        self,
        clean: ImageSource,
        degraded: ImageSource,
        max_side: int = ANALYZE_SIDE * 2,
        *,
        max_megapixels: float | None = None,
    ) -> np.ndarray:
        """NDR-Degrad: re-synthesise ``degraded``'s degradation on ``clean``.

        The degradation features are queried from ``degraded``; ``clean`` (e.g. the restored
        image) is resized to match. Works at most ``max_side`` px on the longest side. Both
        images are read as in :meth:`restore` (paths, PIL images, arrays; ``max_megapixels``).

        Returns:
            uint8 RGB at the (possibly reduced) size of ``degraded``.

        Raises:
            restore.ImageError: an input cannot be read or is over the limit.
        """
        if self.degrad is None:
            raise NotImplementedError(f"model {self.name!r} has no NDR-Degrad network")
        deg = fit_within(load_image(degraded, max_megapixels=max_megapixels), max_side)
        clean_rgb = load_image(clean, max_megapixels=max_megapixels)
        cl = cv2.resize(clean_rgb, (deg.shape[1], deg.shape[0]), interpolation=cv2.INTER_AREA)
        _, aux = self.model(self._tensor(deg))
        out = self.degrad(self._tensor(cl), aux["queries"])
        return to_uint8(out)


def _estimator_source(
    name: str, directory: Path, device: str | torch.device | None, precision: str | None
) -> Restorer | None:
    """The restorer :data:`ESTIMATOR_SOURCES` names for ``name``, loaded from ``directory`` or else
    the shipped weights; None where the model borrows no estimator or the file is absent."""
    source = ESTIMATOR_SOURCES.get(name)
    if source is None:
        return None
    for folder in dict.fromkeys((directory, weights_dir())):
        if (folder / f"{source}.safetensors").is_file():
            return Restorer.from_pretrained(source, device=device, directory=folder, precision=precision)
    log.warning("%s: no %s weights to lend their estimator; using %s's own head", name, source, name)
    return None


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
