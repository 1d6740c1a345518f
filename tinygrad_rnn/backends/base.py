"""The small interface every array backend implements.

A backend is one device's array library: NumPy for ``"cpu"``, CuPy for
``"cuda"``. Ops never import an array library themselves; they ask the backend of
their inputs (``tensor.backend.xp``) so the same op code runs on every device.
Only the handful of things NumPy and CuPy spell differently live here.
"""
from __future__ import annotations

import contextlib
import copy
from abc import ABC, abstractmethod
from typing import Any, Callable, Sequence

import numpy


class Backend(ABC):
    """One device: its name, its array module ``xp`` and the operations that differ.

    Subclasses set ``xp`` and implement the conversions, scatter-add and random
    numbers. ``device`` is the canonical device string (``"cpu"``, ``"cuda:0"``).
    """

    xp: Any = None
    device: str = ""

    # ---- arrays in and out -------------------------------------------------
    @abstractmethod
    def asarray(self, data: Any, dtype: Any = None) -> Any:
        """``data`` (a list, scalar, or an array of any backend) as this backend's array."""

    @abstractmethod
    def to_numpy(self, array: Any) -> numpy.ndarray:
        """A host NumPy array with the values of ``array`` (a copy when off the CPU)."""

    def is_array(self, obj: Any) -> bool:
        """Whether ``obj`` is this backend's array type."""
        return isinstance(obj, self.xp.ndarray)

    def tensor_data(self, data: Any, dtype: Any = None) -> Any:
        """Convert user data with PyTorch's defaults: Python floats and lists become
        float32, integers int64, and arrays keep their dtype (float64 stays float64)."""
        if dtype is not None:
            return self.asarray(data, dtype=numpy.dtype(dtype))
        from_python = not hasattr(data, "dtype")
        array = self.asarray(data)
        if from_python and array.dtype == numpy.float64:
            array = array.astype(numpy.float32)
        return array

    # ---- the operations NumPy and CuPy spell differently --------------------
    @abstractmethod
    def scatter_add(self, target: Any, index: Any, values: Any) -> None:
        """``target[index] += values`` in place, adding repeated indices once each."""

    def array_of(self, value: Any) -> Any:
        """``value`` as this backend's array: NumPy returns 0-d results as scalars, which are
        immutable and have no memory to share, so the engine turns them back into arrays."""
        return value

    def check(self, ok: Any, error: type, message: str, *values: Any) -> None:
        """Raise ``error(message.format(*values))`` unless the 0-d array ``ok`` is true.

        Checks of values (class indices in range, a finite norm) go through here, so that a
        compiled step makes them at every replay instead of reading the value at capture.
        """
        if not bool(ok):
            raise error(message.format(*[v.item() if hasattr(v, "item") else v for v in values]))

    def fused(self, kernel: Any, *arrays: Any) -> tuple:
        """Run a compiled step's fused elementwise kernel (``compiler/fusion.py``). Without a
        kernel compiler, its operations one at a time, as before fusing."""
        return kernel.evaluate(self.xp, arrays)

    def capture_graph(self, function: Callable, inputs: list) -> tuple[Callable[[], None], Any]:
        """Record ``function(*inputs)`` as a graph of device work, run it once, and return a
        function that launches it again (on the same arrays) with the recorded call's result."""
        raise RuntimeError(f"compile(cuda_graph=True): CUDA graphs need a CUDA device, and this step runs on "
                           f"{self.device!r}; leave cuda_graph off")

    def ignore_float_errors(self) -> Any:
        """A context in which intended float overflow or division by zero (exp(100) = inf, or
        0^-1 in a value masked out right after) raises no warning."""
        return contextlib.nullcontext()

    def synchronize(self) -> None:
        """Wait for queued work to finish (a no-op on the CPU); benchmarks call it."""

    # ---- random numbers ------------------------------------------------------
    @abstractmethod
    def seed(self, seed: int | None) -> None:
        """Restart this device's generator; ``None`` seeds from the OS."""

    def rng_state(self) -> Any:
        """A copy of the generator, to draw the same numbers again (compiled steps replay a
        captured call from where it started)."""
        return copy.deepcopy(self.generator)

    def set_rng_state(self, state: Any) -> None:
        self.generator = copy.deepcopy(state)

    @abstractmethod
    def randn(self, shape: Sequence[int], dtype: Any) -> Any:
        """Standard normal samples."""

    @abstractmethod
    def rand(self, shape: Sequence[int], dtype: Any) -> Any:
        """Uniform samples in [0, 1)."""

    @abstractmethod
    def permutation(self, n: int) -> Any:
        """A random ordering of range(n) as int64."""

    @abstractmethod
    def randint(self, low: int, high: int, shape: Sequence[int]) -> Any:
        """Integers in [low, high) as int64."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} device={self.device!r}>"
