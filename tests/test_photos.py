"""Tests for restore.data.photos, .debian and .examples: offline, no apt, on small generated images."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore.data import debian, examples, photos
from restore.data.debian import Member


def _random_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _save(img: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


@pytest.mark.parametrize("shape", [(8, 12, 3), (9, 13, 3), (10, 6)])
def test_downsize_is_the_mean_of_2x2_blocks(shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    out = photos.downsize(img, 2)
    h, w = shape[0] // 2, shape[1] // 2
    assert out.shape == (h, w, *shape[2:])
    assert out.dtype == np.uint8
    blocks = img[: 2 * h, : 2 * w].astype(np.float64).reshape(h, 2, w, 2, *shape[2:]).mean(axis=(1, 3))
    assert np.abs(out.astype(np.float64) - blocks).max() <= 1.0


def test_downsize_factor_one_and_invalid() -> None:
    img = _random_image(5, 7)
    assert photos.downsize(img, 1) is img
    with pytest.raises(ValueError, match="positive integer"):
        photos.downsize(img, 0)
    with pytest.raises(ValueError, match="too small"):
        photos.downsize(img, 8)


def test_assign_splits_is_deterministic_and_keeps_at_least_one_val() -> None:
    names = [f"photo_{i:02d}" for i in range(25)]
    splits = photos.assign_splits(names)
    assert splits == photos.assign_splits(reversed(names))
    assert sum(s == "val" for s in splits.values()) == 2
    assert list(photos.assign_splits(["a", "b", "c"]).values()).count("val") == 1
    assert photos.assign_splits(["only"]) == {"only": "train"}


def _listing(*members: Member) -> dict[str, Member]:
    return {m.path: m for m in members}


def test_select_member_exact_other_extension_and_symlink() -> None:
    folder = "usr/share/wallpapers/Kite/contents/images"
    members = _listing(
        Member(f"{folder}/2560x1600.jpg", "file", 500),
        Member(f"{folder}/1920x1080.jpg", "symlink", target="2560x1600.jpg"),
        Member("usr/share/backgrounds/Dune.JPEG", "file", 10),
    )
    assert debian.select_member(members, f"./{folder}/2560x1600.jpg") == f"{folder}/2560x1600.jpg"
    assert debian.select_member(members, f"{folder}/1920x1080.jpg") == f"{folder}/2560x1600.jpg"
    assert debian.select_member(members, "usr/share/backgrounds/Dune.jpg") == "usr/share/backgrounds/Dune.JPEG"


def test_select_member_falls_back_to_largest_real_wallpaper() -> None:
    folder = "usr/share/wallpapers/Path/contents/images"
    members = _listing(
        Member(f"{folder}/1920x1200.jpg", "file", 900),
        Member(f"{folder}/3840x2400.jpg", "file", 800),
        Member(f"{folder}/5120x3200.jpg", "symlink", target="1920x1200.jpg"),
    )
    assert debian.select_member(members, f"{folder}/2560x1600.jpg") == f"{folder}/3840x2400.jpg"


def test_select_member_missing_lists_the_folder() -> None:
    members = _listing(Member("usr/share/backgrounds/Other.jpg", "file", 1))
    with pytest.raises(photos.ManifestMismatchError, match="Other.jpg"):
        debian.select_member(members, "usr/share/backgrounds/Storm.jpg")


def test_import_folder_splits_downsizes_and_is_idempotent(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    for i in range(12):
        _save(_random_image(20 + i, 30, seed=i), src / f"img{i:02d}.{('jpg', 'png', 'webp')[i % 3]}")
    _save(_random_image(16, 16, seed=99), src / "nested" / "deep.tif")
    summary = photos.import_folder(src, out)
    assert summary.counts == {"train": 12, "val": 1}
    assert summary.written == 13
    assert len(list(out.rglob("nested__deep.png"))) == 1
    with Image.open(next(out.rglob("img05.png"))) as im:
        assert im.size == (15, 12)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    again = photos.import_folder(src, out)
    assert again.written == 0
    assert again.counts == summary.counts
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == mtimes
    assert not list(out.rglob("*.part"))


def test_import_folder_rejects_name_clash_and_empty_folder(tmp_path: Path) -> None:
    _save(_random_image(8, 8), tmp_path / "a.jpg")
    _save(_random_image(8, 8), tmp_path / "a.png")
    with pytest.raises(photos.PhotoError, match="rename one"):
        photos.import_folder(tmp_path, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(photos.PhotoError, match="no images"):
        photos.import_folder(tmp_path / "empty", tmp_path / "out")


VAL_PHOTOS = {
    "Picture_0B_by_freespace": "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad",
    "picosdeeuropa_by_Aitzol_Berasategi": "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a",
    "seeding_by_Clements_Engelhardt": "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f",
}


def test_manifest_integrity() -> None:
    manifest = photos.load_manifest()
    entries = manifest["photos"]
    assert len(entries) >= 150
    assert len({e["name"] for e in entries}) == len(entries)
    assert len({e["sha256"] for e in entries}) == len(entries)
    # the validation split is frozen: the training chain compares scores on exactly these 3 photos
    assert {e["name"]: e["sha256"] for e in entries if e["split"] == "val"} == VAL_PHOTOS
    assert all(e["split"] in ("train", "val") for e in entries)
    for e in entries:
        assert e["package"] in manifest["packages"], e["name"]
        assert e["license"] and e["author"] and e["copyright"], e["name"]
        assert e["version"] == manifest["packages"][e["package"]]["version"]
        assert e["member"].startswith("usr/share/") and e["member"].endswith((".jpg", ".png")), e["name"]
        assert re.fullmatch(r"[0-9a-f]{64}", e["sha256"])
        assert min(e["width"], e["height"]) // manifest["scale"] >= 512, e["name"]
        assert re.fullmatch(r"[A-Za-z0-9._-]+", e["name"]), e["name"]
    for name, package in manifest["packages"].items():
        assert package["copyright_file"] == f"usr/share/doc/{name}/copyright"
        if "archive" in package:
            assert package["archive"] in manifest["archives"], name
    val = {e["name"] for e in entries if e["split"] == "val"}
    assert {source for _, source, _, _ in examples.EXAMPLE_CROPS} <= val


def test_apt_options_keep_another_archive_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(debian, "_run", lambda cmd, **_: calls.append(cmd) or "")
    monkeypatch.setattr(debian, "_UPDATED", set())
    archive = {"uri": "http://example.invalid/debian", "suite": "trixie", "components": "main", "keyring": "/k.gpg"}
    options = debian.apt_options("x", archive, tmp_path, {"x": archive})
    root = (tmp_path / ".apt" / "x").resolve()
    assert f"-oDir::State::Lists={root / 'lists'}" in options
    assert "signed-by=/k.gpg] http://example.invalid/debian trixie main" in (root / "sources.list").read_text()
    assert calls == [["apt-get", *options, "update"]]
    debian.apt_options("x", archive, tmp_path, {"x": archive})
    assert len(calls) == 1  # the lists are fetched once per process


def test_missing_apt_get_points_to_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(debian.shutil, "which", lambda _: None)
    with pytest.raises(photos.MissingToolError, match="--from"):
        debian.require_tools()
    with caplog.at_level(logging.ERROR, logger="restore.data.photos"):
        code = photos.main(["--out", str(tmp_path / "photos"), "--cache", str(tmp_path / "debs")])
    assert code != 0
    assert "apt-get" in caplog.text and "--from" in caplog.text
    assert not (tmp_path / "photos").exists()


def test_fetch_skips_present_photos_without_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian.shutil, "which", lambda _: None)
    manifest = {
        "packages": {"pkg": {"version": "1"}},
        "photos": [{"name": "p", "package": "pkg", "split": "val", "width": 8, "height": 6}],
    }
    _save(_random_image(3, 4), tmp_path / "train" / "p.png")
    summary = debian.fetch_packages(tmp_path, tmp_path / "debs", 2, manifest)
    assert summary.written == 0 and summary.counts == {"train": 0, "val": 1}
    assert (tmp_path / "val" / "p.png").is_file() and not (tmp_path / "train" / "p.png").exists()
    assert summary.pixels_before == 48 and summary.pixels_after == 12


def test_list_photos(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m restore\.data\.photos"):
        photos.list_photos(tmp_path, "train")
    with pytest.raises(ValueError, match="split"):
        photos.list_photos(tmp_path, "test")
    paths = [_save(_random_image(4, 4), tmp_path / "val" / n) for n in ("b.png", "a.png", "c.jpg")]
    (tmp_path / "val" / "notes.txt").write_text("not a photo")
    assert photos.list_photos(tmp_path, "val") == sorted(paths)


def test_make_examples_from_val_only(tmp_path: Path) -> None:
    manifest = photos.load_manifest()
    for i, name in enumerate({source for _, source, _, _ in examples.EXAMPLE_CROPS}):
        _save(_random_image(300, 400, seed=i), tmp_path / "photos" / "val" / f"{name}.png")
    written = examples.make_examples(tmp_path / "photos", tmp_path / "examples", manifest)
    assert len(written) == len(examples.EXAMPLE_CROPS)
    for path in written:
        with Image.open(path) as im:
            assert im.format == "JPEG" and max(im.size) == 640
    sources = (tmp_path / "examples" / "SOURCES.md").read_text()
    assert "CC-BY-4.0" in sources and all(p.name in sources for p in written)
    for entry in manifest["photos"]:
        entry["split"] = "train"
    with pytest.raises(photos.ManifestMismatchError, match="validation"):
        examples.make_examples(tmp_path / "photos", tmp_path / "examples", manifest)
