"""Triton kernels built on first use, once per mode (shared by the fused kernels).

``triton.jit`` decides when it is called whether a kernel runs compiled or in Triton's
interpreter (``TRITON_INTERPRET=1``, the CPU tests), so each kernel is built lazily and
cached per mode. Importing this module imports triton.
"""

from __future__ import annotations

import os

import triton

_KERNELS: dict = {}


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def jit(fn, do_not_specialize: tuple = ()):
    """``triton.jit(fn)`` for the current mode, built on the first call in that mode."""
    key = (fn, interpreting())
    if key not in _KERNELS:
        _KERNELS[key] = triton.jit(fn, do_not_specialize=list(do_not_specialize))
    return _KERNELS[key]
