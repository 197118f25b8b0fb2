"""Training loop for NDR-Restore, DFPIR and the plain backbone (CPU, CUDA, torchrun DDP).

Patches are cropped from the clean photos on the fly and degraded *on the training device* with
:mod:`restore.synthesis.registry`, so a GPU never waits for a CPU data loader. The crops come from
:mod:`~restore.training.patches`, the schedule and loss from :mod:`~restore.training.objective`,
and the checkpoint files from :mod:`~restore.training.run_files`.

The command line that drives it is :mod:`restore.training.cli` (``python -m restore.training``).
"""

from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.data.photos import list_photos
from restore.inference.precision import resolve_precision
from restore.models import build_degrad, build_model, count_parameters
from restore.models.config import ModelConfig
from restore.models.dfpir import routing_weights
from restore.noise import noise_level
from restore.synthesis.registry import sample
from restore.synthesis.scenes import tone_scenes
from restore.training.config import TrainConfig, model_config
from restore.training.objective import PSNR_FLOOR, lr_at, restoration_objective
from restore.training.patches import PatchSampler, split_holdout, validation_set
from restore.training.run_files import (
    export,
    final_weights,
    resume_checkpoint,
    save_checkpoint,
    warm_start_weights,
)
from restore.training.validation import plot_curve, validate

# Names callers and tests reach through this module (the step looks up `sample`,
# `restoration_objective` and `validate` here, so patching them here takes effect).
__all__ = [
    "PSNR_FLOOR",
    "PatchSampler",
    "Trainer",
    "export",
    "final_weights",
    "lr_at",
    "restoration_objective",
    "sample",
    "validate",
    "validation_set",
]

log = logging.getLogger("restore.training.trainer")


class Trainer:
    """Owns the models, optimiser, sampler and checkpoints of one run."""

    def __init__(
        self, cfg: TrainConfig, data: Path, out: Path, device: torch.device, rank: int = 0, world: int = 1
    ) -> None:
        self.cfg, self.out, self.device, self.rank, self.world = cfg, out, device, rank, world
        self.mcfg: ModelConfig = model_config(cfg)
        torch.manual_seed(cfg.seed)
        self.model = build_model(self.mcfg).to(device)
        self.degrad = build_degrad(self.mcfg).to(device) if self.mcfg.arch == "ndr" else None
        # channels-last on both devices: oneDNN's bf16 convolutions on the CPU ran a training step of
        # the detail layout 15 % faster in it (0.56 s against 0.66 s, batch 8 x 128², one thread).
        self.model = self.model.to(memory_format=torch.channels_last)
        params = list(self.model.parameters()) + (list(self.degrad.parameters()) if self.degrad else [])
        if cfg.train_only:
            params = self._freeze_all_but(cfg.train_only)
        self.degrad_trains = self.degrad is not None and any(p.requires_grad for p in self.degrad.parameters())
        self.opt = torch.optim.AdamW(
            self._param_groups(params), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99)
        )
        self.params = params
        self.step = 0
        self.elapsed = 0.0
        self.init_from: dict | None = None  # the warm-start chain, recorded in the shipped file
        self.ema: nn.Module | None = None  # the weight average (TrainConfig.ema), made at the first step
        self._ema_pairs: list[tuple[Tensor, Tensor]] = []  # (average, current) tensors, in step
        self.g = torch.Generator(device="cpu").manual_seed(cfg.seed * 7919 + rank)
        self.gdev = torch.Generator(device=device).manual_seed(cfg.seed * 104729 + rank)
        train_photos, self.held_out = split_holdout(list_photos(data, "train"), cfg.holdout)
        self.sampler = PatchSampler(train_photos, cfg.patch, device, self.g)
        # bf16 autocast where the hardware computes it (CUDA, CPUs with AVX-512 BF16 or AMX), as
        # inference picks it; whatever the config's ``bf16`` says (emulated bf16 is 20x slower).
        self.precision = "bf16" if device.type == "cuda" else resolve_precision(None, device)
        self.timing: dict[str, float] = {"synth": 0.0, "forward": 0.0, "backward": 0.0}
        self.val = validation_set(list_photos(data, "val"), cfg.val_size, device, cfg.val_grid) if rank == 0 else None
        self.fwd_model: nn.Module = self.model
        self.fwd_degrad = self.degrad
        if world > 1:
            self.fwd_model = nn.parallel.DistributedDataParallel(self.model, device_ids=[device.index])
            if self.degrad_trains:
                self.fwd_degrad = nn.parallel.DistributedDataParallel(self.degrad, device_ids=[device.index])
        self._compile_pending = cfg.compile
        if cfg.compile:
            self.fwd_model = torch.compile(self.fwd_model)

    def _param_groups(self, params: list[nn.Parameter]) -> list[dict]:
        """The optimiser's groups: one per ``TrainConfig.lr_scale`` prefix that names a trained
        parameter (the first prefix that matches wins), the rest at the schedule's own step."""
        if not self.cfg.lr_scale:
            return [{"params": params, "scale": 1.0}]
        names = {id(p): n for n, p in self.model.named_parameters()}
        groups: dict[str, dict] = {}
        for p in params:
            name = names.get(id(p), "")
            prefix = next((k for k, _ in self.cfg.lr_scale if name.startswith(k)), "")
            scale = dict(self.cfg.lr_scale).get(prefix, 1.0)
            groups.setdefault(prefix, {"params": [], "scale": scale})["params"].append(p)
        unused = sorted({k for k, _ in self.cfg.lr_scale} - set(groups))
        if unused:
            raise ValueError(f"lr_scale names no trained parameter of {self.cfg.model}: {unused}")
        return list(groups.values())

    def _freeze_all_but(self, prefixes: tuple[str, ...]) -> list[nn.Parameter]:
        """Freeze every parameter (NDR-Degrad's too) but those named with one of ``prefixes``;
        returns the ones left to train."""
        named = list(self.model.named_parameters())
        for name, p in named:
            p.requires_grad_(name.startswith(prefixes))
        if self.degrad is not None:
            self.degrad.requires_grad_(False)
        params = [p for _, p in named if p.requires_grad]
        if not params:
            raise ValueError(f"train_only={list(prefixes)} matches no parameter of {self.cfg.model}")
        return params

    # ----------------------------------------------------------------- checkpoints
    def save(self) -> None:
        """Write the run's state to ``out/last.pt`` (see :func:`~restore.training.run_files.save_checkpoint`)."""
        save_checkpoint(self)

    def resume(self) -> bool:
        """Continue from ``out/last.pt`` when the run has one (returns whether it did)."""
        return resume_checkpoint(self)

    def warm_start(self, path: Path, rest: Path | None = None) -> None:
        """Copy the weights of another run's checkpoint or a shipped file (fresh optimiser and
        schedule), and from ``rest`` what that one lacks; see
        :func:`~restore.training.run_files.warm_start_weights`."""
        warm_start_weights(self, path, rest)

    # ----------------------------------------------------------------- weight average
    def start_average(self, state: dict[str, Tensor]) -> None:
        """Begin the weight average (:attr:`ema`) from ``state``, the restoration network's weights."""
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.ema.load_state_dict(state)
        # state_dict() tensors share storage with the modules: pair them once, update them in place.
        self._ema_pairs = list(zip(self.ema.state_dict().values(), self.model.state_dict().values(), strict=True))

    def update_ema(self) -> None:
        """Move the weight average towards the current weights (a no-op with ``ema: 0``).

        The decay ramps up as ``(1 + step) / (10 + step)`` towards ``TrainConfig.ema``, so an
        average started from a random initialisation forgets it quickly.
        """
        if self.cfg.ema <= 0:
            return
        if self.ema is None:
            self.start_average(self.model.state_dict())
            return
        keep = min(self.cfg.ema, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for avg, now in self._ema_pairs:
                if avg.dtype.is_floating_point:
                    avg.lerp_(now, 1.0 - keep)
                else:
                    avg.copy_(now)

    @property
    def final_model(self) -> nn.Module:
        """The network this run would ship: the weight average when there is one."""
        return self.ema if self.ema is not None else self.model

    # ----------------------------------------------------------------- one step
    def losses(self, clean: Tensor, use: str = "both", progress: float = 0.0) -> tuple[Tensor, dict[str, float]]:
        """The loss of one batch. ``use``: "both" (joint), "restore" or "degrad" (alternating);
        ``progress``: the share of the schedule done (picks the restoration loss, see ``l1_from``)."""
        cfg = self.cfg
        loss = cfg.loss if progress < cfg.l1_from else "l1"
        t0 = time.perf_counter()
        if cfg.scene_tone > 0:
            clean = tone_scenes(clean, self.gdev, cfg.scene_tone)
        deg, labels, true_sigma, scale = self.degrade(clean)
        if cfg.flip_after > 0:
            turn = (torch.rand(deg.shape[0], generator=self.gdev, device=deg.device) < cfg.flip_after).view(-1, 1, 1, 1)
            deg, clean = torch.where(turn, deg.flip(2), deg), torch.where(turn, clean.flip(2), clean)
        deg = deg.contiguous(memory_format=torch.channels_last)
        kw: dict[str, object] = {}
        if self.mcfg.noise_input:
            kw["noise_sigma"] = self.noise_map_levels(deg, true_sigma)
        if self.mcfg.scale_input:
            told = torch.rand(deg.shape[0], generator=self.gdev, device=deg.device) < cfg.known_scale_share
            kw["scale"] = torch.where(told, scale, torch.ones_like(scale))
        t1 = time.perf_counter()
        self.timing["synth"] += t1 - t0
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            if self.mcfg.arch == "dfpir":
                # True-type routing (the paper's setting), but a share of the samples is routed by
                # the estimator's own guess so the network tolerates its mistakes.
                kw["weights"] = routing_weights(labels, "blend")
                u = torch.rand(labels.shape[0], generator=self.gdev, device=labels.device)
                kw["blind"] = u < cfg.predicted_label_fraction
            restored, aux = self.fwd_model(deg, **kw)
            objective = restoration_objective(restored.float(), deg.float(), clean, loss, cfg)
            total = objective if use != "degrad" else restored.sum() * 0.0
            stats = {"loss_restore": (restored.float() - clean).abs().mean().item()}
            if "logits" in aux:
                bce = F.binary_cross_entropy_with_logits(aux["logits"].float(), labels)
                total = total + cfg.estimator_weight * bce
                stats["bce"] = bce.item()
            if self.degrad_trains and cfg.degrad_weight > 0 and use != "restore":
                pred = self.fwd_degrad(clean, aux["queries"])
                l_deg = F.l1_loss(pred.float(), deg.float())
                total = total + cfg.degrad_weight * l_deg
                stats["loss_degrad"] = l_deg.item()
        self.timing["forward"] += time.perf_counter() - t1
        return total, stats

    def noise_map_levels(self, deg: Tensor, true_sigma: Tensor) -> Tensor:
        """``(B, 3)``: the level each sample's noise map shows. Most samples get what the
        estimator reads on the degraded sample (what inference will see), ``true_noise_share``
        of them the synthesis' true level (what a user's override says)."""
        measured = noise_level(deg.detach())
        pick = torch.rand(deg.shape[0], generator=self.gdev, device=deg.device) < self.cfg.true_noise_share
        return torch.where(pick[:, None], true_sigma[:, None].expand_as(measured), measured)

    def degrade(self, clean: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """A batch's degraded images, type labels, true white-noise levels (``(B,)``, full-scale
        units: the noise type's sigma and low light's read noise, root-sum-squared; 0 without)
        and enlargements (``(B,)``, :func:`synthesis_scale`):
        the first ``family_share`` of it drawn from the degradation families (with
        ``families``), the rest from the original synthesis."""
        cfg = self.cfg
        n_family = round(clean.shape[0] * cfg.family_share) if cfg.families else 0
        parts = []
        for part, families in ((clean[:n_family], True), (clean[n_family:], False)):
            if part.shape[0]:
                d = sample(
                    part,
                    self.gdev,
                    p_mixture=cfg.p_mixture,
                    p_clean=cfg.p_clean,
                    type_weights=dict(cfg.type_weights),
                    types=self.mcfg.types,
                    families=families,
                    exclude=dict(cfg.exclude_generators) if families else {},
                )
                types = self.mcfg.types
                noise, scale = true_noise_level(d.labels, d.params, types), synthesis_scale(d.labels, d.params, types)
                parts.append((d.image, d.labels, noise, scale))
        return tuple(torch.cat([p[i] for p in parts]) for i in range(4))  # type: ignore[return-value]

    def train_step(self, progress: float | None = None) -> dict[str, float]:
        """One optimiser step. With ``compile``, a compilation that fails at this process's first
        step is logged and the run goes on eagerly (a GPU lease is too short to lose to it)."""
        if self._compile_pending:
            self._compile_pending = False
            try:
                return self._train_step(progress)
            except Exception:
                log.exception("torch.compile failed at the first step: training without it")
                self.fwd_model = getattr(self.fwd_model, "_orig_mod", self.fwd_model)
                self.opt.zero_grad(set_to_none=True)
        return self._train_step(progress)

    def _train_step(self, progress: float | None = None) -> dict[str, float]:
        cfg = self.cfg
        lr = lr_at(self.step, cfg, progress)
        for group in self.opt.param_groups:
            group["lr"] = lr * group.get("scale", 1.0)
        clean = self.sampler(cfg.batch)
        use = "both"
        if cfg.alternate and self.degrad is not None:
            use = "restore" if self.step % 2 == 0 else "degrad"
        self.opt.zero_grad(set_to_none=True)
        done = progress if progress is not None else self.step / max(1, cfg.steps)
        loss, stats = self.losses(clean, use, done)
        t0 = time.perf_counter()
        loss.backward()
        gn = nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.opt.step()
        self.update_ema()
        self.timing["backward"] += time.perf_counter() - t0
        self.step += 1
        stats.update(loss=loss.item(), lr=lr, grad_norm=float(gn))
        return stats

    # ----------------------------------------------------------------- loop
    def fit(self, minutes: float | None = None, schedule_minutes: float | None = None) -> None:
        """Train to ``cfg.steps`` or until ``minutes`` of training time (the run's total, resumed
        time included). The learning-rate schedule ends at ``schedule_minutes`` (default
        ``minutes``): a run split into chained calls gives the first call the whole length."""
        cfg = self.cfg
        horizon = schedule_minutes if schedule_minutes is not None else minutes
        log_path = self.out / "log.jsonl"
        bar = None
        if self.rank == 0:
            from tqdm import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, dynamic_ncols=True, desc=self.mcfg.arch)
            log.info("model %s: %.2f M parameters", cfg.model, count_parameters(self.model) / 1e6)
        start = time.perf_counter() - self.elapsed
        acc: dict[str, list[float]] = {}
        while self.step < cfg.steps:
            progress = None
            if horizon is not None:
                progress = max(self.step / cfg.steps, self.elapsed / (horizon * 60))
            stats = self.train_step(progress)
            for k, v in stats.items():
                acc.setdefault(k, []).append(v)
            self.elapsed = time.perf_counter() - start
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{stats['loss_restore']:.4f}", lr=f"{stats['lr']:.1e}")
            if self.rank == 0 and self.step % cfg.log_every == 0:
                row = {"step": self.step, "time": round(self.elapsed, 1), "precision": self.precision}
                row.update({k: round(float(np.mean(v)), 6) for k, v in acc.items()})
                # Where a step's time went since the last row (seconds per step): the synthesis of
                # the batch, the forward pass with the losses, the backward pass with the update.
                row.update({f"s_{k}": round(v / max(1, len(acc.get("loss", [1]))), 4) for k, v in self.timing.items()})
                self.timing = dict.fromkeys(self.timing, 0.0)
                acc.clear()
                with open(log_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
            if self.rank == 0 and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                val = validate(self.final_model, self.val)
                with open(log_path, "a") as f:
                    row = {"step": self.step, "time": round(self.elapsed, 1), "val": val, "crops": len(self.val)}
                    f.write(json.dumps(row) + "\n")
                log.info("step %d val %s", self.step, val)
                plot_curve(log_path, self.out / "curve.png")
            if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                self.save()
            if minutes is not None and self.elapsed >= minutes * 60:
                log.info("time budget of %.1f min reached at step %d", minutes, self.step)
                self.save()
                break
        if bar is not None:
            bar.close()


def true_noise_level(labels: Tensor, params: dict[str, dict[str, Tensor]], types: tuple[str, ...]) -> Tensor:
    """``(B,)`` the white-noise level a synthesis put into each sample (full-scale units): the
    noise type's ``sigma`` and low light's read ``noise``, root-sum-squared; 0 where neither ran.
    ``params`` holds each type's values for its labelled samples only, in batch order."""
    var = torch.zeros(labels.shape[0], device=labels.device)
    for name, key in (("noise", "sigma"), ("lowlight", "noise")):
        if name in types and name in params and key in params[name]:
            rows = labels[:, types.index(name)].nonzero().flatten()
            var[rows] += (params[name][key].to(var) / 255.0) ** 2
    return var.sqrt()


def synthesis_scale(labels: Tensor, params: dict[str, dict[str, Tensor]], types: tuple[str, ...]) -> Tensor:
    """``(B,)`` the factor each sample's low resolution enlarged it by (1 where it had none);
    ``params`` as in :func:`true_noise_level`."""
    scale = torch.ones(labels.shape[0], device=labels.device)
    if "lowres" in types and "scale" in params.get("lowres", {}):
        rows = labels[:, types.index("lowres")].nonzero().flatten()
        scale[rows] = params["lowres"]["scale"].to(scale).clamp(min=1.0)
    return scale
