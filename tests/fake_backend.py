"""A test-only second device, "fake", backed by NumPy.

It registers through the public registry exactly as the CuPy backend does, so the
device plumbing (transfers, mismatch errors, Module.to, default device, seeding) is
exercised on machines without a GPU. It is not part of the package.
"""
from __future__ import annotations

import numpy as np

from tinygrad_rnn.backends import NumpyBackend, register_backend

FAKE_DEVICE = "fake:0"


class FakeBackend(NumpyBackend):
    """NumPy under another device name: arrays are NumPy's, but tensors on it are "elsewhere"."""

    def capture_graph(self, function, inputs):
        """A stand-in for a CUDA graph, to test the graphed replay without a GPU. The first run
        is the recording; a launch runs the function again on the same input arrays and leaves
        its results in the first run's arrays, as a graph writes to the addresses it recorded."""
        outputs, kept = function(*inputs)
        # results live in device memory on a GPU, 0-d ones too: no NumPy scalars
        outputs = tuple(np.asarray(o) if isinstance(o, np.generic) else o for o in outputs)

        def launch():
            new_outputs, new_kept = function(*inputs)
            for old, new in zip(outputs, new_outputs):
                if old is not new:
                    old[...] = new
            for name, new in new_kept.items():
                old = kept.get(name)
                if isinstance(old, np.ndarray) and old.flags.writeable and old.shape == np.shape(new):
                    old[...] = new
                else:  # a NumPy scalar or a read-only view cannot be written to: hold the new one
                    kept[name] = new

        return launch, (outputs, kept)


def _create(index: int) -> FakeBackend:
    if index != 0:
        raise RuntimeError(f"device 'fake:{index}': only fake:0 exists")
    return FakeBackend(FAKE_DEVICE)


def register() -> None:
    register_backend("fake", _create)

