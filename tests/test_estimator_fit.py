"""The post-hoc estimator refit learns separable labels and folds the standardisation exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from restore.models import build_model
from restore.models.config import preset
from restore.training.estimator_fit import fit_head, load_except_stale_estimator


def test_fit_head_learns_and_folds_scaling_into_the_first_layer() -> None:
    g = torch.Generator().manual_seed(0)
    n, f = 600, 12
    labels = torch.zeros(n, 6)
    kind = torch.randint(0, 6, (n,), generator=g)
    labels[torch.arange(n), kind] = 1.0
    # Features on wildly different scales, each type shifting its own feature: separable.
    x = torch.randn(n, f, generator=g) * torch.logspace(-3, 3, f)
    x[:, :6] += labels * torch.logspace(-3, 2, 6) * 4
    head = nn.Sequential(nn.Linear(f, 32), nn.GELU(), nn.Linear(32, 6))
    scores = fit_head(head, x, labels, epochs=60)
    assert scores["val_top1_single"] > 0.9
    # The folded head works on raw features: same predictions as on the training distribution.
    with torch.no_grad():
        acc = (head(x).argmax(1) == kind).float().mean().item()
    assert acc > 0.9


def test_a_changed_estimator_input_is_refitted_and_the_rest_loads_strictly() -> None:
    old = build_model(preset("dfpir-tiny", estimator_texture=False))
    new = build_model(preset("dfpir-tiny"))
    state = old.state_dict()
    assert load_except_stale_estimator(new, state) == ["estimator.net.0.weight"]
    assert all(torch.equal(v, state[k]) for k, v in new.state_dict().items() if k != "estimator.net.0.weight")
    assert load_except_stale_estimator(old, state) == [], "same config: nothing stale"
    backbone = next(k for k in state if not k.startswith("estimator."))
    del state[backbone]
    with pytest.raises(RuntimeError, match=backbone):
        load_except_stale_estimator(new, state)
