"""The Gradio app's callbacks, one module per tab (``ui/`` holds the layout, ``app.py`` builds the page).

:mod:`.common` (models, uploads, user errors), :mod:`.restore_tab`, :mod:`.playground`,
:mod:`.inside` (the model's view), :mod:`.about` (model card) and :mod:`.plots` (matplotlib
figures). May import ``restore`` and matplotlib; never gradio (``ui/`` adapts the callbacks), so
every callback is a plain function a test can call.
"""
