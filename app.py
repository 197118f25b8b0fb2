"""Restoration studio: the Gradio app's layout (what each control computes is in ``studio/``, one
module per tab).

Run ``python app.py`` and open http://127.0.0.1:7860. Tabs: Restore (drag in a photo, compare
before/after with a slider), Playground (degrade a clean photo on purpose and see how well it is
restored), Inside the model (what the NDR dictionary recognised) and About (the model card).
Nothing is computed at import: :func:`build_demo` lists the models and lays out the page.

Environment: ``RESTORE_MAX_MEGAPIXELS`` (default 40) caps the size of uploads;
``GRADIO_ANALYTICS_ENABLED`` is off unless you turn it on.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import functools
import inspect
from collections.abc import Callable
from typing import Any

import gradio as gr

from restore.resources import example_photos
from restore.synthesis.registry import DEGRADATIONS
from studio import about, inside, playground, restore_tab
from studio.common import NO_MODEL, UserError, get_model, model_names
from studio.playground import PLAYGROUND_SIDE

try:  # On a Hugging Face ZeroGPU Space this grants a GPU per call; elsewhere it is a no-op.
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn):  # noqa: D103
        return fn


def handler(fn: Callable[..., Any], *, on_gpu: bool = False) -> Callable[..., Any]:
    """``fn`` (a ``studio.restore_tab`` callback) as a Gradio event handler.

    A ``UserError`` becomes a ``gr.Error`` with the same message and title, and a ``progress``
    parameter defaults to ``gr.Progress()``, which is how Gradio knows to pass its tracker (it reads
    the signature, so the wrapper states one; every other parameter stays an input). ``on_gpu`` asks
    ZeroGPU for a GPU per call.
    """
    call = gpu(fn) if on_gpu else fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except UserError as err:
            raise gr.Error(err.message, title=err.title) from err

    signature = inspect.signature(fn)
    params = [p.replace(default=gr.Progress()) if p.name == "progress" else p for p in signature.parameters.values()]
    wrapper.__signature__ = signature.replace(parameters=params)
    return wrapper


# Every event runs through handler(); the ones that run a model ask ZeroGPU for a GPU.
restore_image, explain_image, compare_models, degrade_and_restore, analyze, redegrade = (
    handler(fn, on_gpu=True)
    for fn in (
        restore_tab.restore_image,
        inside.explain_image,
        restore_tab.compare_models,
        playground.degrade_and_restore,
        inside.analyze,
        inside.redegrade,
    )
)
degrade, atlas_figures, compare_with, random_degradation, recipe_from_controls = map(
    handler,
    (
        playground.degrade,
        inside.atlas_figures,
        playground.compare_with,
        playground.random_degradation,
        playground.recipe_from_controls,
    ),
)

# --------------------------------------------------------------------------- layout


def _image_input(label: str, elem_id: str) -> gr.Image:
    return gr.Image(
        label=label, type="filepath", image_mode=None, sources=["upload", "clipboard"], height=320, elem_id=elem_id
    )


def build_restore_tab(names: list[str], degraded: list[str]) -> None:
    """The Restore tab: upload, settings, before/after slider, what the model saw, model comparison."""
    if not names:
        gr.Markdown(f"⚠️ {NO_MODEL}")
    r_slider = gr.ImageSlider(label="Before / after", format="png", elem_id="restore-slider", render=False)
    r_info = gr.Markdown(render=False)
    r_file = gr.File(label="Full-resolution PNG", render=False)
    with gr.Row():
        with gr.Column(scale=1):
            r_image = _image_input("Your photo", "restore-input")
            r_model = gr.Dropdown(names, value=(names or [None])[0], label="Model")
            r_upscale = gr.Radio([("1x", 1), ("2x", 2), ("4x", 4)], value=1, label="Upscale")
            r_strength = gr.Slider(0, 100, value=100, step=1, label="Strength (%): blends with the input")
            with gr.Accordion("Advanced", open=False):
                r_tile = gr.Dropdown(
                    [("auto", 0), ("128", 128), ("256", 256), ("512", 512), ("1024", 1024)],
                    value=0,
                    label="Tile size (px)",
                )
                r_overlap = gr.Slider(0, 128, value=32, step=8, label="Tile overlap (px)")
                r_refine = gr.Checkbox(
                    value=True,
                    label=(
                        "Refinement after the network: a Wiener filter gives back fine texture smoothed away with"
                        " the noise, and hazy photos are also dehazed at the scale the network was trained on"
                        " (1x); back-projection makes the result agree with your photo (2x, 4x)"
                    ),
                )
            r_button = gr.Button("Restore", variant="primary", elem_id="restore-button")
            restore_inputs = [r_image, r_model, r_upscale, r_strength, r_tile, r_overlap, r_refine]
            restore_outputs = [r_slider, r_file, r_info]
            examples = None
            if names and degraded:
                examples = gr.Examples(
                    [[p, names[0], 1, 100, 0, 32, True] for p in degraded],
                    restore_inputs,
                    restore_outputs,
                    fn=restore_image,
                    cache_examples=True,
                    cache_mode="lazy",  # computed on first click, so start-up stays fast
                    preprocess=False,
                    visible_columns=[0],
                    label="Degraded examples (click to restore)",
                )
        with gr.Column(scale=2):
            r_slider.render()
            r_info.render()
            r_file.render()
    with gr.Row():
        r_probs = gr.Plot(show_label=False, label="Detected degradations")
        r_weights = gr.Plot(show_label=False, label="NDR activations per scale")
    r_map = gr.Plot(show_label=False, label="Where the dominant atoms fire", elem_id="restore-map")
    with gr.Accordion("Compare models", open=False):
        c_button = gr.Button("Run every available model on this photo")
        c_slider = gr.ImageSlider(label="First model (left) / second model (right)", format="png")
        c_info = gr.Markdown()
    explain = {"fn": explain_image, "inputs": [r_image, r_model], "outputs": [r_probs, r_weights, r_map]}
    explain |= {"preprocess": False, "api_visibility": "private", "concurrency_id": "model"}
    r_button.click(
        restore_image, restore_inputs, restore_outputs, api_name="restore", preprocess=False, concurrency_id="model"
    ).success(**explain)
    if examples is not None:
        examples.cache_event.success(**explain)
    c_button.click(
        compare_models,
        [r_image, r_upscale, r_strength, r_tile, r_overlap, r_refine],
        [c_slider, c_info],
        api_name="compare",
        preprocess=False,
        concurrency_id="model",
    )


def build_playground_tab(names: list[str]) -> list[gr.components.Component]:
    """The Playground tab; returns its degradation controls (in ``studio.playground.CONTROLS`` order)."""
    gr.Markdown("Degrade a clean photo on purpose, restore it, and see how close the result gets.")
    with gr.Row():
        with gr.Column(scale=1):
            p_image = _image_input("Clean photo", "playground-input")
            if example_photos():
                gr.Examples([[str(p)] for p in example_photos()], [p_image], label="Clean examples")
            with gr.Row():
                p_seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
                p_random = gr.Button("Random degradation")
            # in the order of studio.playground.CONTROLS: per type its checkbox, then one slider per parameter
            controls: list[gr.components.Component] = []
            for name, deg in DEGRADATIONS.items():
                with gr.Accordion(name, open=name == "noise"):
                    controls.append(gr.Checkbox(value=name == "noise", label=f"{name}: {deg.doc}"))
                    for prm in deg.params:
                        controls.append(gr.Slider(prm.low, prm.high, value=prm.default, step=prm.step, label=prm.label))
            p_recipe = gr.JSON(value={"noise": {"sigma": 25.0, "signal": 0.0}}, label="Recipe")
            p_model = gr.Dropdown(names, value=(names or [None])[0], label="Model")
            with gr.Row():
                p_degrade = gr.Button("Degrade", elem_id="degrade-button")
                p_both = gr.Button("Degrade and restore", variant="primary", elem_id="degrade-restore-button")
        with gr.Column(scale=2):
            p_slider = gr.ImageSlider(label="Compare", format="png", elem_id="playground-slider")
            p_vs_clean = gr.Checkbox(label="Compare restored with the clean photo (instead of the degraded one)")
            p_metrics = gr.Markdown()
            with gr.Row():
                p_clean = gr.Image(label="Clean", format="png", interactive=False)
                p_degraded = gr.Image(label="Degraded", format="png", interactive=False)
                p_restored = gr.Image(label="Restored", format="png", interactive=False)
            p_detected = gr.Plot(show_label=False, label="Detected vs true degradations", elem_id="playground-detected")
            p_views = gr.State()
    fast = {"queue": False, "api_visibility": "private"}
    p_random.click(random_degradation, None, [p_seed, *controls, p_recipe], **fast)
    p_degrade.click(recipe_from_controls, controls, p_recipe, **fast).then(
        degrade, [p_image, p_recipe, p_seed], [p_slider, p_metrics], api_name="degrade", preprocess=False
    )
    p_both.click(recipe_from_controls, controls, p_recipe, **fast).then(
        degrade_and_restore,
        [p_image, p_recipe, p_seed, p_model],
        [p_clean, p_degraded, p_restored, p_slider, p_metrics, p_detected, p_views],
        api_visibility="undocumented",
        preprocess=False,
        concurrency_id="model",
    )
    p_vs_clean.change(compare_with, [p_vs_clean, p_views], p_slider, api_visibility="private")
    return controls


def build_inside_tab(names: list[str], degraded: list[str]) -> None:
    """The "Inside the model" tab: the dictionary atlas, one image's analysis, re-degradation."""
    default = (names or [None])[0]
    heat, sim, note = atlas_figures(default)
    i_model = gr.Dropdown(names, value=default, label="Model")
    i_note = gr.Markdown(note)
    with gr.Row():
        i_heat = gr.Plot(heat, show_label=False, label="Dictionary atlas", scale=3)
        i_sim = gr.Plot(sim, show_label=False, label="Atom similarity", scale=2)
    i_model.change(atlas_figures, i_model, [i_heat, i_sim, i_note], api_visibility="private")
    gr.Markdown("### Your image in the dictionary")
    with gr.Row():
        with gr.Column(scale=1):
            i_image = _image_input("Photo to analyse", "inside-input")
            if degraded:
                gr.Examples([[p] for p in degraded], [i_image], label="Degraded examples")
            i_button = gr.Button("Analyze", variant="primary", elem_id="analyze-button")
            i_probs = gr.Label(label="Detected degradations", num_top_classes=len(DEGRADATIONS))
        with gr.Column(scale=2):
            i_pca = gr.Plot(
                show_label=False, label="Where it falls among the atlas samples (star)", elem_id="inside-pca"
            )
            i_weights = gr.Plot(show_label=False, label="Atom weights per scale")
            i_map = gr.Plot(show_label=False, label="Dominant atoms")
    i_button.click(
        analyze,
        [i_image, i_model],
        [i_probs, i_pca, i_weights, i_map],
        api_name="analyze",
        preprocess=False,
        concurrency_id="model",
    )
    gr.Markdown("### Re-degradation: can the dictionary describe the degradation well enough to redo it?")
    d_button = gr.Button("Re-synthesise this photo's degradation", elem_id="redegrade-button")
    with gr.Row():
        d_real = gr.Image(label="Real input", format="png", interactive=False)
        d_restored = gr.Image(label="Restored", format="png", interactive=False)
        d_again = gr.Image(
            label="Re-synthesised by NDR-Degrad", format="png", interactive=False, elem_id="redegrade-again"
        )
    d_score = gr.Markdown()
    d_button.click(
        redegrade,
        [i_image, i_model],
        [d_real, d_restored, d_again, d_score],
        api_visibility="private",
        preprocess=False,
        concurrency_id="model",
    )


def build_about_tab(names: list[str]) -> None:
    """The About tab: the model card."""
    gr.Markdown(about.model_card(names, playground_side=PLAYGROUND_SIDE))


def build_demo() -> gr.Blocks:
    """The whole app, laid out for the models whose weights are present now."""
    names = model_names()
    degraded = restore_tab.restore_examples()
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", str(restore_tab.examples_cache()))  # read by gr.Examples
    with gr.Blocks(title="Restoration studio", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# Restoration studio\nOne small network removes noise, rain, haze, blur, low resolution and low light "
            "without being told which."
        )
        with gr.Tab("Restore", id="restore"):
            build_restore_tab(names, degraded)
        with gr.Tab("Playground", id="playground"):
            build_playground_tab(names)
        with gr.Tab("Inside the model", id="inside"):
            build_inside_tab(names, degraded)
        with gr.Tab("About", id="about"):
            build_about_tab(names)
    # Two CPU cores: one restoration already uses both, so model events run one at a time (they share
    # concurrency_id "model"); up to 16 requests wait in line, beyond that users are told the queue is
    # full instead of waiting minutes.
    demo.queue(max_size=16, default_concurrency_limit=1)
    return demo


def main() -> int:
    demo = build_demo()
    for name in model_names():  # load every model once, before the first request
        get_model(name)
    demo.launch()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
