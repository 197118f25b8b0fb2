"""Refit a run's degradation estimator head on the frozen, trained network.

``python -m restore.training.estimator_fit --run runs/ndr-small [--samples 4000]``

The estimator reads *detached* pooled features (NDR activations, or DFPIR's encoder features), so
it never changes what the network learns: fitting it again after training, on features of the
final network, is equivalent to training it jointly with converged features, and much cheaper
than the joint run's few thousand noisy steps. The features are standardised for the fit and the
standardisation is folded back into the first linear layer, so the architecture (and the file
format) stays the same. The run's ``last.pt`` is updated in place; what was done is recorded in it
and ends up in the exported weights' metadata.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.data.photos import list_photos
from restore.models import build_model
from restore.synthesis.registry import sample
from restore.synthesis.scenes import tone_scenes
from restore.training.config import load_train_config, model_config
from restore.training.patches import PatchSampler
from restore.training.run_files import final_key

log = logging.getLogger("restore.training.estimator_fit")


@torch.no_grad()
def collect(
    model: nn.Module,
    sampler: PatchSampler,
    generator: torch.Generator,
    n: int,
    batch: int,
    p_mixture: float,
    p_clean: float = 0.05,
    *,
    family_share: float = 0.0,
    exclude: Mapping[str, Sequence[str]] | None = None,
    scene_tone: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Estimator inputs ``(n, F)`` and multi-hot labels ``(n, T)`` over the model's types of freshly synthesised samples
    (a share ``p_clean`` of them left clean, labelled with no type).

    ``family_share``: the share of each batch drawn from the degradation families (the rest from
    the original synthesis), as the trainer's ``TrainConfig.family_share``; ``exclude`` as in
    ``restore.synthesis.registry.sample``. ``scene_tone``: the share of clean crops made a dark,
    bright or saturated scene first (:func:`restore.synthesis.scenes.tone_scenes`): labelled by
    what is done to them afterwards, they teach the head that a dark scene is not low light and a
    bright, flat one is not haze."""
    model.eval()
    feats, labels = [], []
    n_family = round(batch * family_share)
    while sum(len(f) for f in feats) < n:
        clean = sampler(batch)
        if scene_tone > 0.0:
            clean = tone_scenes(clean, generator, scene_tone)
        for part, families in ((clean[:n_family], True), (clean[n_family:], False)):
            if not part.shape[0]:
                continue
            d = sample(
                part,
                generator,
                p_mixture=p_mixture,
                p_clean=p_clean,
                types=model.cfg.types,
                families=families,
                exclude=exclude if families else None,
            )
            _, aux = model(d.image)
            feats.append(aux["estimator_input"].float().cpu())
            labels.append(d.labels.float().cpu())
    return torch.cat(feats)[:n], torch.cat(labels)[:n]


def fit_head(
    head: nn.Sequential, x: Tensor, y: Tensor, *, epochs: int = 400, lr: float = 3e-3, seed: int = 0
) -> dict[str, float]:
    """Train ``head`` (Linear, GELU, Linear) on standardised ``x``; fold the scaling into it.

    Returns held-out (15 %) BCE and top-1 accuracy on single-type samples.
    """
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    n_val = max(1, len(x) * 15 // 100)
    val, tr = perm[:n_val], perm[n_val:]
    mean, std = x[tr].mean(0), x[tr].std(0).clamp(min=1e-6)
    z = (x - mean) / std
    first, last = head[0], head[2]
    torch.manual_seed(seed)
    first.reset_parameters()
    last.reset_parameters()
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-3)
    for epoch in range(epochs):
        for idx in tr[torch.randperm(len(tr), generator=g)].split(256):
            opt.zero_grad(set_to_none=True)
            F.binary_cross_entropy_with_logits(head(z[idx]), y[idx]).backward()
            opt.step()
        for group in opt.param_groups:  # linear decay to 0
            group["lr"] = lr * (1 - (epoch + 1) / epochs)
    with torch.no_grad():
        logits = head(z[val])
        bce = F.binary_cross_entropy_with_logits(logits, y[val]).item()
        single = y[val].sum(1) == 1
        acc = (logits[single].argmax(1) == y[val][single].argmax(1)).float().mean().item()
        # Fold the standardisation into the first layer: W (x - m) / s + b = (W / s) x + (b - W m / s).
        w = first.weight / std
        first.bias.copy_(first.bias - w @ mean)
        first.weight.copy_(w)
    return {"val_bce": round(bce, 4), "val_top1_single": round(acc, 4), "samples": len(x)}


def load_except_stale_estimator(model: nn.Module, state: dict[str, Tensor]) -> list[str]:
    """Load ``state`` strictly, except estimator tensors whose shape the model's config changed
    (e.g. ``estimator_texture`` switched on after training): those keep their init, since the
    refit re-initialises the head anyway. Returns the names of the skipped tensors."""
    own = model.state_dict()
    stale = [k for k, v in state.items() if k.startswith("estimator.") and k in own and own[k].shape != v.shape]
    missing, unexpected = model.load_state_dict({k: v for k, v in state.items() if k not in stale}, strict=False)
    if unexpected or sorted(missing) != sorted(stale):
        raise RuntimeError(f"checkpoint does not match the model: missing {missing}, unexpected {unexpected}")
    if stale:
        log.info("estimator input changed since training (%s): fitting a fresh head", ", ".join(stale))
    return stale


def refit(
    run: Path,
    data: Path,
    samples: int,
    batch: int = 16,
    seed: int = 1,
    patch: int = 256,
    p_clean: float = 0.05,
    *,
    scene_tone: float | None = None,
    family_share: float | None = None,
) -> dict[str, float]:
    """Refit the estimator of ``run/last.pt`` in place; returns the held-out scores.

    ``patch``: side of the fitting crops. The app and the benchmark analyse views of 384-512 px,
    so the crops are larger than the training patches: the pooled statistics depend on the scale.
    ``p_clean``: share of clean crops, which teach the head that an undamaged photo has no type.
    ``scene_tone`` and ``family_share``: as in :func:`collect`; None takes the run's own
    (``TrainConfig.scene_tone``; ``family_share`` where it trained on the families, else 0).
    """
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    tcfg = load_train_config(None, **json.loads(ckpt["train_config"]))
    if scene_tone is None:
        scene_tone = tcfg.scene_tone
    if family_share is None:
        family_share = tcfg.family_share if tcfg.families else 0.0
    key = final_key(ckpt)  # refit the weights that ship
    model = build_model(model_config(tcfg))
    load_except_stale_estimator(model, ckpt[key])
    g = torch.Generator().manual_seed(seed)
    sampler = PatchSampler(list_photos(data, "train"), max(tcfg.patch, patch), torch.device("cpu"), g)
    x, y = collect(
        model,
        sampler,
        g,
        samples,
        batch,
        tcfg.p_mixture,
        p_clean,
        family_share=family_share,
        exclude=dict(tcfg.exclude_generators),
        scene_tone=scene_tone,
    )
    scores = fit_head(model.estimator.net, x, y, seed=seed)
    scores.update(p_clean=p_clean, seed=seed, scene_tone=scene_tone, family_share=family_share, patch=patch)
    ckpt[key] = model.state_dict()
    ckpt["estimator_fit"] = json.dumps(scores)
    tmp = run / "last.pt.tmp"
    torch.save(ckpt, tmp)
    tmp.replace(run / "last.pt")
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restore.training.estimator_fit", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--run", type=Path, required=True, help="run folder with last.pt")
    parser.add_argument("--data", type=Path, default=Path("data/photos"))
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--patch", type=int, default=256, help="side of the fitting crops (px)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the crops, their degradations and the fit")
    parser.add_argument("--p-clean", type=float, default=0.05, help="share of clean crops (labelled: no type)")
    parser.add_argument(
        "--scene-tone",
        type=float,
        help="share of crops given a dark, bright or saturated scene tone (default: the run's)",
    )
    parser.add_argument(
        "--family-share", type=float, help="share of each batch from the degradation families (default: the run's)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    scores = refit(
        args.run,
        args.data,
        args.samples,
        seed=args.seed,
        patch=args.patch,
        p_clean=args.p_clean,
        scene_tone=args.scene_tone,
        family_share=args.family_share,
    )
    print(
        f"{args.run}: estimator refit on {scores['samples']} samples: held-out BCE {scores['val_bce']:.3f}, "
        f"top-1 on single types {100 * scores['val_top1_single']:.1f} %"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
