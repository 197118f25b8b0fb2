"""How page events reach the ``studio`` callbacks: errors for the user, uploads only, buttons locked.

:func:`handler` wraps a callback for Gradio (a ``studio.common.UserError`` becomes a ``gr.Error``
with a title and a message and one log line, any other exception is logged with its traceback and
reported as the app's fault); :func:`run_locked` chains the steps of one click with its buttons
disabled; :func:`event_function` reaches an event's concurrency settings. Every line goes to the
``app`` logger, whose level ``app.main()`` sets.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr
from gradio.context import get_blocks_context
from gradio.utils import get_upload_folder

from studio.common import UserError, discard_upload, upload_name, within

try:  # On a Hugging Face ZeroGPU Space this grants a GPU per call; elsewhere it is a no-op.
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn):  # noqa: D103
        return fn


log = logging.getLogger("app")  # the app's one log, whichever module writes to it

NOT_UPLOADED = (
    "The image must be uploaded with the request: with gradio_client, send it as handle_file('photo.jpg'). "
    "A path on the server, or a plain path string, is not an upload."
)
INTERNAL = (
    "Something went wrong inside the app ({kind}) while {what}. This is a fault of the app, not of your "
    "input; the server's log has the details."
)


def _payloads(args: Sequence[Any]) -> list[dict]:
    """The file payloads (Gradio's ``{"path": ...}`` dicts) among a handler's arguments."""
    return [a for a in args if isinstance(a, dict) and "path" in a]


def _files(args: Sequence[Any]) -> str:
    """The names of the files a handler was given, for the log ("no file" when none): upload
    payloads, and paths when a test or script calls the handler directly."""
    files = [a for a in args if isinstance(a, dict) or (isinstance(a, str) and os.sep in a)]
    return ", ".join(repr(upload_name(a)) for a in files if upload_name(a)) or "no file"


def one_line(text: Any) -> str:
    """``text`` (or an exception's message) on one line, its runs of whitespace made single spaces.

    Args:
        text: What to log; anything ``str()`` accepts.

    Returns:
        The text without line breaks, for a log line of its own.
    """
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

    Args:
        fn: The callback; its name names it in the log and in the message of an internal error.
        on_gpu: Whether the callback runs a model (ZeroGPU then grants a GPU per call).

    Returns:
        The wrapped callback, with ``fn``'s name, docstring and (``progress`` aside) signature.
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
            log.info("%s refused %s: %s: %s", fn.__name__, _files(args), err.title, one_line(err.message))
            raise gr.Error(err.message, title=err.title, print_exception=False) from err
        except gr.Error as err:  # raised by Gradio or ZeroGPU (a quota, a timeout): already for the user
            err.print_exception = False
            log.info("%s stopped on %s: %s", fn.__name__, _files(args), one_line(err.message))
            raise
        except Exception as err:
            log.exception("%s failed on %s", fn.__name__, _files(args))
            message = INTERNAL.format(kind=type(err).__name__, what=f"running {what}")
            raise gr.Error(message, title="Internal error", print_exception=False) from err

    signature = inspect.signature(fn)
    params = [p.replace(default=gr.Progress()) if p.name == "progress" else p for p in signature.parameters.values()]
    wrapper.__signature__ = signature.replace(parameters=params)
    return wrapper


def _set_buttons(interactive: bool, count: int) -> Callable[[], list[gr.Button]]:
    def update() -> list[gr.Button]:
        return [gr.Button(interactive=interactive) for _ in range(count)]

    return update


def run_locked(trigger: Any, buttons: list[gr.Button], *steps: dict[str, Any]) -> Any:
    """Wire ``trigger`` (e.g. ``button.click``) to run ``steps`` (event keywords, chained with
    ``.then``) with ``buttons`` disabled until the last step ends, whether it succeeds or fails.

    Gradio skips the rest of a ``.then`` chain after an error, so every step also re-enables the
    buttons on its own failure.

    Args:
        trigger: The event listener that starts the chain, e.g. ``button.click``.
        buttons: The buttons to disable while the chain runs.
        *steps: The keywords of each step's ``.then()``, in order.

    Returns:
        The last step's event (``.success()`` on it runs only after a success).
    """
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
    concurrency group lives (``gr.Examples`` offers no ``concurrency_id`` of its own).

    Args:
        event: An event of the ``gr.Blocks`` being built (inside its ``with`` block).

    Returns:
        Its ``BlockFunction``; setting ``concurrency_id`` on it puts the event in that group.
    """
    return get_blocks_context().fns[event["id"]]
