"""The page itself: :class:`StudioBlocks`, ``gr.Blocks`` with the app's launch defaults, its CSS,
and clear answers to requests that do not fit an endpoint."""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.exceptions import InvalidPathError

from studio.common import max_upload_mb
from ui.events import NOT_UPLOADED, log, one_line

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
        """``gr.Blocks.launch`` with the app's upload cap, CSS and error texts unless given."""
        kwargs.setdefault("max_file_size", f"{max_upload_mb()}mb")
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("show_error", True)
        return super().launch(*args, **kwargs)

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], *args: Any, **kwargs: Any) -> Any:
        """Gradio's preprocessing; a ``ValueError`` from it (pydantic's ``ValidationError``, Gradio's
        ``InvalidPathError``, too few inputs) becomes a ``gr.Error`` that says what to send."""
        try:
            return await super().preprocess_data(block_fn, inputs, *args, **kwargs)
        except gr.Error:
            raise
        except ValueError as err:
            name = block_fn.api_name or block_fn.name
            file_error = isinstance(err, InvalidPathError) or any(m in str(err) for m in ("ImageData", "FileData"))
            message = NOT_UPLOADED if file_error else f"The request does not fit this endpoint: {one_line(err)}"
            detail = one_line(str(err).splitlines()[0] if str(err) else type(err).__name__)
            log.info("/%s refused a request (%s): %s", name, "not a file upload" if file_error else "bad data", detail)
            raise gr.Error(message, title="Bad request", print_exception=False) from err
