"""The CPU backend: NumPy arrays and NumPy's PCG64 generator."""
from __future__ import annotations

from typing import Any, Sequence

import numpy

from .base import Backend


class NumpyBackend(Backend):
    """Arrays live in host memory as ``numpy.ndarray``."""

    xp = numpy

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.generator = numpy.random.default_rng()

    def asarray(self, data: Any, dtype: Any = None) -> numpy.ndarray:
        if hasattr(data, "__cuda_array_interface__"):  # a GPU array: copy to the host
            data = data.get()
        return numpy.asarray(data, dtype=dtype)

    def to_numpy(self, array: numpy.ndarray) -> numpy.ndarray:
        return array

    def array_of(self, value: Any) -> Any:
        return numpy.asarray(value) if isinstance(value, numpy.generic) else value

    def ignore_float_errors(self) -> Any:
        return numpy.errstate(over="ignore", divide="ignore", invalid="ignore")

    def scatter_add(self, target: numpy.ndarray, index: Any, values: numpy.ndarray) -> None:
        arrays = index if isinstance(index, tuple) else (index,)
        if not (target.flags.c_contiguous and values.size
                and all(isinstance(a, numpy.ndarray) and a.dtype.kind in "iu" for a in arrays)):
            numpy.add.at(target, index, values)  # slices, masks, mixed indices: the general tool
            return
        # integer-array indices (embedding lookups, picking targets): sort the flattened
        # positions once and add each run of equal positions with one reduceat, which is far
        # faster than numpy.add.at's element-by-element loop
        lead = target.shape[:len(arrays)]
        if len(arrays) == 1:  # one index array (an embedding lookup): negative indices count from the end
            positions = arrays[0].ravel() % lead[0]
        else:
            positions = numpy.ravel_multi_index(numpy.broadcast_arrays(*arrays), lead, mode="wrap").ravel()
        rows = values.reshape(positions.size, -1)
        order = numpy.argsort(positions, kind="stable")
        ordered = positions[order]
        starts = numpy.flatnonzero(numpy.diff(ordered, prepend=-1))  # where each run of one position begins
        target.reshape(-1, rows.shape[1])[ordered[starts]] += numpy.add.reduceat(rows[order], starts, axis=0)

    def seed(self, seed: int | None) -> None:
        self.generator = numpy.random.default_rng(seed)

    def randn(self, shape: Sequence[int], dtype: Any) -> numpy.ndarray:
        dtype = numpy.dtype(dtype)
        if dtype in (numpy.float32, numpy.float64):
            return self.generator.standard_normal(shape, dtype=dtype)
        return self.generator.standard_normal(shape).astype(dtype)

    def rand(self, shape: Sequence[int], dtype: Any) -> numpy.ndarray:
        dtype = numpy.dtype(dtype)
        if dtype in (numpy.float32, numpy.float64):
            return self.generator.random(shape, dtype=dtype)
        return self.generator.random(shape).astype(dtype)

    def randint(self, low: int, high: int, shape: Sequence[int]) -> numpy.ndarray:
        return self.generator.integers(low, high, size=shape, dtype=numpy.int64)

    def permutation(self, n: int) -> numpy.ndarray:
        return self.generator.permutation(n).astype(numpy.int64)
