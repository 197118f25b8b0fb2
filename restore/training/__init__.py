"""Training: the recipe (:mod:`.config`, YAML), the trainer (:mod:`.trainer`), run folders and
exports (:mod:`.run_files`), validation during training and the estimator refit.

May import everything in ``restore`` except the app. ``python -m restore.training`` trains.
"""
