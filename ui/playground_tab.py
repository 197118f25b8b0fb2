"""The Playground tab's layout and events: degrade a clean photo with a recipe, restore it, score
the result (what each computes is in :mod:`studio.playground`)."""

from __future__ import annotations

import gradio as gr

from restore.resources import example_photos
from restore.synthesis.registry import DEGRADATIONS
from ui.components import image_input
from ui.events import run_locked
from ui.handlers import compare_with, degrade, degrade_and_restore_shown, random_degradation, recipe_from_controls


def build_playground_tab(names: list[str]) -> list[gr.components.Component]:
    """The Playground tab.

    The buttons sit right under the photo, next to the results they make (the right column's top),
    and the recipe's controls follow below them.

    Args:
        names: The models whose weights are present, the default first.

    Returns:
        Its degradation controls, in ``studio.playground.CONTROLS`` order: per type its checkbox,
        then one slider per parameter.
    """
    gr.Markdown("Degrade a clean photo on purpose, restore it, and see how close the result gets.")
    with gr.Row():
        with gr.Column(scale=1):
            p_image = image_input("Clean photo", "playground-input")
            if example_photos():
                gr.Examples([[str(p)] for p in example_photos()], [p_image], label="Clean examples")
            p_model = gr.Dropdown(names, value=(names or [None])[0], label="Model")
            with gr.Row():
                p_degrade = gr.Button("Degrade", elem_id="degrade-button")
                p_both = gr.Button("Degrade and restore", variant="primary", elem_id="degrade-restore-button")
            gr.Markdown("**Recipe**: tick degradations and set their strength, or draw one at random.")
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
        with gr.Column(scale=2):
            p_slider = gr.ImageSlider(label="Compare", format="png", elem_id="playground-slider")
            p_vs_clean = gr.Checkbox(label="Compare restored with the clean photo (instead of the degraded one)")
            p_metrics = gr.Markdown(label="Scores", elem_id="playground-metrics")
            with gr.Row():
                p_clean = gr.Image(label="Clean", format="png", interactive=False)
                p_degraded = gr.Image(label="Degraded", format="png", interactive=False)
                p_restored = gr.Image(label="Restored", format="png", interactive=False)
            p_detected = gr.Plot(
                show_label=False, label="Detected vs true degradations", elem_id="playground-detected", visible=False
            )
            p_views = gr.State()
    fast = {"queue": False, "api_visibility": "private"}
    buttons = [p_degrade, p_both]
    recipe = {"fn": recipe_from_controls, "inputs": controls, "outputs": p_recipe, **fast}
    p_random.click(random_degradation, None, [p_seed, *controls, p_recipe], **fast)
    run_locked(
        p_degrade.click,
        buttons,
        recipe,
        {
            "fn": degrade,
            "inputs": [p_image, p_recipe, p_seed],
            "outputs": [p_slider, p_metrics],
            "api_name": "degrade",
            "preprocess": False,
        },
    )
    run_locked(
        p_both.click,
        buttons,
        recipe,
        {
            "fn": degrade_and_restore_shown,
            "inputs": [p_image, p_recipe, p_seed, p_model],
            "outputs": [p_clean, p_degraded, p_restored, p_slider, p_metrics, p_detected, p_views],
            "api_visibility": "undocumented",
            "preprocess": False,
            "concurrency_id": "model",
        },
    )
    p_vs_clean.change(compare_with, [p_vs_clean, p_views], p_slider, api_visibility="private")
    return controls
