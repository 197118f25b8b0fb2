"""``python -m restore.training``: train, resume or export (see :mod:`restore.training.trainer`)."""

from restore.training.trainer import main

if __name__ == "__main__":
    raise SystemExit(main())
