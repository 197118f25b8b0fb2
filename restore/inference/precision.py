"""The network's arithmetic precision: fp32, or bf16 where this CPU computes bf16 natively.

Owns: the choice behind ``Restorer(precision=...)`` (argument, ``RESTORE_PRECISION``, the CPU's flags).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

#: ``Restorer(precision=...)``: "auto" runs the network in bf16 where the CPU computes bf16 natively.
PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_ENV = "RESTORE_PRECISION"


@functools.cache
def _cpuinfo() -> str:
    """``/proc/cpuinfo``, read once per process ("" where there is none)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has bf16 arithmetic (AVX-512 BF16 or AMX), from ``/proc/cpuinfo``'s flags.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo``; None reads this machine's.

    Returns:
        True for AVX-512 BF16 or AMX; False otherwise, and where the flags cannot be read (other
        systems run fp32).
    """
    if cpuinfo is None:
        cpuinfo = _cpuinfo()
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str | None, device: torch.device) -> str:
    """The precision the network runs in.

    "auto" is bf16 on a CPU with native bf16 (there it is 1.4-2x faster and moves the paper suite
    by under 0.05 dB, see the model card), fp32 elsewhere (emulated bf16 is slower than fp32).

    Args:
        precision: one of :data:`PRECISIONS`; None reads ``RESTORE_PRECISION``, else "auto".
        device: where the network runs.

    Returns:
        "fp32" or "bf16".

    Raises:
        ValueError: ``precision`` (or the variable) is not one of :data:`PRECISIONS`.
    """
    chosen = precision or os.environ.get(PRECISION_ENV) or "auto"
    if chosen not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {chosen!r}")
    if chosen == "auto":
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
    return chosen
