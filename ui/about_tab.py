"""The About tab's layout: the model card (:mod:`studio.about`), styled by :data:`ui.page.CSS`."""

from __future__ import annotations

import gradio as gr

from studio import about
from studio.playground import PLAYGROUND_SIDE


def build_about_tab(names: list[str]) -> None:
    """The About tab: the model card (its wide tables scroll sideways instead of breaking words).

    Args:
        names: The models whose weights are present; the card describes those.
    """
    gr.Markdown(about.model_card(names, playground_side=PLAYGROUND_SIDE), elem_id="about-card")
