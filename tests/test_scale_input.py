"""The known enlargement as a network input (``ModelConfig.scale_input``): the map, the warm start
that widens the first convolution, what training shows each sample and what inference tells."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from net_helpers import randomised
from PIL import Image

from restore import Restorer
from restore.models import build_model
from restore.models.backbone import scale_map
from restore.models.config import preset
from restore.training.config import load_train_config
from restore.training.heldout import heldout_crops, validate_heldout
from restore.training.run_files import warm_start_weights, widened
from restore.training.trainer import Trainer, synthesis_scale

SCALED = dataclasses.replace(preset("ndr-detail-tiny"), scale_input=True)


def flat_photos(root: Path) -> Path:
    """A photo folder (``train/`` and ``val/``, one flat grey photo each) for a Trainer to read."""
    photos = root / "photos"
    for split in ("train", "val"):
        (photos / split).mkdir(parents=True)
        Image.fromarray(np.full((48, 48, 3), 128, np.uint8)).save(photos / split / "a.png")
    return photos


class Spy(torch.nn.Module):
    """Wraps a network and records the keywords of every call (``forward`` and ``encode_tile``)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.cfg, self.calls = inner, inner.cfg, []

    def forward(self, x: torch.Tensor, **kw: object) -> tuple[torch.Tensor, dict]:
        self.calls.append(("forward", kw.get("scale")))
        return self.inner(x, **kw)

    def __getattr__(self, name: str) -> object:
        try:
            return super().__getattr__(name)
        except AttributeError:
            attr = getattr(self.inner, name)
            if name == "encode_tile":

                def recorded(img: torch.Tensor, **kw: object) -> object:
                    self.calls.append(("encode_tile", kw.get("scale")))
                    return attr(img, **kw)

                return recorded
            return attr


def test_the_scale_map_is_zero_when_nothing_is_known_and_grows_with_the_factor() -> None:
    img = torch.zeros(3, 1, 4, 5)
    assert scale_map(None, img).shape == (3, 1, 4, 5) and scale_map(None, img).abs().max() == 0
    got = scale_map(torch.tensor([1.0, 2.0, 4.0]), img)[:, 0, 0, 0]
    torch.testing.assert_close(got, torch.tensor([0.0, 1 / 3, 1.0]))


def test_a_scale_map_network_reads_the_factor_and_one_means_nothing_known() -> None:
    model = randomised(build_model(SCALED))
    assert model.unet.outer.embed.in_channels == 7  # image, noise map, scale map
    x = torch.rand(2, 3, 40, 44)
    with torch.no_grad():
        blind, _ = model(x)
        one, _ = model(x, scale=torch.ones(2))
        told, _ = model(x, scale=torch.tensor([2.0, 4.0]))
    torch.testing.assert_close(blind, one)
    assert (told - blind).abs().mean() > 1e-4
    with pytest.raises(ValueError, match="scale_input feeds the first detail level"):
        dataclasses.replace(preset("ndr-tiny"), scale_input=True)


def test_a_widened_first_convolution_warm_starts_to_the_old_network(tmp_path: Path) -> None:
    photos = flat_photos(tmp_path)
    kw = {"model": "ndr-detail-tiny", "patch": 32, "batch": 2}
    (tmp_path / "old").mkdir()
    old = Trainer(load_train_config(None, **kw), photos, tmp_path / "old", torch.device("cpu"))
    randomised(old.model)
    old.save()
    cfg = load_train_config(None, model_overrides={"scale_input": True}, **kw)
    trainer = Trainer(cfg, photos, tmp_path / "run", torch.device("cpu"))
    warm_start_weights(trainer, tmp_path / "old" / "last.pt")
    x = torch.rand(1, 3, 40, 44)
    with torch.no_grad():
        want, _ = old.model.eval()(x)
        got, _ = trainer.model.eval()(x, scale=torch.tensor([3.0]))
    torch.testing.assert_close(got, want)
    conv = torch.randn(4, 3, 3, 3)
    grown = widened(conv, torch.zeros(4, 5, 3, 3))
    assert grown.shape == (4, 5, 3, 3) and torch.equal(grown[:, :3], conv) and grown[:, 3:].abs().max() == 0
    assert widened(conv, torch.zeros(6, 5, 3, 3)) is conv, "only the input channels may grow"


def test_synthesis_scale_is_the_low_resolution_factor_and_one_elsewhere() -> None:
    types = ("noise", "lowres")
    labels = torch.tensor([[1.0, 0], [0, 1], [1, 1], [0, 0]])
    params = {"lowres": {"scale": torch.tensor([3.0, 1.5])}}
    torch.testing.assert_close(synthesis_scale(labels, params, types), torch.tensor([1.0, 3.0, 1.5, 1.0]))
    torch.testing.assert_close(synthesis_scale(labels, {}, types), torch.ones(4))


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_training_shows_low_resolution_samples_their_factor_as_often_as_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    photos = flat_photos(tmp_path)
    cfg = load_train_config(
        None, model="ndr-detail-tiny", model_overrides={"scale_input": True}, patch=32, batch=4, known_scale_share=share
    )
    trainer = Trainer(cfg, photos, tmp_path / "run", torch.device("cpu"))
    scales = torch.tensor([1.0, 2.0, 4.0, 1.0])
    batch = torch.rand(4, 3, 32, 32)
    monkeypatch.setattr(trainer, "degrade", lambda clean: (batch, torch.zeros(4, 6), torch.zeros(4), scales))
    spy = Spy(trainer.model)
    trainer.fwd_model = spy
    trainer.losses(torch.rand(4, 3, 32, 32))
    shown = spy.calls[0][1]
    torch.testing.assert_close(shown, scales if share == 1.0 else torch.ones(4))


def test_restore_tells_the_network_its_enlargement_whole_and_tile_by_tile() -> None:
    r = Restorer.from_config(SCALED, name="ndr-restore")
    spy = Spy(r.model)
    r.model = spy
    img = np.random.default_rng(0).integers(0, 255, (30, 36, 3), dtype=np.uint8)
    r.restore(img, upscale=2, refine=False)
    assert [float(s) for _, s in spy.calls] == [2.0]
    spy.calls.clear()
    r.restore(img, upscale=1, refine=False)
    assert spy.calls == [("forward", None)], "at 1x nothing is known"
    spy.calls.clear()
    r.restore(img, upscale=3, refine=False, tile=80, overlap=16)
    kinds = {k for k, _ in spy.calls}
    assert kinds == {"forward", "encode_tile"} and all(float(s) == 3.0 for _, s in spy.calls)
    plain = Restorer.from_config(preset("ndr-detail-tiny"), name="ndr-restore")
    plain.model = Spy(plain.model)
    plain.restore(img, upscale=2, refine=False)
    assert plain.model.calls == [("forward", None)], "a network without a scale map is not told"


def test_held_out_low_resolution_cases_tell_a_scale_map_network_their_factor(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "train").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(photos / "train" / f"p{i}.png")
    spy = Spy(randomised(build_model(SCALED)))
    validate_heldout(spy, heldout_crops(photos, count=2, size=32))
    told = [float(s[0]) for _, s in spy.calls if s is not None]
    assert sorted(set(told)) == [2.0, 4.0]  # lowres-x2 and lowres-x4
