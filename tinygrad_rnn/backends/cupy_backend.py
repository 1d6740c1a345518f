"""The NVIDIA GPU backend: CuPy arrays on one CUDA device.

Imported only when a ``"cuda"`` device is first asked for, so ``import tinygrad_rnn``
never imports CuPy. Errors say what is missing (CuPy, or a GPU) and how to fix it.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy

from .base import Backend

INSTALL_HINT = ('install CuPy with `pip install "tinygrad-rnn[cuda]"` (the cupy-cuda12x wheel, '
                "for CUDA 12 drivers) or `pip install cupy-cuda13x` for CUDA 13 drivers")


def _import_cupy() -> Any:
    try:
        import cupy
    except ImportError as error:
        if getattr(error, "name", None) == "cupy":
            raise RuntimeError(f"device 'cuda' needs CuPy, which is not installed: {INSTALL_HINT}") from None
        raise RuntimeError(f"device 'cuda': CuPy is installed but failed to import ({error}); "
                           "check that its wheel matches your CUDA version: " + INSTALL_HINT) from None
    return cupy


class CupyBackend(Backend):
    """Arrays live on the GPU as ``cupy.ndarray``; random numbers from CuPy's generator."""

    def __init__(self, index: int = 0) -> None:
        cupy = _import_cupy()
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as error:  # CUDARuntimeError without a driver or a GPU
            raise RuntimeError(f"device 'cuda:{index}': no CUDA device was found (CuPy "
                               f"{cupy.__version__} is installed, but CUDA reports: {error})") from None
        if index >= count:
            raise RuntimeError(f"device 'cuda:{index}': no such CUDA device; {count} found "
                               f"(cuda:0 to cuda:{count - 1})" if count else
                               f"device 'cuda:{index}': no CUDA device was found")
        self.xp = cupy
        self.index = index
        self.device = f"cuda:{index}"
        self.cuda_device = cupy.cuda.Device(index)
        self.generator = cupy.random.RandomState()

    def asarray(self, data: Any, dtype: Any = None) -> Any:
        with self.cuda_device:
            return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array: Any) -> numpy.ndarray:
        return self.xp.asnumpy(array)

    def scatter_add(self, target: Any, index: Any, values: Any) -> None:
        import cupyx

        cupyx.scatter_add(target, index, values)

    def fused(self, kernel: Any, *arrays: Any) -> tuple:
        """A fused elementwise kernel, compiled by CuPy at its first call."""
        if kernel.compiled is None:
            inputs, outputs = kernel.parameters
            kernel.compiled = self.xp.ElementwiseKernel(inputs, outputs, kernel.cuda_source, "tinygrad_rnn_fused")
        with self.cuda_device:
            result = kernel.compiled(*arrays)
        return result if isinstance(result, tuple) else (result,)

    def capture_graph(self, function: Any, inputs: list) -> tuple:
        """CuPy's stream capture: the calls of ``function`` become a graph, launched once now."""
        stream = self.xp.cuda.Stream(non_blocking=True)
        relaxed = getattr(self.xp.cuda.runtime, "streamCaptureModeRelaxed", None)  # allocations may happen
        with self.cuda_device, stream:
            stream.begin_capture(**({"mode": relaxed} if relaxed is not None else {}))
            try:
                result = function(*inputs)
            finally:
                graph = stream.end_capture()

        def launch() -> None:
            graph.launch(stream)
            stream.synchronize()

        launch()
        return launch, result

    def rng_state(self) -> Any:
        """A copy of the generator, when CuPy can copy it; otherwise None, and a compiled step's
        first replay draws new numbers instead of the captured call's again."""
        try:
            return super().rng_state()
        except Exception:  # a CUDA generator that cannot be copied
            return None

    def set_rng_state(self, state: Any) -> None:
        if state is not None:
            super().set_rng_state(state)

    def synchronize(self) -> None:
        self.cuda_device.synchronize()

    def seed(self, seed: int | None) -> None:
        with self.cuda_device:
            self.generator = self.xp.random.RandomState(seed)

    def randn(self, shape: Sequence[int], dtype: Any) -> Any:
        with self.cuda_device:
            return self.generator.standard_normal(tuple(shape), dtype=numpy.dtype(dtype))

    def rand(self, shape: Sequence[int], dtype: Any) -> Any:
        with self.cuda_device:
            return self.generator.random_sample(tuple(shape), dtype=numpy.dtype(dtype))

    def randint(self, low: int, high: int, shape: Sequence[int]) -> Any:
        with self.cuda_device:
            return self.generator.randint(low, high, size=tuple(shape), dtype=numpy.int64)

    def permutation(self, n: int) -> Any:
        with self.cuda_device:
            return self.generator.permutation(n).astype(numpy.int64)
