"""The Gradio app's callbacks, one module per tab (``app.py`` holds the layout only).

:mod:`.common` (models, uploads, user errors), :mod:`.restore_tab`, :mod:`.playground`,
:mod:`.inside` (the model's view), :mod:`.about` (model card) and :mod:`.plots` (matplotlib
figures). May import ``restore`` and matplotlib; never gradio (``app.py`` adapts the callbacks), so
every callback is a plain function a test can call.
"""
