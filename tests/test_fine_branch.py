"""The fine branch (ModelConfig.fine_width): a warm start from weights without it computes exactly
what they did, it really changes the output once trained, and tiled inference still matches."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from restore import Restorer
from restore.models import build_model
from restore.models.config import preset


@pytest.mark.parametrize("name", ["ndr-tiny", "dfpir-tiny", "plain-tiny"])
def test_a_zero_initialised_branch_keeps_the_old_network(name: str) -> None:
    torch.manual_seed(0)
    old = build_model(preset(name)).eval()
    new = build_model(preset(name, fine_width=8, fine_blocks=1)).eval()
    result = new.load_state_dict(old.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all(".fine." in k for k in result.missing_keys)
    x = torch.rand(2, 3, 40, 52)
    with torch.no_grad():
        assert torch.equal(old(x)[0], new(x)[0])
        torch.nn.init.normal_(new.unet.fine.out.weight, std=0.05)
        changed = new(x)[0]
    assert changed.shape == x.shape
    assert (changed - old(x)[0]).abs().mean() > 1e-4, "a trained branch adds its own residual"


def test_the_branch_reads_twice_the_first_level_resolution() -> None:
    cfg = preset("ndr-tiny", fine_width=8)  # unshuffle 2: the branch works at full resolution
    fine = build_model(cfg).unet.fine
    assert (fine.u, fine.v) == (2, 1) and fine.embed.in_channels == 3
    fine4 = build_model(dataclasses.replace(cfg, unshuffle=4)).unet.fine
    assert (fine4.u, fine4.v) == (4, 2) and fine4.embed.in_channels == 12


def test_the_branch_needs_an_even_unshuffle() -> None:
    with pytest.raises(ValueError, match="even unshuffle"):
        preset("ndr-tiny", unshuffle=1, fine_width=8)


def test_tiled_inference_runs_the_branch() -> None:
    base = Restorer.from_config(preset("ndr-tiny"), seed=3)
    model = build_model(preset("ndr-tiny", fine_width=8)).eval()
    model.load_state_dict(base.model.state_dict(), strict=False)
    fine = Restorer(model, preset("ndr-tiny", fine_width=8), name="fine")
    img = (np.random.default_rng(0).random((100, 130, 3)) * 255).astype(np.uint8)
    kw = {"tile": 64, "overlap": 16, "refine": False}
    assert np.array_equal(fine.restore(img, **kw), base.restore(img, **kw)), "a zero branch changes nothing"
    torch.nn.init.normal_(model.unet.fine.out.weight, std=0.05)
    assert not np.array_equal(fine.restore(img, **kw), base.restore(img, **kw)), "the tiled path runs the branch"


def test_weights_with_the_branch_round_trip(tmp_path) -> None:
    from restore.models.weights import load_weights, read_config, save_weights

    cfg = preset("dfpir-tiny", fine_width=8, fine_blocks=2)
    model = build_model(cfg).eval()
    path = tmp_path / "dfpir.safetensors"
    save_weights(model, path, cfg)
    assert read_config(path).fine_width == 8 and read_config(path).fine_blocks == 2
    again = load_weights(build_model(read_config(path)), path).eval()
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        assert torch.allclose(model(x)[0], again(x)[0])
