"""``python -m restore.training``: train, resume or export a run (the loop is :mod:`restore.training.trainer`).

Usage::

    python -m restore.training --config configs/ndr-small.yaml --data data/photos --out runs/ndr-small
    torchrun --nproc_per_node 4 -m restore.training --config configs/ndr-small.yaml --out runs/ndr4
    python -m restore.training --export runs/ndr-small --name ndr-restore   # -> restore/assets/weights/
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch
import torch.distributed as dist

from restore.models.weights import read_state
from restore.resources import package_assets
from restore.training.config import load_train_config
from restore.training.run_files import export
from restore.training.trainer import Trainer

log = logging.getLogger("restore.training.cli")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restore.training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="YAML with the TrainConfig keys that differ from defaults")
    parser.add_argument("--data", type=Path, default=Path("data/photos"), help="folder with train/ and val/")
    parser.add_argument("--out", type=Path, default=Path("runs/default"), help="run folder (checkpoints, log)")
    parser.add_argument("--steps", type=int, help="override the number of steps")
    parser.add_argument("--minutes", type=float, help="stop (and save) after this much training time")
    parser.add_argument(
        "--schedule-minutes", type=float, help="where the learning-rate schedule ends (default: --minutes)"
    )
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (overrides the config)")
    parser.add_argument(
        "--init",
        type=Path,
        metavar="CKPT",
        help="warm-start from another run's last.pt or a shipped NAME.safetensors (new run only)",
    )
    parser.add_argument(
        "--export", type=Path, metavar="RUN", help="export RUN/last.pt to restore/assets/weights and exit"
    )
    parser.add_argument(
        "--init-degrad",
        type=Path,
        metavar="FILE",
        help="NDR-Degrad's weights for a warm start whose --init has none (e.g. the in-progress file): "
        "a shipped NAME-degrad.safetensors",
    )
    parser.add_argument(
        "--init-rest",
        type=Path,
        metavar="FILE",
        help="with --init: a second checkpoint or shipped file for the parameters --init lacks "
        "(DFPIR's perturbation blocks and estimator when --init is NDR-Restore's detail backbone)",
    )
    parser.add_argument("--name", default="ndr-restore", help="shipped name for --export")
    parser.add_argument(
        "--no-degrad", action="store_true", help="--export the restoration network alone (the in-progress file)"
    )
    parser.add_argument("--export-dir", type=Path, default=package_assets() / "weights")
    args = parser.parse_args(argv)
    if args.init_rest and not args.init:
        parser.error("--init-rest fills what --init lacks: give --init too")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    if args.export:
        for p in export(args.export, args.name, args.export_dir, degrad=not args.no_degrad):
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
        trainer.warm_start(args.init, args.init_rest)
        if args.init_degrad and trainer.degrad is not None:
            trainer.degrad.load_state_dict({k: v.float() for k, v in read_state(args.init_degrad).items()})
            log.info("NDR-Degrad from %s", args.init_degrad)
    trainer.fit(args.minutes, args.schedule_minutes)
    if world > 1:
        dist.destroy_process_group()
    return 0
