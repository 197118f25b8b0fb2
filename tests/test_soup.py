"""The weight average of two chain arms (restore.training.soup), on tiny runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from restore.models.weights import read_metadata, read_state
from restore.training import cli
from restore.training.run_files import export
from restore.training.soup import average_states, main, soup

TINY = Path(__file__).resolve().parent.parent / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def arms(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A shipped tiny file and two one-step arms warm-started from it with different seeds."""
    root = tmp_path_factory.mktemp("soup")
    photos = root / "photos"
    for split, n in (("train", 2), ("val", 1)):
        (photos / split).mkdir(parents=True)
        for i in range(n):
            rng = np.random.default_rng(10 * (split == "val") + i)
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(photos / split / f"p{i}.png")
    base = root / "base"
    assert (
        cli.main(["--config", str(TINY), "--data", str(photos), "--out", str(base), "--steps", "2", "--device", "cpu"])
        == 0
    )
    shipped = export(base, "ndr-restore", root / "weights")[0]
    runs = []
    for seed in (1, 2):
        cfg = yaml.safe_load(TINY.read_text()) | {"seed": seed, "ema": 0.5}
        (root / f"arm{seed}.yaml").write_text(yaml.safe_dump(cfg))
        out = root / f"arm{seed}"
        argv = ["--config", str(root / f"arm{seed}.yaml"), "--data", str(photos), "--out", str(out)]
        assert cli.main(argv + ["--steps", "2", "--device", "cpu", "--init", str(shipped)]) == 0
        runs.append(out)
    return shipped, runs[0], runs[1]


def test_soup_is_the_mean_of_what_each_run_stands_for(arms, tmp_path):
    shipped, a, b = arms
    path = soup([a, b], tmp_path / "soup")
    ckpt = torch.load(path, weights_only=True)
    ca, cb = (torch.load(r / "last.pt", weights_only=True) for r in (a, b))
    key = next(k for k, v in ca["ema"].items() if v.is_floating_point() and not torch.equal(v, cb["ema"][k]))
    assert torch.allclose(ckpt["model"][key], (ca["ema"][key] + cb["ema"][key]) / 2), "the runs' weight averages"
    assert not torch.equal(ckpt["model"][key], ca["model"][key])
    assert ckpt["step"] == ca["step"] + cb["step"] == 4
    record = json.loads(ckpt["init_from"])
    assert record["checkpoint"] == str(shipped), "the arms' common origin"
    assert [r["checkpoint"] for r in json.loads(ckpt["soup_of"])] == [str(a / "last.pt"), str(b / "last.pt")]

    # exported, it is a shipped file like any other, and its metadata names both arms
    files = export(tmp_path / "soup", "ndr-restore", tmp_path / "export")
    facts = json.loads(read_metadata(files[0])["training"])
    assert len(facts["soup_of"]) == 2 and facts["total_steps"] == 4 + 2
    assert set(read_state(files[0])) == set(read_state(shipped))


def test_soup_refuses_what_it_cannot_average(arms, tmp_path):
    shipped, a, b = arms
    with pytest.raises(ValueError, match="at least two"):
        soup([a], tmp_path / "one")
    soup([a, b], tmp_path / "done")
    with pytest.raises(ValueError, match="never overwrites"):
        soup([a, b], tmp_path / "done")
    with pytest.raises(FileNotFoundError, match="last.pt"):
        soup([a, tmp_path / "nothing"], tmp_path / "x")
    with pytest.raises(ValueError, match="integer tensor"):
        average_states([{"perm": torch.tensor([0, 1])}, {"perm": torch.tensor([1, 0])}], "model")
    with pytest.raises(ValueError, match="other tensors"):
        average_states([{"w": torch.zeros(2)}, {"v": torch.zeros(2)}], "model")
    assert torch.equal(
        average_states([{"perm": torch.tensor([0, 1])}, {"perm": torch.tensor([0, 1])}], "m")["perm"],
        torch.tensor([0, 1]),
    )
    with pytest.raises(SystemExit):  # the command line says why, and writes nothing
        main([str(a), str(tmp_path / "nothing"), "--out", str(tmp_path / "cli")])
    assert not (tmp_path / "cli" / "last.pt").exists()


def test_soup_refuses_runs_from_scratch(tmp_path, arms):
    shipped, a, _ = arms
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    ckpt = torch.load(a / "last.pt", weights_only=True)
    del ckpt["init_from"]
    torch.save(ckpt, scratch / "last.pt")
    with pytest.raises(ValueError, match="scratch"):
        soup([a, scratch], tmp_path / "s")


def test_soup_with_origin_pulls_an_arm_back_towards_its_start(arms, tmp_path):
    from restore.training.run_files import read_shipped

    shipped, a, _ = arms
    path = soup([a], tmp_path / "wise", with_origin=True)
    ckpt = torch.load(path, weights_only=True)
    arm, origin = torch.load(a / "last.pt", weights_only=True)["ema"], read_shipped(shipped)["model"]
    for k, v in ckpt["model"].items():
        if v.is_floating_point():
            assert torch.allclose(v, (arm[k].float() + origin[k].float()) / 2, atol=1e-6), k
    roles = json.loads(ckpt["soup_of"])
    assert roles[-1] == {"checkpoint": str(shipped), "role": "origin"} and len(roles) == 2
    assert json.loads(ckpt["init_from"])["checkpoint"] == str(shipped)

    # an origin file that a later ship replaced is not the origin any more
    moved = tmp_path / "moved"
    moved.mkdir()
    ck = torch.load(a / "last.pt", weights_only=True)
    record = json.loads(ck["init_from"])  # as if the arm had started from a file of 5 more steps
    ck["init_from"] = json.dumps({**record, "steps": record["steps"] + 5})
    torch.save(ck, moved / "last.pt")
    with pytest.raises(ValueError, match="replaced"):
        soup([moved], tmp_path / "bad", with_origin=True)
