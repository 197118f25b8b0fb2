"""Restoration studio: the Gradio app's layout (what each control computes is in ``studio/``, one
module per tab).

Run ``python app.py`` and open http://127.0.0.1:7860. Tabs: Restore (drag in a photo, compare
before/after with a slider, or compare the models), Playground (degrade a clean photo on purpose and
see how well it is restored), Inside the model (what the NDR dictionary recognised) and About (the
model card). Nothing is computed at import: :func:`build_demo` lists the models and lays out the page.

Errors: a mistake the user can fix (``studio.common.UserError``) reaches the browser or API client as
a ``gr.Error`` with a title and a message, and the server logs one line for it (which handler, which
file, what was wrong), no traceback; anything else is a fault in the app: logged with its traceback,
and the user is told it is not their input's fault.

Environment: ``RESTORE_MAX_MEGAPIXELS`` (default 40) caps the pixels of uploads and
``RESTORE_MAX_UPLOAD_MB`` their file size (default: an uncompressed 8-bit RGB image at the megapixel
limit, at least 100 MB); ``GRADIO_ANALYTICS_ENABLED`` is off unless you turn it on.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr
from gradio.context import get_blocks_context
from gradio.exceptions import InvalidPathError
from gradio.utils import get_upload_folder

from restore.resources import example_photos
from restore.synthesis.registry import DEGRADATIONS
from studio import about, inside, playground, restore_tab
from studio.common import (
    NO_MODEL,
    UserError,
    discard_upload,
    get_model,
    max_upload_mb,
    model_names,
    upload_name,
    within,
)
from studio.playground import PLAYGROUND_SIDE

try:  # On a Hugging Face ZeroGPU Space this grants a GPU per call; elsewhere it is a no-op.
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn):  # noqa: D103
        return fn


log = logging.getLogger("app")

NOT_UPLOADED = (
    "The image must be uploaded with the request: with gradio_client, send it as handle_file('photo.jpg'). "
    "A path on the server, or a plain path string, is not an upload."
)
INTERNAL = (
    "Something went wrong inside the app ({kind}) while {what}. This is a fault of the app, not of your "
    "input; the server's log has the details."
)


# --------------------------------------------------------------------------- handlers


def _payloads(args: Sequence[Any]) -> list[dict]:
    """The file payloads (Gradio's ``{"path": ...}`` dicts) among a handler's arguments."""
    return [a for a in args if isinstance(a, dict) and "path" in a]


def _files(args: Sequence[Any]) -> str:
    """The names of the files a handler was given, for the log ("no file" when none): upload
    payloads, and paths when a test or script calls the handler directly."""
    files = [a for a in args if isinstance(a, dict) or (isinstance(a, str) and os.sep in a)]
    return ", ".join(repr(upload_name(a)) for a in files if upload_name(a)) or "no file"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _refuse_server_paths(args: Sequence[Any]) -> None:
    """Refuse file payloads that point outside the web server's upload folder: a client could
    otherwise name any image on the server (``{"path": "/srv/private.png"}``) and get it back."""
    for payload in _payloads(args):
        if payload.get("path") and not within(payload["path"], [get_upload_folder()]):
            raise UserError(NOT_UPLOADED, title="Not an upload")


def handler(fn: Callable[..., Any], *, on_gpu: bool = False) -> Callable[..., Any]:
    """``fn`` (a ``studio`` callback) as a Gradio event handler.

    - A ``UserError`` becomes a ``gr.Error`` with the same message and title, which Gradio shows
      without printing a traceback (``print_exception=False``); the log gets one line: the
      handler, the files and the message. A refused upload is deleted from the server at once.
    - Any other exception is a fault of the app: logged with its traceback (once), and the user
      gets a ``gr.Error`` that says so instead of a blank error badge.
    - File payloads must lie in Gradio's upload folder (see :func:`_refuse_server_paths`).
    - A ``progress`` parameter defaults to ``gr.Progress()``, which is how Gradio knows to pass its
      tracker (it reads the signature, so the wrapper states one; every other parameter stays an
      input). ``on_gpu`` asks ZeroGPU for a GPU per call.
    """
    call = gpu(fn) if on_gpu else fn
    what = fn.__name__.replace("_", " ")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _refuse_server_paths(args)
            return call(*args, **kwargs)
        except UserError as err:
            if err.upload:
                discard_upload(err.upload, get_upload_folder())
            log.info("%s refused %s: %s: %s", fn.__name__, _files(args), err.title, _one_line(err.message))
            raise gr.Error(err.message, title=err.title, print_exception=False) from err
        except gr.Error as err:  # raised by Gradio or ZeroGPU (a quota, a timeout): already for the user
            err.print_exception = False
            log.info("%s stopped on %s: %s", fn.__name__, _files(args), _one_line(err.message))
            raise
        except Exception as err:
            log.exception("%s failed on %s", fn.__name__, _files(args))
            message = INTERNAL.format(kind=type(err).__name__, what=f"running {what}")
            raise gr.Error(message, title="Internal error", print_exception=False) from err

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


def _plot(figure: Any) -> gr.Plot:
    """A plot output that is shown only when there is a figure (no empty boxes before a run)."""
    return gr.Plot(value=figure, visible=figure is not None)


def explain_shown(image: Any, model: str | None) -> tuple[gr.Plot, gr.Plot, gr.Plot]:
    """:func:`explain_image`, its plots shown (DFPIR has no activations: those stay hidden)."""
    return tuple(_plot(f) for f in explain_image(image, model))


def analyze_shown(image: Any, model: str | None) -> tuple[Any, ...]:
    """:func:`analyze`, its plots shown where the model has them."""
    probs, pca, weights, where = analyze(image, model)
    return probs, _plot(pca), _plot(weights), _plot(where)


def verdict_of(probabilities: dict[str, float] | None) -> str:
    """The verdict above the Inside tab's probabilities, read from its ``gr.Label`` (which passes
    ``{type: probability}``), so the /analyze endpoint keeps its four outputs."""
    return inside.verdict(probabilities or {})


def degrade_and_restore_shown(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """:func:`degrade_and_restore`, its detection plot shown."""
    *head, detected, views = degrade_and_restore(*args, **kwargs)
    return *head, _plot(detected), views


degrade_and_restore_shown.__signature__ = inspect.signature(degrade_and_restore)


# --------------------------------------------------------------------------- the page

# The About tab's tables: headers never break inside a word, wide tables (8 columns and more: the
# evaluation's 16) keep each cell on one line and scroll sideways instead of squeezing.
CSS = """
#about-card table { display: block; overflow-x: auto; width: fit-content; max-width: 100%; border: 0; }
#about-card th, #about-card td { word-break: normal; overflow-wrap: normal; hyphens: none; }
#about-card th, #about-card table:has(th:nth-child(8)) td { white-space: nowrap; }
"""


class StudioBlocks(gr.Blocks):
    """``gr.Blocks`` with the app's launch defaults and clear answers to malformed requests.

    - ``launch()`` caps uploads at :func:`studio.common.max_upload_mb` (Gradio refuses a larger
      upload while it arrives and deletes its partial file), adds the app's CSS and shows error
      texts; every keyword can still be overridden.
    - A request whose input does not fit the endpoint before any handler runs (a plain path string
      where a file upload belongs, a file outside the upload folder) gets a ``gr.Error`` saying what
      to send instead of Gradio's empty error, and the log gets one line instead of a traceback.
    """

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("max_file_size", f"{max_upload_mb()}mb")
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("show_error", True)
        return super().launch(*args, **kwargs)

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().preprocess_data(block_fn, inputs, *args, **kwargs)
        except gr.Error:
            raise
        except ValueError as err:  # pydantic's ValidationError, Gradio's InvalidPathError, too few inputs
            name = block_fn.api_name or block_fn.name
            file_error = isinstance(err, InvalidPathError) or any(m in str(err) for m in ("ImageData", "FileData"))
            message = NOT_UPLOADED if file_error else f"The request does not fit this endpoint: {_one_line(err)}"
            detail = _one_line(str(err).splitlines()[0] if str(err) else type(err).__name__)
            log.info("/%s refused a request (%s): %s", name, "not a file upload" if file_error else "bad data", detail)
            raise gr.Error(message, title="Bad request", print_exception=False) from err


def _set_buttons(interactive: bool, count: int) -> Callable[[], list[gr.Button]]:
    def update() -> list[gr.Button]:
        return [gr.Button(interactive=interactive) for _ in range(count)]

    return update


def run_locked(trigger: Any, buttons: list[gr.Button], *steps: dict[str, Any]) -> Any:
    """Wire ``trigger`` (e.g. ``button.click``) to run ``steps`` (event keywords, chained with
    ``.then``) with ``buttons`` disabled until the last step ends, whether it succeeds or fails.
    Returns the last step's event (``.success()`` on it runs only after a success).

    Gradio skips the rest of a ``.then`` chain after an error, so every step also re-enables the
    buttons on its own failure."""
    quiet = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
    unlock = _set_buttons(True, len(buttons))
    event = trigger(_set_buttons(False, len(buttons)), None, buttons, **quiet)
    for step in steps:
        event = event.then(**step)
        event.failure(unlock, None, buttons, **quiet)
    event.then(unlock, None, buttons, **quiet)
    return event


def event_function(event: Any) -> Any:
    """The ``BlockFunction`` behind an event (``Dependency``) of the page being built: where its
    concurrency group lives (``gr.Examples`` offers no ``concurrency_id`` of its own)."""
    return get_blocks_context().fns[event["id"]]


def _image_input(label: str, elem_id: str) -> gr.Image:
    return gr.Image(
        label=label, type="filepath", image_mode=None, sources=["upload", "clipboard"], height=320, elem_id=elem_id
    )


def build_restore_tab(names: list[str], degraded: list[str]) -> None:
    """The Restore tab: upload and settings on the left; on the right the result (before/after
    slider, details, download) or the model comparison, each in its own view; what the model saw
    below, once there is a result."""
    if not names:
        gr.Markdown(f"⚠️ {NO_MODEL}")
    left, right = restore_tab.compare_sides(names)
    r_slider = gr.ImageSlider(label="Before / after", format="png", elem_id="restore-slider", render=False)
    r_info = gr.Markdown(label="Details", elem_id="restore-info", render=False)
    r_file = gr.File(label="Full-resolution PNG", elem_id="restore-file", render=False)
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
            with gr.Row():
                r_button = gr.Button("Restore", variant="primary", elem_id="restore-button")
                c_button = gr.Button("Compare models", elem_id="compare-button")
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
    c_button.click(lambda: gr.Tabs(selected="compare"), None, r_views, **show)
    run_locked(
        c_button.click,
        buttons,
        {
            "fn": compare_models,
            "inputs": [r_image, r_upscale, r_strength, r_tile, r_overlap, r_refine],
            "outputs": [c_slider, c_info],
            "api_name": "compare",
            **model_event,
        },
    )


def build_playground_tab(names: list[str]) -> list[gr.components.Component]:
    """The Playground tab; returns its degradation controls (in ``studio.playground.CONTROLS`` order).

    The buttons sit right under the photo, next to the results they make (the right column's top),
    and the recipe's controls follow below them."""
    gr.Markdown("Degrade a clean photo on purpose, restore it, and see how close the result gets.")
    with gr.Row():
        with gr.Column(scale=1):
            p_image = _image_input("Clean photo", "playground-input")
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
    model_event = {"preprocess": False, "concurrency_id": "model"}
    run_locked(
        i_button.click,
        buttons,
        {
            "fn": analyze_shown,
            "inputs": [i_image, i_model],
            "outputs": [i_probs, i_pca, i_weights, i_map],
            "api_name": "analyze",
            **model_event,
        },
    ).success(verdict_of, i_probs, i_verdict, queue=False, api_visibility="private", show_progress="hidden")
    run_locked(
        d_button.click,
        buttons,
        {
            "fn": redegrade,
            "inputs": [i_image, i_model],
            "outputs": [d_real, d_restored, d_again, d_score],
            "api_visibility": "private",
            **model_event,
        },
    )


def build_about_tab(names: list[str]) -> None:
    """The About tab: the model card (its wide tables scroll sideways instead of breaking words)."""
    gr.Markdown(about.model_card(names, playground_side=PLAYGROUND_SIDE), elem_id="about-card")


def build_demo() -> gr.Blocks:
    """The whole app, laid out for the models whose weights are present now."""
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
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)  # one line per refused request; faults log their traceback
    demo = build_demo()
    for name in model_names():  # load every model once, before the first request
        get_model(name)
    demo.launch()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
