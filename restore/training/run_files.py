"""A training run's files: a trainer's checkpoint (save, resume, warm start), which weights a
checkpoint stands for, warm-start records, shipped files read back as checkpoints, and the
export of a run to shipped ``.safetensors``."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn

from restore.models import build_degrad, build_model
from restore.models.weights import clean_state_dict, degrad_path, read_metadata, read_state, save_weights
from restore.resources import package_assets
from restore.training.config import TrainConfig, load_train_config, model_config

log = logging.getLogger(__name__)


class TrainerState(Protocol):
    """What a checkpoint saves and restores of a trainer (a :class:`~restore.training.trainer.Trainer`;
    described here so that this module, which the trainer imports, needs nothing of it)."""

    cfg: TrainConfig
    out: Path
    device: torch.device
    rank: int
    model: nn.Module
    degrad: nn.Module | None
    ema: nn.Module | None
    opt: torch.optim.Optimizer
    step: int
    elapsed: float
    init_from: dict | None
    g: torch.Generator
    gdev: torch.Generator

    def start_average(self, state: dict[str, Tensor]) -> None: ...


def final_key(ckpt: dict) -> str:
    """Which entry of a checkpoint holds the weights it stands for: its average when it keeps one."""
    return "ema" if ckpt.get("ema") is not None else "model"


def final_weights(ckpt: dict) -> dict[str, Tensor]:
    """The restoration network's weights a checkpoint stands for (see :func:`final_key`)."""
    return ckpt[final_key(ckpt)]


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory where it lies under it (the repository, for the
    documented commands), so a record that travels with the shipped weights names no machine's
    folders; else as given (the soup reads its arms' origin back from the record)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def machine_name() -> str:
    """``RESTORE_MACHINE``, else the CPU's model name and core count (what exports record)."""
    named = os.environ.get("RESTORE_MACHINE")
    if named:
        return named
    model = next(
        (line.partition(":")[2].strip() for line in _cpuinfo_lines() if line.startswith("model name")), "unknown CPU"
    )
    return f"{model}, {os.cpu_count()} cores"


def _cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def warm_start_record(path: Path, ckpt: dict) -> dict:
    """What a warm-started run started from: the checkpoint's steps, time, recipe and its own origin."""
    return {
        "checkpoint": shown_path(path),
        "steps": int(ckpt["step"]),
        "wall_seconds": round(float(ckpt.get("elapsed", 0.0))),
        "train_config": json.loads(ckpt["train_config"]),
        "init_from": json.loads(ckpt["init_from"]) if "init_from" in ckpt else None,
    }


def read_shipped(path: Path) -> dict:
    """A shipped ``NAME.safetensors`` (+ ``NAME-degrad.safetensors``) as a checkpoint-like dict."""
    facts = json.loads(read_metadata(path).get("training", "null") or "null")
    if not facts:
        raise ValueError(
            f"{path} has no training facts in its metadata; not exported by `python -m restore.training --export`"
        )
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


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """A run's ``last.pt``, or a shipped ``.safetensors`` file read as one (:func:`read_shipped`)."""
    if path.suffix == ".safetensors":
        return read_shipped(path)
    return torch.load(path, map_location=device, weights_only=True)


def save_checkpoint(trainer: TrainerState) -> None:
    """Write a trainer's whole state to ``out/last.pt`` (rank 0 only), through a temporary file
    so that a run stopped mid-write keeps its previous checkpoint."""
    if trainer.rank != 0:
        return
    ckpt = {
        "model": clean_state_dict(trainer.model.state_dict()),
        "degrad": clean_state_dict(trainer.degrad.state_dict()) if trainer.degrad else None,
        "ema": clean_state_dict(trainer.ema.state_dict()) if trainer.ema is not None else None,
        "opt": trainer.opt.state_dict(),
        "step": trainer.step,
        "elapsed": trainer.elapsed,
        "train_config": json.dumps(asdict(trainer.cfg)),
        "g": trainer.g.get_state(),
        "gdev": trainer.gdev.get_state(),
    }
    if trainer.init_from is not None:
        ckpt["init_from"] = json.dumps(trainer.init_from)
    tmp = trainer.out / "last.pt.tmp"
    torch.save(ckpt, tmp)
    tmp.replace(trainer.out / "last.pt")


def resume_checkpoint(trainer: TrainerState) -> bool:
    """Restore a trainer's state from its ``out/last.pt``; False when the run has none yet."""
    path = trainer.out / "last.pt"
    if not path.exists():
        return False
    ckpt = torch.load(path, map_location=trainer.device, weights_only=True)
    trainer.model.load_state_dict(ckpt["model"])
    if trainer.degrad is not None and ckpt["degrad"] is not None:
        trainer.degrad.load_state_dict(ckpt["degrad"])
    if trainer.cfg.ema > 0 and ckpt.get("ema") is not None:
        trainer.start_average(ckpt["ema"])
    trainer.opt.load_state_dict(ckpt["opt"])
    trainer.step = int(ckpt["step"])
    trainer.elapsed = float(ckpt.get("elapsed", 0.0))
    trainer.init_from = json.loads(ckpt["init_from"]) if "init_from" in ckpt else None
    trainer.g.set_state(ckpt["g"].cpu())  # loaded onto the training device with the rest
    trainer.gdev.set_state(ckpt["gdev"].cpu())
    log.info("resumed %s at step %d", path, trainer.step)
    return True


def warm_start_weights(trainer: TrainerState, path: Path, rest: Path | None = None) -> None:
    """Copy the weights of another run's checkpoint or a shipped file (fresh optimiser and schedule).

    Parameters the checkpoint lacks keep their initialisation; they must be zero-initialised
    additions (the affine head), so the warm-started network computes what the old one did.
    Estimator weights whose shape changed (a richer pooled input) are re-initialised: the
    head is refitted after training anyway (:mod:`restore.training.estimator_fit`). A network with
    the gated tone head started from weights with the affine head takes that head's convolution as
    its tone maps (the same shape), so the tone the old body learned is kept where the layout moved it.
    A convolution that reads more input channels than the checkpoint's (a new input map, such as
    ``scale_input``'s, appended after the old ones) keeps the old weights on the old channels and
    zero on the new, so it too computes what the old network did until training moves it.

    ``rest``: a second checkpoint or shipped file for the restoration network's parameters that
    ``path`` lacks or holds in another shape (DFPIR on NDR-Restore's detail backbone takes its
    perturbation blocks and estimator from the shipped DFPIR this way); it fills nothing ``path``
    gives, except an estimator ``path`` holds in another shape, which comes whole from ``rest``.
    The run records ``rest`` beside ``path``.
    """
    ckpt = read_checkpoint(path, trainer.device)
    trainer.init_from = warm_start_record(path, ckpt)
    extra: dict[str, Tensor] = {}
    if rest is not None:
        extra = final_weights(read_checkpoint(rest, trainer.device))
        trainer.init_from["rest_from"] = shown_path(rest)
    for module, state in ((trainer.model, final_weights(ckpt)), (trainer.degrad, ckpt.get("degrad"))):
        if module is None or state is None:
            continue
        own = module.state_dict()
        for part in ("weight", "bias"):  # the affine head becomes the tone head's maps
            tone, affine = f"unet.tone.maps.{part}", f"unet.affine.{part}"
            if tone in own and tone not in state and affine in state:
                state = {**state, tone: state[affine]}
        src = {k: widened(v, own[k]) for k, v in state.items() if k in own}
        reshaped = [k for k, v in src.items() if v.shape != own[k].shape]
        if any(not k.startswith("estimator.") for k in reshaped):
            raise ValueError(f"{path}: shapes differ for {reshaped}; warm start needs the same backbone")
        for k in reshaped:
            del src[k]
        if module is trainer.model and extra:
            estimator = [k for k in own if k.startswith("estimator.")]
            if reshaped and all(k in extra and extra[k].shape == own[k].shape for k in estimator):
                for k in estimator:  # one estimator, whole: not half of each
                    src.pop(k, None)
            src.update({k: v for k, v in extra.items() if k in own and k not in src and v.shape == own[k].shape})
        missing = [k for k in own if k not in src]
        module.load_state_dict(src, strict=False)
        log.info("warm start from %s: %d tensors copied, kept the init of %s", path, len(src), missing)


def widened(old: Tensor, new: Tensor) -> Tensor:
    """``old`` zero-padded to ``new``'s shape where only its input channels (dim 1 of a 4-D
    convolution weight) grew, else ``old`` as it is."""
    if old.dim() != 4 or new.dim() != 4 or old.shape[1] >= new.shape[1]:
        return old
    if old.shape[0] != new.shape[0] or old.shape[2:] != new.shape[2:]:
        return old
    out = torch.zeros(new.shape, dtype=old.dtype, device=old.device)
    out[:, : old.shape[1]] = old
    return out


def chain_totals(steps: int, seconds: float, origin: dict | None) -> tuple[int, int]:
    """Steps and wall seconds of a run plus every run it was warm-started from."""
    while origin is not None:
        steps += origin["steps"]
        seconds += origin["wall_seconds"]
        origin = origin.get("init_from")
    return steps, round(seconds)


def export(run: Path, name: str, out_dir: Path | None = None, *, half: bool = True, degrad: bool = True) -> list[Path]:
    """Write a run's weights as shipped safetensors (``NAME.safetensors`` + NDR-Degrad's unless
    ``degrad`` is False: the in-progress file of a network in training is one file)."""
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    tcfg = load_train_config(None, **json.loads(ckpt["train_config"]))
    mcfg = model_config(tcfg)
    facts = {
        "steps": ckpt["step"],
        "batch": tcfg.batch,
        "patch": tcfg.patch,
        "wall_seconds": round(ckpt["elapsed"]),
        "train_config": json.loads(ckpt["train_config"]),
        "machine": machine_name(),
        "estimator_refit": json.loads(ckpt["estimator_fit"]) if "estimator_fit" in ckpt else None,
    }
    if "init_from" in ckpt:
        origin = json.loads(ckpt["init_from"])
        facts["warm_started_from"] = origin
        facts["total_steps"], facts["total_wall_seconds"] = chain_totals(ckpt["step"], ckpt["elapsed"], origin)
    if "soup_of" in ckpt:  # a weight average of several runs (restore.training.soup): each arm's record
        facts["soup_of"] = json.loads(ckpt["soup_of"])
    dtype = torch.float16 if half else None
    model = build_model(mcfg)
    model.load_state_dict(final_weights(ckpt))
    out_dir = out_dir if out_dir is not None else package_assets() / "weights"
    paths = [save_weights(model, out_dir / f"{name}.safetensors", mcfg, dtype=dtype, extra={"training": facts})]
    if degrad and ckpt.get("degrad") is not None:
        net = build_degrad(mcfg)
        net.load_state_dict(ckpt["degrad"])
        paths.append(
            save_weights(
                net,
                degrad_path(out_dir / f"{name}.safetensors"),
                mcfg,
                dtype=dtype,
                extra={"training": facts, "role": "ndr-degrad"},
            )
        )
    return paths
