"""Classical steps after the network: the pilot-guided Wiener filter (:mod:`.wiener`), the haze
pass (:mod:`.haze`) and gated back-projection (:mod:`.backproject`), with the one noise-level
estimator (:mod:`.noise`) and the one guided filter (:mod:`.guided`) they all share.

Owns: image processing that needs no network. May import: torch, numpy, OpenCV, ``restore.types``.
"""
