"""Test-wide settings: the network runs in fp32 unless a test asks otherwise, so the pinned
outputs (tests/test_golden.py) do not depend on whether the CPU has native bf16."""

import os

os.environ.setdefault("RESTORE_PRECISION", "fp32")
