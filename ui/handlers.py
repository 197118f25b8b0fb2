"""The ``studio`` callbacks as the page's event handlers: each wrapped by :func:`ui.events.handler`
(those that run a model ask ZeroGPU for a GPU), and the adapters that show their plots.

The Restore tab wires :func:`restore_image`, :func:`compare_models`, :func:`explain_shown` and
:func:`noise_estimate_shown`; the
Playground :func:`degrade`, :func:`degrade_and_restore_shown`, :func:`compare_with`,
:func:`random_degradation` and :func:`recipe_from_controls`; the Inside tab :func:`atlas_figures`,
:func:`analyze_shown`, :func:`verdict_of` and :func:`redegrade`.
"""

from __future__ import annotations

import inspect
from typing import Any

import gradio as gr

from studio import inside, playground, restore_tab
from ui.components import shown_plot
from ui.events import handler

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
degrade, atlas_figures, compare_with, random_degradation, recipe_from_controls, noise_estimate = map(
    handler,
    (
        playground.degrade,
        inside.atlas_figures,
        playground.compare_with,
        playground.random_degradation,
        playground.recipe_from_controls,
        restore_tab.noise_estimate,
    ),
)


def explain_shown(image: Any, model: str | None) -> tuple[gr.Plot, gr.Plot, gr.Plot]:
    """:func:`explain_image`, its plots shown (DFPIR has no activations: those stay hidden)."""
    return tuple(shown_plot(f) for f in explain_image(image, model))


def noise_estimate_shown(image: Any, model: str | None, upscale: Any, noise_auto: bool) -> tuple[Any, Any]:
    """:func:`noise_estimate` as the "Noise level: auto" checkbox's label and, while auto is on, the
    slider's value (so turning auto off starts from the estimate; a level the user set stays)."""
    label, estimate = noise_estimate(image, model, upscale)
    slider = gr.Slider(value=estimate) if noise_auto and estimate is not None else gr.skip()
    return gr.Checkbox(label=label), slider


def analyze_shown(image: Any, model: str | None) -> tuple[Any, ...]:
    """:func:`analyze`, its plots shown where the model has them."""
    probs, pca, weights, where = analyze(image, model)
    return probs, shown_plot(pca), shown_plot(weights), shown_plot(where)


def verdict_of(probabilities: dict[str, float] | None) -> str:
    """The verdict above the Inside tab's probabilities, read from its ``gr.Label`` (which passes
    ``{type: probability}``), so the /analyze endpoint keeps its four outputs."""
    return inside.verdict(probabilities or {})


def degrade_and_restore_shown(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """:func:`degrade_and_restore`, its detection plot shown."""
    *head, detected, views = degrade_and_restore(*args, **kwargs)
    return *head, shown_plot(detected), views


degrade_and_restore_shown.__signature__ = inspect.signature(degrade_and_restore)
