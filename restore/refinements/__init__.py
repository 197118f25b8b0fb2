"""Classical steps after the network: the pilot-guided Wiener filter (:mod:`.wiener`), the haze
pass (:mod:`.haze`), the tone lock (:mod:`.tone`) and gated back-projection
(:mod:`.backproject`), with the one guided filter
(:mod:`.guided`) the haze pass and the dark-channel baseline share. Their noise gates use the
project's one noise-level estimator, :mod:`restore.noise` (a leaf module, because DFPIR's
estimator needs it too and the networks import nothing from here).

Owns: image processing that needs no network. May import: torch, numpy, OpenCV,
``restore.types``, ``restore.noise`` and ``restore.images``.
"""

#: The refinements by name, as ``Restorer.restore(refine=[...])`` and the evaluation's
#: ``:no-<name>`` columns take them (this package's ``__init__`` imports nothing heavy).
REFINEMENTS = ("wiener", "haze", "tone", "backproject")
