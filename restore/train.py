"""Training loop for NDR-Restore, DFPIR and the plain backbone (CPU, CUDA, torchrun DDP).

Patches are cropped from the clean photos on the fly and degraded *on the training device* with
:mod:`restore.degradations`, so a GPU never waits for a CPU data loader.

Usage::

    python -m restore.train --config configs/ndr-small.yaml --data data/photos --out runs/ndr-small
    torchrun --nproc_per_node 4 -m restore.train --config configs/ndr-small.yaml --out runs/ndr4
    python -m restore.train --export runs/ndr-small --name ndr-restore   # -> assets/weights/
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from restore.config import ModelConfig, TrainConfig, load_train_config, model_config
from restore.degradations import DEGRADATION_TYPES, degrade, sample
from restore.models import build_degrad, build_model, count_parameters
from restore.models.dfpir import routing_weights
from restore.photos import list_photos
from restore.weights import WEIGHTS_DIR, clean_state_dict, degrad_path, read_metadata, read_state, save_weights

PSNR_FLOOR = 1e-4  # MSE added inside the log of the "psnr" loss (a 40 dB ceiling)

log = logging.getLogger("restore.train")


def lr_at(step: int, cfg: TrainConfig, progress: float | None = None) -> float:
    """Linear warm-up to ``cfg.lr``, then cosine decay to ``cfg.min_lr`` at ``cfg.steps``.

    ``progress`` (0-1) replaces ``step / steps`` for the cosine when a run has a time budget, so
    the schedule still ends at ``min_lr`` when time, not steps, runs out.
    """
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup) if progress is None else progress
    t = min(1.0, max(0.0, t))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


class PatchSampler:
    """Random, texture-preferring, augmented crops from photos held on the training device."""

    def __init__(self, paths: list[Path], patch: int, device: torch.device, generator: torch.Generator) -> None:
        self.images = [self._load(p, device) for p in paths]
        self.images = [im for im in self.images if min(im.shape[-2:]) >= patch]
        if not self.images:
            raise ValueError(f"no photo is at least {patch}x{patch} px")
        areas = torch.tensor([im.shape[-1] * im.shape[-2] for im in self.images], dtype=torch.float)
        self.weights = areas / areas.sum()
        self.patch = patch
        self.g = generator

    @staticmethod
    def _load(path: Path, device: torch.device) -> Tensor:
        arr = np.array(Image.open(path).convert("RGB"))
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous().to(device)  # (3, H, W) uint8

    def __call__(self, batch: int) -> Tensor:
        """``(batch, 3, patch, patch)`` float in [0, 1]: the most textured of 1.5x candidates."""
        n = batch + batch // 2
        idx = torch.multinomial(self.weights, n, replacement=True, generator=self.g)
        p = self.patch
        crops = []
        for i in idx.tolist():
            im = self.images[i]
            y = int(torch.randint(0, im.shape[1] - p + 1, (1,), generator=self.g))
            x = int(torch.randint(0, im.shape[2] - p + 1, (1,), generator=self.g))
            crops.append(im[:, y : y + p, x : x + p])
        x = torch.stack(crops).float() / 255.0
        texture = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        x = x[texture.argsort(descending=True)[:batch]]
        x = x[torch.randperm(batch, generator=self.g)]
        k = int(torch.randint(0, 4, (1,), generator=self.g))
        x = torch.rot90(x, k, dims=(2, 3))
        if int(torch.randint(0, 2, (1,), generator=self.g)):
            x = x.flip(3)
        return x.contiguous()


def validation_set(paths: list[Path], size: int, device: torch.device) -> Tensor:
    """Centre crops ``(N, 3, size, size)`` of the validation photos."""
    out = []
    for p in paths:
        im = PatchSampler._load(p, device)
        h, w = im.shape[-2:]
        s = min(size, h, w)
        y, x = (h - s) // 2, (w - s) // 2
        out.append(F.interpolate(im[None, :, y : y + s, x : x + s].float() / 255.0, size=(size, size), mode="area"))
    return torch.cat(out)


def psnr_t(a: Tensor, b: Tensor) -> float:
    mse = F.mse_loss(a.clamp(0, 1), b.clamp(0, 1)).item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


@torch.no_grad()
def validate(model: nn.Module, clean: Tensor) -> dict[str, float]:
    """PSNR (dB) per degradation type on the validation crops (default parameters, fixed seeds).

    Every model runs blind here (DFPIR routes by its own estimator), as it does in the product.
    """
    model.eval()
    out = {}
    for i, name in enumerate(DEGRADATION_TYPES):
        d = degrade(clean, {name: {}}, seed=1234 + i)
        restored, _ = model(d.image)
        out[name] = round(psnr_t(restored, clean), 3)
        out[name + "_input"] = round(psnr_t(d.image, clean), 3)
    model.train()
    return out


def plot_curve(log_path: Path, out_path: Path) -> None:
    """Training-curve PNG (loss and validation PSNR per type) from the JSONL log."""
    from matplotlib.figure import Figure

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val" in r]
    fig = Figure(figsize=(10, 4), dpi=100)
    ax1, ax2 = fig.subplots(1, 2)
    if train:
        steps = [r["step"] for r in train]
        ax1.plot(steps, [r["loss_restore"] for r in train], label="L1 restore")
        if any(r.get("loss_degrad") for r in train):
            ax1.plot(steps, [r["loss_degrad"] for r in train], label="L1 re-degrade")
        ax1.set_yscale("log")
        ax1.set_xlabel("step")
        ax1.set_ylabel("loss")
        ax1.set_title("Training loss")
        ax1.legend()
    if val:
        steps = [r["step"] for r in val]
        for name in DEGRADATION_TYPES:
            ax2.plot(steps, [r["val"][name] - r["val"][name + "_input"] for r in val], marker="o", label=name)
        ax2.set_xlabel("step")
        ax2.set_ylabel("PSNR gain over input (dB)")
        ax2.set_title("Validation (3 held-out photos)")
        ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path)


def warm_start_record(path: Path, ckpt: dict) -> dict:
    """What a warm-started run started from: the checkpoint's steps, time, recipe and its own origin."""
    return {
        "checkpoint": str(path),
        "steps": int(ckpt["step"]),
        "wall_seconds": round(float(ckpt.get("elapsed", 0.0))),
        "train_config": json.loads(ckpt["train_config"]),
        "init_from": json.loads(ckpt["init_from"]) if "init_from" in ckpt else None,
    }


def read_shipped(path: Path) -> dict:
    """A shipped ``NAME.safetensors`` (+ ``NAME-degrad.safetensors``) as a checkpoint-like dict."""
    facts = json.loads(read_metadata(path).get("training", "null") or "null")
    if not facts:
        raise ValueError(f"{path} has no training facts in its metadata; it was not exported by restore.train")
    degrad = degrad_path(path)
    ckpt = {
        "model": {k: v.float() for k, v in read_state(path).items()},
        "degrad": {k: v.float() for k, v in read_state(degrad).items()} if degrad.is_file() else None,
        "step": facts["steps"],
        "elapsed": facts["wall_seconds"],
        "train_config": json.dumps(facts["train_config"]),
    }
    if facts.get("warm_started_from"):
        ckpt["init_from"] = json.dumps(facts["warm_started_from"])
    return ckpt


def chain_totals(steps: int, seconds: float, origin: dict | None) -> tuple[int, int]:
    """Steps and wall seconds of a run plus every run it was warm-started from."""
    while origin is not None:
        steps += origin["steps"]
        seconds += origin["wall_seconds"]
        origin = origin.get("init_from")
    return steps, round(seconds)


def restoration_objective(restored: Tensor, degraded: Tensor, clean: Tensor, loss: str, cfg: TrainConfig) -> Tensor:
    """The restoration term of the loss for one batch (see ``TrainConfig.loss``)."""
    err = restored - clean
    if loss == "psnr":
        # -PSNR / 100 per sample: 0.1 * log10(MSE + 1e-4); the 1e-4 (40 dB) keeps nearly clean
        # samples from taking the whole gradient. Balanced already: no loss_balance weights.
        return (0.1 * torch.log10(err.square().mean(dim=(1, 2, 3)) + PSNR_FLOOR)).mean()
    per_sample = (err.square() if loss == "l2" else err.abs()).mean(dim=(1, 2, 3))
    if not cfg.loss_balance:
        return per_sample.mean()
    # Mild degradations (input error ~0.02) must count as much as severe ones (~0.25): the
    # benchmark averages PSNR over cases, and plain L1 is dominated by the severe.
    w = 1.0 / ((degraded - clean).abs().mean(dim=(1, 2, 3)) + cfg.balance_floor)
    return (per_sample * w / w.mean()).mean()


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
        if device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        params = list(self.model.parameters()) + (list(self.degrad.parameters()) if self.degrad else [])
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
        self.params = params
        self.step = 0
        self.elapsed = 0.0
        self.init_from: dict | None = None  # the warm-start chain, recorded in the shipped file
        self.g = torch.Generator(device="cpu").manual_seed(cfg.seed * 7919 + rank)
        self.gdev = torch.Generator(device=device).manual_seed(cfg.seed * 104729 + rank)
        self.sampler = PatchSampler(list_photos(data, "train"), cfg.patch, device, self.g)
        self.val = validation_set(list_photos(data, "val"), cfg.val_size, device) if rank == 0 else None
        self.fwd_model: nn.Module = self.model
        self.fwd_degrad = self.degrad
        if world > 1:
            self.fwd_model = nn.parallel.DistributedDataParallel(self.model, device_ids=[device.index])
            if self.degrad is not None:
                self.fwd_degrad = nn.parallel.DistributedDataParallel(self.degrad, device_ids=[device.index])
        if cfg.compile:
            self.fwd_model = torch.compile(self.fwd_model)

    # ----------------------------------------------------------------- checkpoints
    def save(self) -> None:
        if self.rank != 0:
            return
        ckpt = {
            "model": clean_state_dict(self.model.state_dict()),
            "degrad": clean_state_dict(self.degrad.state_dict()) if self.degrad else None,
            "opt": self.opt.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "train_config": json.dumps(asdict(self.cfg)),
            "g": self.g.get_state(),
            "gdev": self.gdev.get_state(),
        }
        if self.init_from is not None:
            ckpt["init_from"] = json.dumps(self.init_from)
        tmp = self.out / "last.pt.tmp"
        torch.save(ckpt, tmp)
        tmp.replace(self.out / "last.pt")

    def resume(self) -> bool:
        path = self.out / "last.pt"
        if not path.exists():
            return False
        ckpt = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(ckpt["model"])
        if self.degrad is not None and ckpt["degrad"] is not None:
            self.degrad.load_state_dict(ckpt["degrad"])
        self.opt.load_state_dict(ckpt["opt"])
        self.step = int(ckpt["step"])
        self.elapsed = float(ckpt.get("elapsed", 0.0))
        self.init_from = json.loads(ckpt["init_from"]) if "init_from" in ckpt else None
        self.g.set_state(ckpt["g"])
        self.gdev.set_state(ckpt["gdev"].cpu())
        log.info("resumed %s at step %d", path, self.step)
        return True

    def warm_start(self, path: Path) -> None:
        """Copy the weights of another run's checkpoint or a shipped file (fresh optimiser and schedule).

        Parameters the checkpoint lacks keep their initialisation; they must be zero-initialised
        additions (the affine head), so the warm-started network computes what the old one did.
        Estimator weights whose shape changed (a richer pooled input) are re-initialised: the
        head is refitted after training anyway (:mod:`restore.estimator_fit`).
        """
        if path.suffix == ".safetensors":
            ckpt = read_shipped(path)
        else:
            ckpt = torch.load(path, map_location=self.device, weights_only=True)
        self.init_from = warm_start_record(path, ckpt)
        for module, key in ((self.model, "model"), (self.degrad, "degrad")):
            if module is None or ckpt.get(key) is None:
                continue
            own = module.state_dict()
            src = {k: v for k, v in ckpt[key].items() if k in own}
            reshaped = [k for k, v in src.items() if v.shape != own[k].shape]
            if any(not k.startswith("estimator.") for k in reshaped):
                raise ValueError(f"{path}: shapes differ for {reshaped}; warm start needs the same backbone")
            for k in reshaped:
                del src[k]
            missing = [k for k in own if k not in src]
            module.load_state_dict(src, strict=False)
            log.info("warm start from %s (%s): %d tensors copied, kept the init of %s", path, key, len(src), missing)

    # ----------------------------------------------------------------- one step
    def losses(self, clean: Tensor, use: str = "both", progress: float = 0.0) -> tuple[Tensor, dict[str, float]]:
        """The loss of one batch. ``use``: "both" (joint), "restore" or "degrad" (alternating);
        ``progress``: the share of the schedule done (picks the restoration loss, see ``l1_from``)."""
        cfg = self.cfg
        loss = cfg.loss if progress < cfg.l1_from else "l1"
        d = sample(clean, self.gdev, p_mixture=cfg.p_mixture, p_clean=cfg.p_clean)
        deg, labels = d.image, d.labels
        cuda = self.device.type == "cuda"
        if cuda:
            deg = deg.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            kw = {}
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
            if self.fwd_degrad is not None and cfg.degrad_weight > 0 and use != "restore":
                pred = self.fwd_degrad(clean, aux["queries"])
                l_deg = F.l1_loss(pred.float(), deg.float())
                total = total + cfg.degrad_weight * l_deg
                stats["loss_degrad"] = l_deg.item()
        return total, stats

    def train_step(self, progress: float | None = None) -> dict[str, float]:
        cfg = self.cfg
        lr = lr_at(self.step, cfg, progress)
        for group in self.opt.param_groups:
            group["lr"] = lr
        clean = self.sampler(cfg.batch)
        use = "both"
        if cfg.alternate and self.degrad is not None:
            use = "restore" if self.step % 2 == 0 else "degrad"
        self.opt.zero_grad(set_to_none=True)
        done = progress if progress is not None else self.step / max(1, cfg.steps)
        loss, stats = self.losses(clean, use, done)
        loss.backward()
        gn = nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.opt.step()
        self.step += 1
        stats.update(loss=loss.item(), lr=lr, grad_norm=float(gn))
        return stats

    # ----------------------------------------------------------------- loop
    def fit(self, minutes: float | None = None) -> None:
        cfg = self.cfg
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
            if minutes is not None:
                progress = max(self.step / cfg.steps, self.elapsed / (minutes * 60))
            stats = self.train_step(progress)
            for k, v in stats.items():
                acc.setdefault(k, []).append(v)
            self.elapsed = time.perf_counter() - start
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{stats['loss_restore']:.4f}", lr=f"{stats['lr']:.1e}")
            if self.rank == 0 and self.step % cfg.log_every == 0:
                row = {"step": self.step, "time": round(self.elapsed, 1)}
                row.update({k: round(float(np.mean(v)), 6) for k, v in acc.items()})
                acc.clear()
                with open(log_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
            if self.rank == 0 and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                val = validate(self.model, self.val)
                with open(log_path, "a") as f:
                    f.write(json.dumps({"step": self.step, "time": round(self.elapsed, 1), "val": val}) + "\n")
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


def export(run: Path, name: str, out_dir: Path = WEIGHTS_DIR, *, half: bool = True) -> list[Path]:
    """Write a run's weights as shipped safetensors (``NAME.safetensors`` + NDR-Degrad's)."""
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    tcfg = load_train_config(None, **json.loads(ckpt["train_config"]))
    mcfg = model_config(tcfg)
    facts = {
        "steps": ckpt["step"],
        "batch": tcfg.batch,
        "patch": tcfg.patch,
        "wall_seconds": round(ckpt["elapsed"]),
        "train_config": json.loads(ckpt["train_config"]),
        "machine": os.environ.get("RESTORE_MACHINE", "unknown"),
        "estimator_refit": json.loads(ckpt["estimator_fit"]) if "estimator_fit" in ckpt else None,
    }
    if "init_from" in ckpt:
        origin = json.loads(ckpt["init_from"])
        facts["warm_started_from"] = origin
        facts["total_steps"], facts["total_wall_seconds"] = chain_totals(ckpt["step"], ckpt["elapsed"], origin)
    dtype = torch.float16 if half else None
    model = build_model(mcfg)
    model.load_state_dict(ckpt["model"])
    paths = [save_weights(model, out_dir / f"{name}.safetensors", mcfg, dtype=dtype, extra={"training": facts})]
    if ckpt.get("degrad") is not None:
        degrad = build_degrad(mcfg)
        degrad.load_state_dict(ckpt["degrad"])
        paths.append(
            save_weights(
                degrad,
                degrad_path(out_dir / f"{name}.safetensors"),
                mcfg,
                dtype=dtype,
                extra={"training": facts, "role": "ndr-degrad"},
            )
        )
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restore.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, help="YAML with the TrainConfig keys that differ from defaults")
    parser.add_argument("--data", type=Path, default=Path("data/photos"), help="folder with train/ and val/")
    parser.add_argument("--out", type=Path, default=Path("runs/default"), help="run folder (checkpoints, log)")
    parser.add_argument("--steps", type=int, help="override the number of steps")
    parser.add_argument("--minutes", type=float, help="stop (and save) after this much training time")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (overrides the config)")
    parser.add_argument(
        "--init",
        type=Path,
        metavar="CKPT",
        help="warm-start from another run's last.pt or a shipped NAME.safetensors (new run only)",
    )
    parser.add_argument("--export", type=Path, metavar="RUN", help="export RUN/last.pt to assets/weights and exit")
    parser.add_argument("--name", default="ndr-restore", help="shipped name for --export")
    parser.add_argument("--export-dir", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    if args.export:
        for p in export(args.export, args.name, args.export_dir):
            print(f"wrote {p} ({p.stat().st_size / 1e6:.2f} MB)")
        return 0

    cfg = load_train_config(args.config, steps=args.steps, threads=args.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if args.device:
        device = torch.device(args.device)
    else:
        device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    elif cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, args.data, args.out, device, rank, world)
    if not trainer.resume() and args.init:
        trainer.warm_start(args.init)
    trainer.fit(args.minutes)
    if world > 1:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
