"""A training run's files: which weights a checkpoint stands for, warm-start records, shipped files
read back as checkpoints, and the export of a run to shipped ``.safetensors``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import Tensor

from restore.models import build_degrad, build_model
from restore.models.weights import degrad_path, read_metadata, read_state, save_weights
from restore.resources import package_assets
from restore.training.config import load_train_config, model_config


def final_key(ckpt: dict) -> str:
    """Which entry of a checkpoint holds the weights it stands for: its average when it keeps one."""
    return "ema" if ckpt.get("ema") is not None else "model"


def final_weights(ckpt: dict) -> dict[str, Tensor]:
    """The restoration network's weights a checkpoint stands for (see :func:`final_key`)."""
    return ckpt[final_key(ckpt)]


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


def chain_totals(steps: int, seconds: float, origin: dict | None) -> tuple[int, int]:
    """Steps and wall seconds of a run plus every run it was warm-started from."""
    while origin is not None:
        steps += origin["steps"]
        seconds += origin["wall_seconds"]
        origin = origin.get("init_from")
    return steps, round(seconds)


def export(run: Path, name: str, out_dir: Path | None = None, *, half: bool = True) -> list[Path]:
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
    model.load_state_dict(final_weights(ckpt))
    out_dir = out_dir if out_dir is not None else package_assets() / "weights"
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
