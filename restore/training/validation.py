"""Validation during training: PSNR per degradation type on held-out crops, and the curve PNG."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from restore.evaluation.metrics import psnr_torch
from restore.synthesis import families
from restore.synthesis.registry import DEGRADATION_TYPES, degrade


def crop_psnr(a: Tensor, b: Tensor) -> Tensor:
    """Each image's PSNR (dB) over the batch, ``(N,)``, both clamped to [0, 1], capped at 100 dB."""
    return psnr_torch(a.float().clamp(0, 1), b.float().clamp(0, 1)).clamp(max=100.0)


def psnr_t(a: Tensor, b: Tensor) -> float:
    """Mean over the batch of each image's PSNR (dB): the benchmark's convention, so one very bad
    crop costs its share instead of the whole pooled error (capped at 100 dB)."""
    return float(crop_psnr(a, b).mean())


def _per_type(model: nn.Module, clean: Tensor, draws: Callable[[int, str], list[tuple[dict, int]]]) -> dict[str, float]:
    """PSNR of the restored and of the degraded crops per type, each the mean over the
    ``(params, seed)`` draws that ``draws(index, type)`` gives (types with none are skipped)."""
    was_training = model.training
    model.eval()
    out = {}
    types = getattr(getattr(model, "cfg", None), "types", DEGRADATION_TYPES)
    for i, name in enumerate(types):
        restored_psnr, input_psnr = [], []
        for params, seed in draws(i, name):
            d = degrade(clean, {name: params}, seed=seed)
            restored, _ = model(d.image)
            restored_psnr.append(psnr_t(restored, clean))
            input_psnr.append(psnr_t(d.image, clean))
        if restored_psnr:
            out[name] = round(sum(restored_psnr) / len(restored_psnr), 3)
            out[name + "_input"] = round(sum(input_psnr) / len(input_psnr), 3)
    model.train(was_training)
    return out


@torch.no_grad()
def validate(model: nn.Module, clean: Tensor) -> dict[str, float]:
    """PSNR (dB) per degradation type on the validation crops (default parameters, fixed seeds),
    the mean over crops of each crop's PSNR.

    Every model runs blind here (DFPIR routes by its own estimator), as it does in the product.
    """
    return _per_type(model, clean, lambda i, name: [({}, 1234 + i)])


@torch.no_grad()
def validate_families(model: nn.Module, clean: Tensor, seed: int = 2468) -> dict[str, float]:
    """PSNR (dB) per degradation type averaged over every generator of its family
    (:data:`restore.synthesis.families.FAMILIES`, generator 0 = :func:`validate`'s), each at its
    example parameters with a fixed seed, on the validation crops; ``<type>_input`` likewise.

    :func:`validate` scores the one synthesis the first networks learned; this scores the
    degradation, which is what transfers to photos made by other code. Types without a family
    (a registered 7th type) are skipped. Blind, like :func:`validate`.
    """

    def draws(i: int, name: str) -> list[tuple[dict, int]]:
        kinds = range(len(families.FAMILIES.get(name, ())))
        return [(families.example(name, k), seed + 97 * i + k) for k in kinds]

    return _per_type(model, clean, draws)


@torch.no_grad()
def brightness_harm(model: nn.Module, clean: Tensor, sigma: float = 15.0) -> float:
    """Do-no-harm check (grey levels, lower is better): the mean absolute change of mean
    brightness that the network makes to dark and bright *scenes* that are clean or only noisy
    (Gaussian, ``sigma`` grey levels), on the validation crops.

    Scenes: each crop made dark (``0.3 x^1.3``) and bright (``1 - 0.35 (1 - x)``), as
    :mod:`restore.synthesis.scenes` does in training. A network that reads every dark photo as
    low light, or every bright one as haze, scores tens of grey levels here.
    """
    was_training = model.training
    model.eval()
    g = torch.Generator(device=clean.device).manual_seed(4321)
    shifts = []
    for scene in (0.3 * clean.clamp_min(0).pow(1.3), 1 - 0.35 * (1 - clean)):
        noise = torch.randn(scene.shape, generator=g, device=scene.device) * (sigma / 255.0)
        for img in (scene, (scene + noise).clamp(0, 1)):
            restored, _ = model(img)
            shifts.append((restored.float().clamp(0, 1).mean(dim=(1, 2, 3)) - scene.mean(dim=(1, 2, 3))).abs())
    model.train(was_training)
    return round(float(torch.cat(shifts).mean()) * 255.0, 3)


def plot_curve(log_path: Path, out_path: Path) -> None:
    """Training-curve PNG (loss and validation PSNR per type) from the JSONL log."""
    from matplotlib.figure import Figure

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val" in r]
    fig = Figure(figsize=(10, 4), dpi=100)
    ax1, ax2 = fig.subplots(1, 2)
    if train:
        # With ``alternate``, a row logged on a restore-only step has no re-degrade loss (and a
        # degrade-only one may lack the restore loss): each curve takes the rows that have it.
        for key, label in (("loss_restore", "L1 restore"), ("loss_degrad", "L1 re-degrade")):
            have = [r for r in train if r.get(key)]
            if have:
                ax1.plot([r["step"] for r in have], [r[key] for r in have], label=label)
        ax1.set_yscale("log")
        ax1.set_xlabel("step")
        ax1.set_ylabel("loss")
        ax1.set_title("Training loss")
        ax1.legend()
    if val:
        steps = [r["step"] for r in val]
        names = [k for k in val[-1]["val"] if f"{k}_input" in val[-1]["val"]]
        for name in names:
            ax2.plot(steps, [r["val"][name] - r["val"][name + "_input"] for r in val], marker="o", label=name)
        ax2.set_xlabel("step")
        ax2.set_ylabel("PSNR gain over input (dB)")
        crops = val[-1].get("crops")
        ax2.set_title(f"Validation ({crops} held-out crops)" if crops else "Validation (held-out photos)")
        ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path)
