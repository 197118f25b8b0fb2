"""``python -m restore.training``: train, resume or export (see :mod:`restore.training.cli`)."""

from restore.training.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
