"""A weight average ("soup") of runs that started from the same weights.

Two arms of the chain train side by side on this 2-core CPU, one core each, from the same shipped
file with different seeds or sampling odds. At the learning rates the chain uses (2e-5 falling to
5e-6) both stay in the basin of the weights they started from, so the average of their weights is a
network too, and often a better one than either (Wortsman et al., 2022, "Model soups"). The average
costs no training: a session's two arms give three candidates to score instead of two.

With ``--with-origin`` the arms' common origin (the shipped file they started from) joins the
average as one more member: the fine-tuned weights pulled part of the way back to where they
started (Wortsman et al., 2022, "Robust fine-tuning of zero-shot models"), which keeps more of what
a run lost on one type (the chain's recurring low-light loss) and less of what it gained.

``python -m restore.training.soup runs/chain19 runs/chain20 --out runs/soup19-20`` writes
``runs/soup19-20/last.pt`` (the averaged weights, no optimiser state); then
``python -m restore.training.chain --name ndr-restore --config <any of the arms' YAML> --minutes 0
--run runs/soup19-20 --benchmark`` exports it and judges it like any other link of the chain.

The soup's checkpoint records both arms: its steps and time are their sums, its origin is their
common one, and ``soup_of`` lists each arm's own record (:func:`soup_record`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import Tensor

from restore.training.run_files import final_weights, read_checkpoint, warm_start_record


def average_states(states: list[dict[str, Tensor]], what: str) -> dict[str, Tensor]:
    """The mean of state dicts with the same keys and shapes; integer tensors (permutations,
    counters) must be equal in all of them and are kept.

    Raises:
        ValueError: the keys, shapes or integer tensors differ (not the same network).
    """
    keys = set(states[0])
    for i, s in enumerate(states[1:], start=2):
        if set(s) != keys:
            diff = sorted(keys ^ set(s))[:5]
            raise ValueError(f"{what}: run {i} has other tensors than run 1 (e.g. {diff}): not the same network")
    out: dict[str, Tensor] = {}
    for k in states[0]:
        ts = [s[k] for s in states]
        if any(t.shape != ts[0].shape for t in ts):
            raise ValueError(f"{what}: {k} has shapes {[tuple(t.shape) for t in ts]}: not the same network")
        if ts[0].is_floating_point():
            out[k] = torch.stack([t.float() for t in ts]).mean(dim=0)
        elif all(torch.equal(t, ts[0]) for t in ts):
            out[k] = ts[0].clone()
        else:
            raise ValueError(f"{what}: the integer tensor {k} differs between runs; it cannot be averaged")
    return out


def _origin_key(origin: dict) -> tuple:
    return (origin["checkpoint"], origin["steps"], origin["wall_seconds"])


def soup_record(paths: list[Path], ckpts: list[dict]) -> dict:
    """The soup's warm-start record: the arms' summed steps and time, their common origin, and each
    arm's own record under ``soup_of``.

    Raises:
        ValueError: an arm trained from scratch, or the arms did not start from the same weights.
    """
    records = [warm_start_record(p, c) for p, c in zip(paths, ckpts, strict=True)]
    origins = [r["init_from"] for r in records]
    if any(o is None for o in origins):
        raise ValueError("a run trained from scratch shares no weights with another: a soup needs warm-started runs")
    if len({_origin_key(o) for o in origins}) != 1:
        raise ValueError(
            "a soup averages runs that started from the same weights; these started from "
            + ", ".join(str(o["checkpoint"]) for o in origins)
        )
    soup_of = [{k: v for k, v in r.items() if k != "init_from"} for r in records]
    return {
        "checkpoint": " + ".join(str(p) for p in paths) + " (weight average)",
        "steps": sum(r["steps"] for r in records),
        "wall_seconds": sum(r["wall_seconds"] for r in records),
        "train_config": records[0]["train_config"],
        "soup_of": soup_of,
        "init_from": origins[0],
    }


def origin_weights(origin: dict) -> dict:
    """The checkpoint-like dict of the weights a warm-start record names, checked to be those
    weights still (a shipped file is replaced when a run ships).

    Raises:
        ValueError: the file now holds other weights than the record's.
        FileNotFoundError: the file is gone.
    """
    path = Path(origin["checkpoint"])
    if not path.is_file():
        raise FileNotFoundError(f"the arms' origin {path} is gone")
    ckpt = read_checkpoint(path)
    if (int(ckpt["step"]), round(float(ckpt.get("elapsed", 0.0)))) != (origin["steps"], origin["wall_seconds"]):
        raise ValueError(
            f"{path} no longer holds the arms' origin ({ckpt['step']} steps, not {origin['steps']}): it was replaced"
        )
    return ckpt


def soup(runs: list[Path], out: Path, *, with_origin: bool = False) -> Path:
    """Average the weights each run's ``last.pt`` stands for (its weight average where it keeps
    one) and NDR-Degrad's, into ``out/last.pt``; returns that path. ``with_origin``: the runs'
    common origin is one more member of the average (one run is then enough).

    Raises:
        ValueError: too few members, an existing ``out/last.pt`` (never overwritten), runs that
            are not the same network from the same origin, or an origin file that was replaced.
        FileNotFoundError: a run without ``last.pt``, or a missing origin file.
    """
    if len(runs) + with_origin < 2:
        raise ValueError("a soup needs at least two runs (or one run and --with-origin)")
    target = out / "last.pt"
    if target.exists():
        raise ValueError(f"{target} exists; choose another --out (a soup never overwrites a run)")
    paths = [r / "last.pt" for r in runs]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found: each run needs its checkpoint")
    ckpts = [torch.load(p, map_location="cpu", weights_only=True) for p in paths]
    models = [json.loads(c["train_config"]) for c in ckpts]
    shapes = {(m["model"], json.dumps(m.get("model_overrides"), sort_keys=True)) for m in models}
    if len(shapes) != 1:
        raise ValueError(f"the runs train different networks: {sorted(shapes)}")
    record = soup_record(paths, ckpts)
    members = list(ckpts)
    if with_origin:
        members.append(origin_weights(record["init_from"]))
        record["soup_of"].append({"checkpoint": record["init_from"]["checkpoint"], "role": "origin"})
    degrads = [c.get("degrad") for c in members]
    ckpt = {
        "model": average_states([final_weights(c) for c in members], "model"),
        "degrad": average_states(degrads, "degrad") if all(d is not None for d in degrads) else None,
        "ema": None,
        "step": record["steps"],
        "elapsed": float(record["wall_seconds"]),
        "train_config": ckpts[0]["train_config"],
        "init_from": json.dumps(record["init_from"]),
        "soup_of": json.dumps(record["soup_of"]),
    }
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "last.pt.tmp"
    torch.save(ckpt, tmp)
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m restore.training.soup", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run folders with a last.pt, from the same origin")
    parser.add_argument("--out", type=Path, required=True, help="the new run folder for the soup")
    parser.add_argument(
        "--with-origin", action="store_true", help="the runs' common origin joins the average (one run is enough)"
    )
    args = parser.parse_args(argv)
    try:
        path = soup(args.runs, args.out, with_origin=args.with_origin)
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    print(f"wrote {path}; judge it with python -m restore.training.chain ... --minutes 0 --run {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
