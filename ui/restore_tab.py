"""The Restore tab's layout and events: upload and settings, the before/after slider, the model
comparison, and what the model saw (what each computes is in :mod:`studio.restore_tab`)."""

from __future__ import annotations

import gradio as gr

from studio import restore_tab
from studio.common import NO_MODEL
from ui.components import image_input
from ui.events import event_function, run_locked
from ui.handlers import compare_models, explain_shown, noise_estimate_shown, restore_image


def build_restore_tab(names: list[str], degraded: list[str]) -> None:
    """The Restore tab: upload and settings on the left; on the right the result (before/after
    slider, details, download) or the model comparison, each in its own view; what the model saw
    below, once there is a result.

    Args:
        names: The models whose weights are present, the default first.
        degraded: The example photos offered under the upload (none without a model).
    """
    if not names:
        gr.Markdown(f"⚠️ {NO_MODEL}")
    left, right = restore_tab.compare_sides(names)
    r_slider = gr.ImageSlider(label="Before / after", format="png", elem_id="restore-slider", render=False)
    r_info = gr.Markdown(label="Details", elem_id="restore-info", render=False)
    r_file = gr.File(label="Full-resolution PNG", elem_id="restore-file", render=False)
    with gr.Row():
        with gr.Column(scale=1):
            r_image = image_input("Your photo", "restore-input")
            r_model = gr.Dropdown(names, value=(names or [None])[0], label="Model")
            r_upscale = gr.Radio([("1x", 1), ("2x", 2), ("4x", 4)], value=1, label="Upscale")
            r_strength = gr.Slider(0, 100, value=100, step=1, label="Strength (%): blends with the input")
            with gr.Accordion("Advanced", open=False):
                r_tile = gr.Dropdown(
                    [("auto", 0), ("128", 128), ("256", 256), ("512", 512), ("1024", 1024)],
                    value=0,
                    label="Tile size (px)",
                )
                r_overlap = gr.Slider(
                    0, 128, value=32, step=8, label="Tile overlap (px): at most (tile - 8) / 2, 56 for 128-px tiles"
                )
                r_refine = gr.Checkbox(
                    value=True,
                    label=(
                        "Refinement after the network: a Wiener filter gives back fine texture smoothed away with"
                        " the noise, and hazy photos are also dehazed at the scale the network was trained on"
                        " (1x); back-projection makes the result agree with your photo (2x, 4x); the tone lock"
                        " keeps your photo's brightness and colours unless low light, haze or rain was found"
                    ),
                )
                r_noise_auto = gr.Checkbox(value=True, label=restore_tab.NOISE_AUTO, elem_id="noise-auto")
                r_noise_level = gr.Slider(
                    0,
                    restore_tab.MAX_NOISE_LEVEL,
                    value=0,
                    step=restore_tab.NOISE_STEP,
                    interactive=False,
                    label=(
                        "Noise level (grey levels, 0-255 scale), used when auto is off: the Wiener refinement and"
                        " a network with a noise map read it instead of the estimate; higher smooths more"
                    ),
                    elem_id="noise-level",
                )
            with gr.Row():
                r_button = gr.Button("Restore", variant="primary", elem_id="restore-button")
                c_button = gr.Button("Compare models", elem_id="compare-button")
            # new inputs go at the end, with defaults: the /restore endpoint's positional calls keep working
            noise = [r_noise_auto, r_noise_level]
            restore_inputs = [r_image, r_model, r_upscale, r_strength, r_tile, r_overlap, r_refine, *noise]
            restore_outputs = [r_slider, r_file, r_info]
            examples = None
            if names and degraded:
                examples = gr.Examples(
                    [[p, names[0], 1, 100, 0, 32, True, True, 0] for p in degraded],
                    restore_inputs,
                    restore_outputs,
                    fn=restore_image,
                    cache_examples=True,
                    cache_mode="lazy",  # computed on first click, so start-up stays fast
                    preprocess=False,
                    visible_columns=[0],
                    label="Degraded examples (click to restore)",
                    elem_id="restore-examples",
                )
        with gr.Column(scale=2), gr.Tabs(selected="restored", elem_id="restore-views") as r_views:
            with gr.Tab("Restored", id="restored"):
                r_slider.render()
                r_info.render()
                r_file.render()
            with gr.Tab(f"Compare models: {left} | {right}", id="compare", elem_id="compare-view"):
                c_slider = gr.ImageSlider(
                    label=f"{left} (left) | {right} (right)", format="png", elem_id="compare-slider"
                )
                c_info = gr.Markdown(label="Time per model", elem_id="compare-info")
    with gr.Row():
        r_probs = gr.Plot(show_label=False, label="Detected degradations", visible=False)
        r_weights = gr.Plot(show_label=False, label="NDR activations per scale", visible=False)
    r_map = gr.Plot(show_label=False, label="Where the dominant atoms fire", elem_id="restore-map", visible=False)

    buttons = [r_button, c_button]
    model_event = {"preprocess": False, "concurrency_id": "model"}
    explain = {"fn": explain_shown, "inputs": [r_image, r_model], "outputs": [r_probs, r_weights, r_map]}
    explain |= {"api_visibility": "private", **model_event}
    show = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
    r_button.click(lambda: gr.Tabs(selected="restored"), None, r_views, **show)
    restore_event = {"fn": restore_image, "inputs": restore_inputs, "outputs": restore_outputs, "api_name": "restore"}
    run_locked(r_button.click, buttons, restore_event | model_event).success(**explain)
    if examples is not None:
        # The lazy cache runs the model inside this event: it joins the one-at-a-time model group.
        event_function(examples.cache_event).concurrency_id = "model"
        examples.cache_event.success(**explain)
    # the estimate for the current upload at the current upscale, in the "auto" checkbox's label
    estimate = {"fn": noise_estimate_shown, "inputs": [r_image, r_model, r_upscale, r_noise_auto], "preprocess": False}
    estimate |= {"outputs": [r_noise_auto, r_noise_level], "api_visibility": "private", "show_progress": "hidden"}
    gr.on([r_image.change, r_upscale.change], **estimate)
    r_noise_auto.change(lambda auto: gr.Slider(interactive=not auto), r_noise_auto, r_noise_level, **show)
    c_button.click(lambda: gr.Tabs(selected="compare"), None, r_views, **show)
    run_locked(
        c_button.click,
        buttons,
        {
            "fn": compare_models,
            "inputs": [r_image, r_upscale, r_strength, r_tile, r_overlap, r_refine, *noise],
            "outputs": [c_slider, c_info],
            "api_name": "compare",
            **model_event,
        },
    )
