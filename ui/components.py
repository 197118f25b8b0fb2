"""Controls that several tabs lay out the same way: the photo upload and a plot shown only when filled."""

from __future__ import annotations

from typing import Any

import gradio as gr


def image_input(label: str, elem_id: str) -> gr.Image:
    """A photo upload (or paste) that hands the handlers a file path, in the image's own mode.

    Args:
        label: The label above the box.
        elem_id: Its HTML id (the browser test finds the box by it).

    Returns:
        The ``gr.Image``, rendered where it is created.
    """
    return gr.Image(
        label=label, type="filepath", image_mode=None, sources=["upload", "clipboard"], height=320, elem_id=elem_id
    )


def shown_plot(figure: Any) -> gr.Plot:
    """A plot output that is shown only when there is a figure (no empty boxes before a run).

    Args:
        figure: A ``matplotlib.figure.Figure``, or ``None`` where the model has no such plot.

    Returns:
        The update for a ``gr.Plot`` output.
    """
    return gr.Plot(value=figure, visible=figure is not None)
