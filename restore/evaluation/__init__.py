"""Evaluation: benchmark cases and the evaluator, the speed bench, detection, metrics, classical
baselines, the NDR atlas and the contact sheet.

May import everything in ``restore`` except the app; matplotlib only lazily, for figures.
"""
