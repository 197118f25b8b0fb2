"""Real rain and haze against our synthesis, by job: :mod:`.rain` (streak statistics of a pair),
:mod:`.haze` (its transmission and airlight), :mod:`.samples` (the paper pairs and every
generator's seeded samples, measured), :mod:`.probe` (what the models recognise) and
:mod:`.report` (the Markdown). The command is ``python -m restore.evaluation.weather_stats``."""
