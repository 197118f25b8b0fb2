"""The "Inside the model" tab's layout and events: the dictionary atlas, one image's analysis and
its re-degradation (what each computes is in :mod:`studio.inside`)."""

from __future__ import annotations

import gradio as gr

from restore.synthesis.registry import DEGRADATIONS
from ui.components import image_input
from ui.events import run_locked
from ui.handlers import analyze_shown, atlas_figures, redegrade, verdict_of


def build_inside_tab(names: list[str], degraded: list[str]) -> None:
    """The "Inside the model" tab: the dictionary atlas, one image's analysis, re-degradation.

    Args:
        names: The models whose weights are present, the default first (its atlas is drawn now).
        degraded: The example photos offered under the upload.
    """
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
            i_image = image_input("Photo to analyse", "inside-input")
            if degraded:
                gr.Examples([[p] for p in degraded], [i_image], label="Degraded examples")
            with gr.Row():
                i_button = gr.Button("Analyze", variant="primary", elem_id="analyze-button")
                d_button = gr.Button("Re-synthesise its degradation", elem_id="redegrade-button")
            i_verdict = gr.Markdown(label="Verdict", elem_id="inside-verdict")
            i_probs = gr.Label(
                label="Probability per degradation type", num_top_classes=len(DEGRADATIONS), show_heading=False
            )
        with gr.Column(scale=2):
            i_pca = gr.Plot(
                show_label=False,
                label="Where it falls among the atlas samples (star)",
                elem_id="inside-pca",
                visible=False,
            )
            i_weights = gr.Plot(show_label=False, label="Atom weights per scale", visible=False)
            i_map = gr.Plot(show_label=False, label="Dominant atoms", visible=False)
    gr.Markdown("### Re-degradation: can the dictionary describe the degradation well enough to redo it?")
    with gr.Row():
        d_real = gr.Image(label="Real input", format="png", interactive=False)
        d_restored = gr.Image(label="Restored", format="png", interactive=False)
        d_again = gr.Image(
            label="Re-synthesised by NDR-Degrad", format="png", interactive=False, elem_id="redegrade-again"
        )
    d_score = gr.Markdown(label="Re-synthesis score")
    buttons = [i_button, d_button]
    model_event = {"inputs": [i_image, i_model], "preprocess": False, "concurrency_id": "model"}
    analyze_event = {"fn": analyze_shown, "outputs": [i_probs, i_pca, i_weights, i_map], "api_name": "analyze"}
    redegrade_event = {"fn": redegrade, "outputs": [d_real, d_restored, d_again, d_score], "api_visibility": "private"}
    run_locked(i_button.click, buttons, analyze_event | model_event).success(
        verdict_of, i_probs, i_verdict, queue=False, api_visibility="private", show_progress="hidden"
    )
    run_locked(d_button.click, buttons, redegrade_event | model_event)
