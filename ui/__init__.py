"""The Gradio layer of the app: what ``app.py`` lays out, one module per tab, and the plumbing between
the page and the callbacks in ``studio/``.

:mod:`.events` (:func:`~ui.events.handler`, which turns a ``studio.common.UserError`` into a
``gr.Error``, and :func:`~ui.events.run_locked`), :mod:`.page` (:class:`~ui.page.StudioBlocks`: launch
defaults, malformed requests, the CSS), :mod:`.handlers` (every ``studio`` callback wired through
``handler``), :mod:`.components` (controls shared by the tabs) and one layout builder per tab:
:mod:`.restore_tab`, :mod:`.playground_tab`, :mod:`.inside_tab`, :mod:`.about_tab`. Only ``app.py``
and this package import gradio; ``studio/`` never does, and nothing here imports ``app``.
"""
