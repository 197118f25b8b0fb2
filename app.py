"""Restoration studio: the Gradio app (each tab's layout is in ``ui/``, what each control computes in
``studio/``, one module per tab).

Run ``python app.py`` and open http://127.0.0.1:7860. Tabs: Restore (drag in a photo, compare
before/after with a slider, or compare the models), Playground (degrade a clean photo on purpose and
see how well it is restored), Inside the model (what the NDR dictionary recognised) and About (the
model card). Nothing is computed at import: :func:`build_demo` lists the models and lays out the page.

Errors: a mistake the user can fix (``studio.common.UserError``) reaches the browser or API client as
a ``gr.Error`` with a title and a message, and the server logs one line for it (which handler, which
file, what was wrong), no traceback; anything else is a fault in the app: logged with its traceback,
and the user is told it is not their input's fault (:func:`ui.events.handler`).

Environment: ``RESTORE_MAX_MEGAPIXELS`` (default 40) caps the pixels of uploads and
``RESTORE_MAX_UPLOAD_MB`` their file size (default: an uncompressed 8-bit RGB image at the megapixel
limit, at least 100 MB); ``GRADIO_ANALYTICS_ENABLED`` is off unless you turn it on.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging

import gradio as gr

from studio import restore_tab
from studio.common import get_model, model_names
from ui.about_tab import build_about_tab
from ui.events import log
from ui.inside_tab import build_inside_tab
from ui.page import StudioBlocks
from ui.playground_tab import build_playground_tab
from ui.restore_tab import build_restore_tab


def build_demo() -> gr.Blocks:
    """The whole app, laid out for the models whose weights are present now.

    Returns:
        The page (a :class:`ui.page.StudioBlocks`), queued, not launched.
    """
    names = model_names()
    degraded = restore_tab.restore_examples()
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", str(restore_tab.examples_cache()))  # read by gr.Examples
    with StudioBlocks(title="Restoration studio", delete_cache=(3600, 3600)) as demo:
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
    """Load every model once, then serve the app on http://127.0.0.1:7860 until stopped.

    Returns:
        The exit status, 0.
    """
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)  # one line per refused request; faults log their traceback
    demo = build_demo()
    for name in model_names():  # load every model once, before the first request
        get_model(name)
    demo.launch()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
