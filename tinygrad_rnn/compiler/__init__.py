"""The compiler: capture what a training step does once, replay it without Python overhead.

    >>> step = tinygrad_rnn.compile(train_step)      # or @tinygrad_rnn.compile
    >>> loss = step(x, y)                              # captured on the first call, then replayed
    >>> print(step.program)                            # the step as a flat listing

- ``trace.py``: capturing: traced arrays record every array operation of a step;
- ``program.py``: the program (instructions over numbered buffers) and its Python source;
- ``passes.py``: optimisation passes, each a small rewrite of the program;
- ``fusion.py`` and ``graph.py``: for GPUs, fused elementwise kernels and CUDA graphs (off
  by default: ``passes=GPU_PASSES``, ``cuda_graph=True``);
- ``step.py``: ``compile`` itself: signatures, capture, replay.
"""
from __future__ import annotations

from typing import Any, Callable

from .fusion import fuse_elementwise
from .passes import DEFAULT_PASSES
from .program import Program
from .step import CompiledStep
from .trace import CaptureError

# the default passes with elementwise fusion first: for CUDA devices, where each op is a kernel launch
GPU_PASSES: tuple = DEFAULT_PASSES[:1] + (("fuse_elementwise", fuse_elementwise),) + DEFAULT_PASSES[1:]


def compile(fn: Callable | None = None, *, passes: Any = DEFAULT_PASSES, check: bool = False,  # noqa: A001
            max_programs: int = 8, cuda_graph: bool = False) -> Any:
    """``fn`` (forward, loss, ``backward()``, optimizer step, ``zero_grad()``...) as a compiled step.

    The first call for each signature (argument shapes, dtypes, devices; the state of the
    modules, optimizers and tensors ``fn`` refers to) captures the program; every call runs
    it. ``passes``: the optimisation passes, as ``(name, function)`` pairs (``()`` replays
    exactly what the eager step did). ``check=True`` (debugging) also runs the step eagerly
    at every call and raises if the two disagree. ``cuda_graph=True`` (CUDA devices, steps
    without dropout) replays each program as one CUDA graph; returned tensors and ``.grad``
    are then the graph's own arrays, overwritten by the next call.
    """
    if fn is None:
        return lambda f: compile(f, passes=passes, check=check, max_programs=max_programs, cuda_graph=cuda_graph)
    return CompiledStep(fn, passes, check, max_programs, cuda_graph)


__all__ = ["compile", "CompiledStep", "CaptureError", "Program", "DEFAULT_PASSES", "GPU_PASSES"]
