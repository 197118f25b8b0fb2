"""``python -m restore``: the command line (:mod:`restore.cli`)."""

from restore.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
