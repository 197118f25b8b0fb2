"""The app's handlers (``studio.restore_tab``, ``studio.playground``) called directly, and its named
endpoints through gradio_client.

Tiny random-weight models (``studio_env``) stand in for the shipped weights, so these tests check
behaviour (shapes, errors, determinism, what each view shows), not restoration quality.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import gradio as gr
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image
from studio_env import EXAMPLE, ROOT, free_port, single_thread_torch, studio_app, studio_demo

from restore import DEGRADATION_TYPES
from restore.images import load_image


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    with single_thread_torch():
        yield


@pytest.fixture(scope="module")
def app() -> ModuleType:
    return studio_app()


@pytest.fixture(scope="module")
def studio(app: ModuleType) -> ModuleType:
    """The Restore tab's and the shared callbacks (``studio.restore_tab``, ``studio.common``,
    ``studio.inside``) in one namespace, as ``app`` wires them (with the test models)."""
    ns = ModuleType("studio_callbacks")
    for name in ("studio.common", "studio.inside", "studio.restore_tab"):
        ns.__dict__.update({k: v for k, v in vars(importlib.import_module(name)).items() if not k.startswith("__")})
    return ns


@pytest.fixture(scope="module")
def playground(app: ModuleType) -> ModuleType:
    """The Playground's callbacks, ``studio.playground``, as ``app`` imported them."""
    return importlib.import_module("studio.playground")


@pytest.fixture(scope="module")
def events(app: ModuleType) -> ModuleType:
    """The page's event plumbing, ``ui.events`` (``handler``: studio -> Gradio)."""
    return importlib.import_module("ui.events")


@pytest.fixture(scope="module")
def handlers(app: ModuleType) -> ModuleType:
    """The callbacks as the page wires them, ``ui.handlers`` (each through ``ui.events.handler``)."""
    return importlib.import_module("ui.handlers")


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small crop of an example photo (keeps every call fast on two CPU cores)."""
    path = tmp_path_factory.mktemp("img") / "photo.png"
    Image.open(EXAMPLE).convert("RGB").crop((200, 150, 328, 246)).save(path)  # 128x96
    return path


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "holiday.png"
    path.write_text("definitely not a PNG\n")
    return path


def _title(fig: Figure) -> str:
    return " ".join([fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)])


# --------------------------------------------------------------------------- restore tab


def test_models_come_from_the_test_weights(studio: ModuleType) -> None:
    assert studio.model_names() == ["ndr-restore", "dfpir"]
    assert studio.get_model("ndr-restore") is studio.get_model("ndr-restore")  # loaded once, shared
    assert studio.get_model("dfpir").estimator is studio.get_model("ndr-restore")  # its lender is the app's copy


def test_load_upload_accepts_every_payload(studio: ModuleType, photo: Path) -> None:
    import base64

    expected = load_image(photo)
    data_url = "data:image/png;base64," + base64.b64encode(photo.read_bytes()).decode()
    for payload in (str(photo), {"path": str(photo)}, {"path": None, "url": data_url}, expected):
        np.testing.assert_array_equal(studio.load_upload(payload), expected)


def test_restore_upscales_and_writes_the_full_resolution_png(studio: ModuleType, photo: Path) -> None:
    (before, after), png, info = studio.restore_image({"path": str(photo)}, "ndr-restore", 2, 100, 0, 32)
    assert before.shape == after.shape == (192, 256, 3)
    np.testing.assert_array_equal(load_image(png), after)
    assert Path(png).name == "photo_restored.png"  # the upload's own name
    assert "128x96 → 256x192" in info and "ndr-restore" in info and " s" in info
    assert Path(studio.restore_image(load_image(photo), "ndr-restore")[1]).name == "image_restored.png"


def test_restore_strength_zero_returns_the_input(studio: ModuleType, photo: Path) -> None:
    (before, after), _, _ = studio.restore_image(str(photo), "ndr-restore", 1, 0, 0, 32)
    np.testing.assert_array_equal(after, load_image(photo))
    np.testing.assert_array_equal(before, after)


def test_restore_tiles_and_reports_them(studio: ModuleType, photo: Path) -> None:
    whole = studio.restore_image(str(photo), "ndr-restore", 1, 100, 0, 16)[0][1]
    (_, tiled), _, info = studio.restore_image(str(photo), "ndr-restore", 1, 100, 64, 16)
    assert "(6 tiles" in info  # 128x96 in 64-px tiles overlapping by 16: 3 x 2
    assert tiled.shape == whole.shape


def test_restore_bad_inputs_raise_clear_errors(studio: ModuleType, photo: Path, corrupt: Path, monkeypatch) -> None:
    with pytest.raises(studio.UserError, match="Add an image first"):
        studio.restore_image(None, "ndr-restore")
    with pytest.raises(studio.UserError, match="holiday.png is not an image"):
        studio.restore_image({"path": str(corrupt)}, "ndr-restore")
    with pytest.raises(studio.UserError, match="Unknown model 'nope'"):
        studio.restore_image(str(photo), "nope")
    with pytest.raises(studio.UserError, match="overlap of 64 px is too large for 64-px tiles: it can be at most 28"):
        studio.restore_image(str(photo), "ndr-restore", 1, 100, 64, 64)
    with pytest.raises(studio.UserError, match="strength must be between 0 and 100 %, got 150"):
        studio.restore_image(str(photo), "ndr-restore", 1, 150)
    with pytest.raises(studio.UserError, match="is a folder"):
        studio.restore_image(str(photo.parent), "ndr-restore")
    monkeypatch.setenv("RESTORE_MAX_MEGAPIXELS", "0.005")
    with pytest.raises(studio.UserError, match=r"128x96 \(0.0 megapixels\).*RESTORE_MAX_MEGAPIXELS"):
        studio.restore_image(str(photo), "ndr-restore")
    monkeypatch.setenv("RESTORE_MAX_MEGAPIXELS", "0.1")
    with pytest.raises(studio.UserError, match="the 4x result is 512x384.*smaller upscale"):
        studio.restore_image(str(photo), "ndr-restore", 4)


def test_no_weights_gives_a_clear_message(studio: ModuleType, photo: Path, monkeypatch) -> None:
    monkeypatch.setattr(importlib.import_module("studio.common"), "model_names", lambda: [])
    with pytest.raises(studio.UserError, match="No trained weights"):
        studio.restore_image(str(photo), None)
    assert studio.atlas_figures(None)[2] == studio.NO_MODEL


def test_explain_plots(studio: ModuleType, photo: Path) -> None:
    probs, weights, where = studio.explain_image(str(photo), "ndr-restore")
    assert "Detected degradations" in _title(probs)
    assert len(weights.axes) == 3 and "per scale" in _title(weights)
    assert "dominant atoms" in _title(where)
    assert studio.explain_image(str(photo), "dfpir")[1:] == (None, None)  # no NDR dictionary in DFPIR


def test_compare_two_models_and_one(studio: ModuleType, photo: Path, monkeypatch) -> None:
    (left, right), info = studio.compare_models(str(photo))
    assert left.shape == right.shape == (96, 128, 3)
    assert "| **ndr-restore** |" in info and "| left |" in info and "| **dfpir** |" in info and "| right |" in info
    assert studio.compare_sides(["ndr-restore", "dfpir"]) == ("ndr-restore", "dfpir")
    assert studio.compare_sides(["ndr-restore"]) == ("input", "ndr-restore")
    monkeypatch.setattr(importlib.import_module("studio.restore_tab"), "model_names", lambda: ["ndr-restore"])
    (left, right), info = studio.compare_models(str(photo), 2)
    assert "Only ndr-restore has weights here" in info
    assert left.shape == right.shape == (192, 256, 3)


def test_settings_are_checked_in_the_units_the_user_sees(studio: ModuleType) -> None:
    assert studio.check_settings(2, 50, 0, 32) == (2, 50.0, 0, 32)
    assert studio.check_settings("4", "12.5", "128", "56") == (4, 12.5, 128, 56)
    bad = [
        ((1, 1.5e2, 0, 32), "strength must be between 0 and 100 %"),
        ((1, float("nan"), 0, 32), "strength must be between 0 and 100 %"),
        ((5, 100, 0, 32), "upscale must be"),
        ((1, 100, 32, 0), "at least 64 px"),
        ((1, 100, 128, 61), "at most 60 px"),
        ((1, 100, 0, -8), "tile overlap must be"),
        ((1, 100, 0, True), "tile overlap must be"),
    ]
    for args, message in bad:
        with pytest.raises(studio.UserError, match=message):
            studio.check_settings(*args)
    with pytest.raises(studio.UserError, match="the automatic 768-px tiles: it can be at most 380 px"):
        studio.check_settings(1, 100, 0, 400, (2000, 2000))


def _noisy(photo: Path, folder: Path) -> Path:
    """The photo with white noise of sigma 20 added (seeded), as a PNG in ``folder``."""
    img = load_image(photo).astype(np.float64) + np.random.default_rng(0).normal(0, 20, (96, 128, 3))
    path = folder / "noisy.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def _high_frequency_energy(img: np.ndarray) -> float:
    """The mean squared Laplacian of the grey image: what smoothing lowers."""
    x = img.astype(np.float64).mean(-1)
    return float(np.mean((4 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]) ** 2))


def test_the_noise_estimate_shown_is_the_restorers(studio: ModuleType, photo: Path, corrupt: Path, tmp_path) -> None:
    noisy = _noisy(photo, tmp_path)
    r = studio.get_model("ndr-restore")
    for path, upscale in ((photo, 1), (noisy, 1), (noisy, 2)):
        estimate = r.noise_estimate(load_image(path), upscale=upscale)
        label, value = studio.noise_estimate({"path": str(path)}, "ndr-restore", upscale)
        assert label == f"Noise level: auto (estimate {estimate:.1f})"
        assert value == round(estimate * 2) / 2 and abs(value - estimate) <= 0.25  # on the slider's 0.5 steps
    assert 15 < r.noise_estimate(load_image(noisy)) < 25
    # no estimate, and no error on upload: Restore refuses these with its own message
    assert studio.noise_estimate(None, "ndr-restore") == ("Noise level: auto", None)
    assert studio.noise_estimate({"path": str(corrupt)}, "ndr-restore") == ("Noise level: auto", None)
    assert corrupt.exists()  # a refused upload stays until Restore says why
    assert studio.noise_estimate(str(photo), "nope") == ("Noise level: auto", None)


def test_the_estimate_as_the_noise_level_gives_the_automatic_result(studio: ModuleType, photo: Path, tmp_path) -> None:
    for path in (photo, _noisy(photo, tmp_path)):
        estimate = studio.get_model("ndr-restore").noise_estimate(load_image(path))
        (_, auto), _, info = studio.restore_image(str(path), "ndr-restore", 1, 100, 0, 32, True)
        (_, given), _, mine = studio.restore_image(str(path), "ndr-restore", 1, 100, 0, 32, True, False, estimate)
        np.testing.assert_array_equal(given, auto)
        (_, ignored), _, _ = studio.restore_image(str(path), "ndr-restore", 1, 100, 0, 32, True, True, 80)
        np.testing.assert_array_equal(ignored, auto)  # the slider is read only with auto off
        assert "Wiener refinement on (estimated noise:" in info and "Noise level" not in info  # no noise map
        assert f"Noise level {estimate:.1f} grey levels (yours). Wiener refinement on (noise from your level:" in mine


def test_a_higher_noise_level_smooths_more(studio: ModuleType, photo: Path, tmp_path) -> None:
    # The test models' random networks do not read the level; the Wiener refinement does: the
    # higher the level, the more of each of the input's coefficients it takes for noise.
    noisy = str(_noisy(photo, tmp_path))

    def energy(*noise: object) -> float:
        return _high_frequency_energy(studio.restore_image(noisy, "ndr-restore", 1, 100, 0, 32, True, *noise)[0][1])

    auto = energy()
    assert energy(False, 60) < 0.6 * auto and energy(False, 5) > auto, (energy(False, 60), auto, energy(False, 5))
    off = studio.restore_image(noisy, "ndr-restore", 1, 100, 0, 32, False, False, 60)[0][1]
    np.testing.assert_array_equal(off, studio.restore_image(noisy, "ndr-restore", 1, 100, 0, 32, False)[0][1])
    (left, right), _ = studio.compare_models(noisy, 1, 100, 0, 32, True, False, 60)
    assert _high_frequency_energy(left) < 0.6 * _high_frequency_energy(studio.compare_models(noisy)[0][0])


def test_the_noise_level_is_checked(studio: ModuleType, photo: Path) -> None:
    assert studio.check_noise(True, 500) is None and studio.check_noise(None, "junk") is None  # auto: not read
    assert studio.check_noise(False, 12.5) == 12.5 and studio.check_noise(False, "40") == 40.0
    for level in (150, -1, float("nan"), "lots", None):
        with pytest.raises(studio.UserError, match="noise level must be between 0 and 100 grey levels"):
            studio.check_noise(False, level)
    with pytest.raises(studio.UserError, match="noise level auto must be true or false, got 'no'"):
        studio.check_noise("no", 10)
    with pytest.raises(studio.UserError, match="noise level must be between 0 and 100 grey levels, got 101"):
        studio.restore_image(str(photo), "ndr-restore", 1, 100, 0, 32, True, False, 101)


def test_the_auto_checkbox_shows_the_estimate_and_the_slider_follows_it(handlers: ModuleType, photo: Path) -> None:
    label, value = importlib.import_module("studio.restore_tab").noise_estimate(str(photo), "ndr-restore", 1)
    checkbox, slider = handlers.noise_estimate_shown(str(photo), "ndr-restore", 1, True)
    assert isinstance(checkbox, gr.Checkbox) and checkbox.label == label and "(estimate " in label
    assert isinstance(slider, gr.Slider) and slider.value == value
    checkbox, slider = handlers.noise_estimate_shown(str(photo), "ndr-restore", 1, False)
    assert checkbox.label == label and not isinstance(slider, gr.Slider)  # the user's level stays
    (event,) = [fn for fn in studio_demo().fns.values() if fn.name == "noise_estimate_shown"]
    assert [e for _, e in event.targets] == ["change", "change"]  # on upload and when the upscale changes
    assert [b.label for b in event.inputs] == ["Your photo", "Model", "Upscale", "Noise level: auto"]
    assert event.outputs[0] is event.inputs[3] and event.api_visibility == "private"


# --------------------------------------------------------------------------- playground


def test_recipe_from_controls(app: ModuleType, playground: ModuleType) -> None:
    with gr.Blocks():
        controls = importlib.import_module("ui.playground_tab").build_playground_tab(["ndr-restore"])
    defaults = [c.value for c in controls]
    assert len(defaults) == len(playground.CONTROLS)
    assert playground.recipe_from_controls(*defaults) == {
        "noise": {"sigma": 25.0, "signal": 0.0, "kind": 0.0, "quality": 50.0}  # kind 0: the original generator
    }
    flipped = [not v if p is None else v for (_, p), v in zip(playground.CONTROLS, defaults, strict=True)]
    assert set(playground.recipe_from_controls(*flipped)) == set(DEGRADATION_TYPES) - {"noise"}


def test_random_degradation_is_seeded(playground: ModuleType) -> None:
    values = playground.recipe_for_seed(7)
    assert values == playground.recipe_for_seed(7)
    assert playground.recipe_from_controls(*values[:-1]) == {
        t: {k: float(v) for k, v in p.items()} for t, p in values[-1].items()
    }
    seed, *rest = playground.random_degradation()
    assert rest == playground.recipe_for_seed(seed)


def test_degrade_is_deterministic_and_scored(playground: ModuleType, photo: Path) -> None:
    recipe = {"noise": {"sigma": 30}, "haze": {}}
    (clean, degraded), table = playground.degrade(str(photo), recipe, 3)
    np.testing.assert_array_equal(clean, load_image(photo))
    assert degraded.shape == clean.shape and not np.array_equal(degraded, clean)
    np.testing.assert_array_equal(playground.degrade(str(photo), recipe, 3)[0][1], degraded)
    assert not np.array_equal(playground.degrade(str(photo), recipe, 4)[0][1], degraded)
    assert "PSNR" in table and "SSIM" in table


def test_degrade_rejects_bad_recipes(playground: ModuleType, photo: Path) -> None:
    with pytest.raises(playground.UserError, match="unknown degradation 'snow'"):
        playground.degrade(str(photo), {"snow": {}}, 0)
    with pytest.raises(playground.UserError, match="outside its range"):
        playground.degrade(str(photo), {"noise": {"sigma": 500}}, 0)
    with pytest.raises(playground.UserError, match="Tick at least one"):
        playground.degrade(str(photo), {}, 0)
    with pytest.raises(playground.UserError, match="must be a JSON object"):
        playground.degrade(str(photo), ["noise"], 0)
    with pytest.raises(playground.UserError, match="seed must be a whole number between 0 and 4294967295"):
        playground.degrade(str(photo), {"noise": {}}, -3)


def test_tiny_images_skip_ssim_with_a_note(playground: ModuleType) -> None:
    for shape in ((1, 1, 3), (3, 2, 3), (1, 768, 3)):
        img = np.full(shape, 120, np.uint8)
        (clean, degraded), table = playground.degrade(img, {"noise": {"sigma": 20}}, 0)
        assert clean.shape == degraded.shape == shape
        assert "| n/a |" in table and f"SSIM skipped: it needs at least 11x11 px and this image is {shape[1]}x" in table
        metrics = playground.degrade_and_restore(img, {"blur": {}}, 0, "ndr-restore")[4]
        assert "restored (ndr-restore)" in metrics and "SSIM skipped" in metrics
    assert "SSIM skipped" not in playground.degrade(np.zeros((11, 11, 3), np.uint8), {"noise": {}}, 0)[1]


def test_playground_shrinks_large_photos(playground: ModuleType) -> None:
    big = np.zeros((1000, 2000, 3), np.uint8)
    (clean, degraded), _ = playground.degrade(big, {"lowres": {"scale": 2}}, 0)
    assert clean.shape == degraded.shape == (384, playground.PLAYGROUND_SIDE, 3)


def test_degrade_and_restore(playground: ModuleType, photo: Path) -> None:
    clean, degraded, restored, pair, metrics, detected, views = playground.degrade_and_restore(
        str(photo), {"noise": {"sigma": 25}}, 0, "ndr-restore"
    )
    assert clean.shape == degraded.shape == restored.shape
    assert pair[0] is degraded and pair[1] is restored
    assert "gain (dB)" in metrics and "restored (ndr-restore)" in metrics
    assert "OpenCV NL-means" in metrics  # the classical baseline for noise
    assert "**True:** noise" in metrics
    assert "(true)" in " ".join(t.get_text() for t in detected.axes[0].get_yticklabels())
    assert playground.compare_with(True, views)[0] is clean
    assert playground.compare_with(False, views)[0] is degraded
    assert playground.compare_with(False, None) is None
    rain = playground.degrade_and_restore(str(photo), {"rain": {}}, 0, "dfpir")[4]
    assert "no classical method for rain" in rain


# --------------------------------------------------------------------------- inside the model


def test_atlas_views(studio: ModuleType) -> None:
    heat, sim, note = studio.atlas_figures("ndr-restore")
    assert "atlas" in _title(heat).lower() and len(heat.axes) == 4  # 3 scales + colour bar
    assert "similar" in _title(sim)
    assert "3 synthesised samples" in note and "older" not in note
    assert studio.atlas_figures("dfpir")[:2] == (None, None)


def test_analyze(studio: ModuleType, photo: Path) -> None:
    probs, pca, weights, where = studio.analyze(str(photo), "ndr-restore")
    assert set(probs) == set(DEGRADATION_TYPES) and all(0 <= p <= 1 for p in probs.values())
    labels = [t.get_text() for t in pca.axes[0].get_legend().get_texts()]
    assert "your image" in labels and "noise" in labels
    assert isinstance(weights, Figure) and isinstance(where, Figure)
    probs, pca, weights, where = studio.analyze(str(photo), "dfpir")
    assert pca is None and weights is None


def test_a_clean_photo_reads_as_no_clear_degradation(studio: ModuleType) -> None:
    clean = {"noise": 0.1, "rain": 0.01, "haze": 0.05, "blur": 0.2, "lowres": 0.02, "lowlight": 0.03}
    verdict = studio.verdict(clean)
    assert verdict.startswith("### No clear degradation") and "blur, is 20%" in verdict
    assert "lowres" not in verdict.split("\n")[0]
    assert "none clear" in _title(studio.plots.probability_bars(clean))
    assert studio.verdict(clean | {"haze": 0.91, "rain": 0.5}) == "### Detected: **haze** (91%), **rain** (50%)"
    assert "none clear" not in _title(studio.plots.probability_bars(clean | {"haze": 0.91}))


def test_the_atom_map_counts_the_photos_own_pixels(studio: ModuleType) -> None:
    big = np.random.default_rng(0).integers(0, 256, (600, 1200, 3), dtype=np.uint8)  # analysed at 512x256
    where = studio.explain_image(big, "ndr-restore")[2]
    ax = where.axes[0]
    assert ax.get_xlim() == (0, 1200) and ax.get_ylim() == (600, 0)
    assert "your photo" in ax.get_xlabel()


def test_redegrade(studio: ModuleType, photo: Path) -> None:
    real, restored, again, score = studio.redegrade(str(photo), "ndr-restore")
    assert real.shape == restored.shape == again.shape == (96, 128, 3)
    assert "dB" in score
    with pytest.raises(studio.UserError, match="no NDR-Degrad"):
        studio.redegrade(str(photo), "dfpir")


def test_about_cites_both_papers_and_licences(app: ModuleType) -> None:
    about = importlib.import_module("studio.about")
    card = about.model_card(["ndr-restore", "dfpir"])
    for needle in ("2310.12848", "2505.12630", "IEEE", "CVPR 2025", "CC-BY-SA-4.0", "GPL-2+", "/restore", "/analyze"):
        assert needle in card
    assert "RESTORE_MAX_UPLOAD_MB" in card and "handle_file" in card
    text = "[`assets/evaluation.md`](../assets/evaluation.md), [the card](MODEL_CARD.md), [limits](#known-limits)"
    assert about.for_the_app(text) == "`assets/evaluation.md`, the card (`MODEL_CARD.md`), limits"


# --------------------------------------------------------------------------- ui.events.handler: studio -> Gradio


def test_handler_turns_user_errors_into_gradio_errors(
    events: ModuleType, handlers: ModuleType, studio: ModuleType, photo: Path
) -> None:
    def refuse(image: str) -> None:
        raise studio.UserError("Try a *smaller* photo.", title="Too large")

    with pytest.raises(gr.Error, match=r"Try a \*smaller\* photo\.") as caught:
        events.handler(refuse)(str(photo))
    assert (caught.value.message, caught.value.title) == ("Try a *smaller* photo.", "Too large")
    assert isinstance(caught.value.__cause__, studio.UserError)
    with pytest.raises(gr.Error, match="Add an image first") as caught:  # the app's own wired handlers
        handlers.restore_image(None, "ndr-restore")
    assert caught.value.title == "No image"
    with pytest.raises(gr.Error, match="no NDR-Degrad") as caught:
        handlers.redegrade(str(photo), "dfpir")
    assert caught.value.title == "Not available"
    again = pickle.loads(pickle.dumps(studio.UserError("m", title="t")))  # ZeroGPU pickles errors
    assert (again.message, again.title) == ("m", "t")


def test_handler_signatures_ask_gradio_for_progress_only_where_used(
    handlers: ModuleType, studio: ModuleType, playground: ModuleType
) -> None:
    from gradio.utils import get_positional_input_parameters

    for name, module in (("restore_image", studio), ("compare_models", studio), ("degrade_and_restore", playground)):
        params = inspect.signature(getattr(handlers, name)).parameters
        assert isinstance(params["progress"].default, gr.Progress), name
        assert inspect.signature(getattr(module, name)).parameters["progress"].default is studio.no_progress
        inputs = [p.name for p in get_positional_input_parameters(getattr(handlers, name))]
        assert inputs == [p for p in params if p != "progress"], name  # Gradio passes no extra input
    for name in ("degrade", "analyze", "explain_image", "redegrade", "atlas_figures", "compare_with"):
        params = inspect.signature(getattr(handlers, name)).parameters
        assert not any(isinstance(p.default, gr.Progress) for p in params.values()), name
    tracks = {fn.api_name: fn.tracks_progress for fn in studio_demo().fns.values() if fn.api_name}
    assert tracks["restore"] and tracks["compare"] and not tracks["degrade"] and not tracks["analyze"]


def test_handler_logs_one_line_and_deletes_the_refused_upload(
    events: ModuleType, handlers: ModuleType, tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(events, "get_upload_folder", lambda: str(tmp_path))
    upload = tmp_path / "3f2a" / "holiday.png"
    upload.parent.mkdir()
    upload.write_text("not a picture")
    payload = {"path": str(upload), "orig_name": "holiday.png"}
    with caplog.at_level("INFO", logger="app"), pytest.raises(gr.Error, match="holiday.png is not an image") as caught:
        handlers.degrade(payload, {"noise": {}}, 0)
    assert caught.value.print_exception is False  # Gradio prints no traceback for it
    assert [r.getMessage().count("\n") for r in caplog.records] == [0]
    assert "degrade refused 'holiday.png': Cannot use this image" in caplog.text and "Traceback" not in caplog.text
    assert not upload.exists() and not upload.parent.exists()  # deleted at once, folder and all
    with pytest.raises(gr.Error, match="no longer on the server") as caught:  # a second click says why
        handlers.degrade(payload, {"noise": {}}, 0)
    assert caught.value.title == "Upload expired"
    elsewhere = tmp_path.parent / f"{tmp_path.name}-outside.png"
    elsewhere.write_text("not a picture either")
    with pytest.raises(gr.Error, match="handle_file") as caught:  # never read, never deleted
        handlers.degrade({"path": str(elsewhere)}, {"noise": {}}, 0)
    assert caught.value.title == "Not an upload" and elsewhere.exists()
    elsewhere.unlink()


def test_handler_turns_faults_into_a_message_and_logs_the_traceback(events: ModuleType, monkeypatch, caplog) -> None:
    def broken(*args, **kwargs):
        raise KeyError("oops")

    with caplog.at_level("INFO", logger="app"), pytest.raises(gr.Error, match=r"inside the app \(KeyError\)") as caught:
        events.handler(broken)(None)
    assert caught.value.title == "Internal error" and caught.value.print_exception is False
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None  # the traceback, once


def test_discard_upload_touches_only_the_upload_folder(studio: ModuleType, tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    inside, outside = root / "abc" / "a.png", tmp_path / "b.png"
    for f in (inside, outside):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    (root / "abc" / "other.png").write_bytes(b"y")
    assert not studio.discard_upload(outside, root) and outside.exists()
    assert studio.discard_upload(inside, root) and not inside.exists()
    assert (root / "abc").is_dir()  # not empty: kept
    assert not studio.discard_upload(root, root)


def test_upload_cap(studio: ModuleType, monkeypatch) -> None:
    monkeypatch.delenv("RESTORE_MAX_UPLOAD_MB", raising=False)
    monkeypatch.delenv("RESTORE_MAX_MEGAPIXELS", raising=False)
    assert studio.max_upload_mb() == 120  # 40 MP x 3 bytes
    monkeypatch.setenv("RESTORE_MAX_MEGAPIXELS", "10")
    assert studio.max_upload_mb() == 100
    monkeypatch.setenv("RESTORE_MAX_UPLOAD_MB", "2.5")
    assert studio.max_upload_mb() == 3
    for bad in ("0", "-1", "lots", "inf"):
        monkeypatch.setenv("RESTORE_MAX_UPLOAD_MB", bad)
        with pytest.raises(ValueError, match="RESTORE_MAX_UPLOAD_MB must be a positive number"):
            studio.max_upload_mb()


def test_example_caches_are_keyed_by_recipe_weights_and_code(studio: ModuleType, monkeypatch, tmp_path) -> None:
    module = importlib.import_module("studio.restore_tab")
    monkeypatch.setattr(module, "APP_DIR", tmp_path)
    cache, examples = studio.examples_cache(), studio.restore_examples()
    assert cache.parent.name == "cached_examples" and cache == studio.examples_cache()
    assert [Path(p).name for p in examples][:2] == ["mountains_haze.png", "rock_face_noise.png"]
    monkeypatch.setattr(module, "EXAMPLE_RECIPES", (("mountains", {"haze": {"beta": 1.0}}),))
    assert studio.examples_cache() != cache
    assert Path(studio.restore_examples()[0]).parent != Path(examples[0]).parent
    monkeypatch.setattr(module, "EXAMPLE_RECIPES", studio.EXAMPLE_RECIPES)
    assert studio.examples_cache() == cache
    monkeypatch.setattr(module, "code_version", lambda: "another version")
    assert studio.examples_cache() != cache
    monkeypatch.setattr(module, "fingerprint", lambda path: "other weights")
    assert studio.examples_cache() != cache


def test_model_events_run_one_at_a_time_example_cache_included(app: ModuleType) -> None:
    demo = studio_demo()
    model_fns = {fn.name for fn in demo.fns.values() if fn.concurrency_id == "model"}
    for name in ("restore_image", "compare_models", "explain_shown", "analyze_shown", "redegrade"):
        assert name in model_fns, name
    assert "degrade_and_restore_shown" in model_fns
    assert "load_example_output" in model_fns  # the Restore examples' lazy cache runs the model


def test_every_api_output_has_a_name(client) -> None:
    api = client.view_api(return_format="dict", print_info=False)
    for name, info in api["named_endpoints"].items():
        outputs = [r["label"] for r in info["returns"]]
        assert all(label and not label.startswith("value_") for label in outputs), (name, outputs)


def test_restore_package_never_imports_gradio() -> None:
    code = (
        "import importlib, pkgutil, sys, restore, studio\n"
        "for pkg in (restore, studio):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "assert 'studio.restore_tab' in sys.modules\n"
        "assert 'gradio' not in sys.modules, 'a restore module imports gradio'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- gradio_client


@pytest.fixture(scope="module")
def client(app: ModuleType) -> Iterator:
    from gradio_client import Client

    port = free_port()
    demo = studio_demo()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=True)
    finally:
        demo.close()


def test_client_restore(client, photo: Path) -> None:
    from gradio_client import handle_file

    (before, after), png, info = client.predict(
        handle_file(str(photo)), "ndr-restore", 2, 100, 0, 32, api_name="/restore"
    )
    assert load_image(after).shape == load_image(before).shape == (192, 256, 3)
    np.testing.assert_array_equal(load_image(png), load_image(after))
    assert "ndr-restore" in info


def test_client_restore_keeps_its_positional_inputs_and_takes_a_noise_level(client, photo: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/restore"]["parameters"]
    names = ["image", "model", "upscale", "strength", "tile", "overlap", "refine", "noise_auto", "noise_level"]
    assert [p["parameter_name"] for p in params] == names  # new inputs only ever at the end
    assert [p["parameter_default"] for p in params[-2:]] == [True, 0]
    args = (handle_file(str(photo)), "ndr-restore", 1, 100, 0, 32, True)
    auto = client.predict(*args, api_name="/restore")
    given = client.predict(*args, False, 40, api_name="/restore")
    assert "Noise level 40.0 grey levels (yours)" in given[2] and "Noise level" not in auto[2]
    assert not np.array_equal(load_image(given[0][1]), load_image(auto[0][1]))
    with pytest.raises(AppError, match="noise level must be between 0 and 100 grey levels, got 150"):
        client.predict(*args, False, 150, api_name="/restore")


def test_client_degrade(client, photo: Path) -> None:
    from gradio_client import handle_file

    (clean, degraded), table = client.predict(handle_file(str(photo)), {"noise": {"sigma": 40}}, 5, api_name="/degrade")
    clean, degraded = load_image(clean), load_image(degraded)
    assert clean.shape == degraded.shape == (96, 128, 3) and not np.array_equal(clean, degraded)
    assert "PSNR" in table


def test_client_analyze(client, photo: Path) -> None:
    from gradio_client import handle_file

    label, *_ = client.predict(handle_file(str(photo)), "ndr-restore", api_name="/analyze")
    assert {c["label"] for c in label["confidences"]} == set(DEGRADATION_TYPES)


def test_client_bad_uploads_get_clear_errors_and_the_app_keeps_serving(client, corrupt: Path, tmp_path, photo) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="holiday.png is not an image"):
        client.predict(handle_file(str(corrupt)), "ndr-restore", 1, 100, 0, 32, api_name="/restore")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(AppError, match="empty"):
        client.predict(handle_file(str(empty)), {"noise": {}}, 0, api_name="/degrade")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(photo.read_bytes()[:400])
    with pytest.raises(AppError, match="corrupt or truncated"):
        client.predict(handle_file(str(truncated)), "ndr-restore", api_name="/analyze")
    label, *_ = client.predict(handle_file(str(photo)), "ndr-restore", api_name="/analyze")
    assert len(label["confidences"]) == len(DEGRADATION_TYPES)
