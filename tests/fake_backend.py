"""A test-only second device, "fake", backed by NumPy.

It registers through the public registry exactly as the CuPy backend does, so the
device plumbing (transfers, mismatch errors, Module.to, default device, seeding) is
exercised on machines without a GPU. It is not part of the package.
"""
from __future__ import annotations

from tinygrad_rnn.backends import NumpyBackend, register_backend

FAKE_DEVICE = "fake:0"


class FakeBackend(NumpyBackend):
    """NumPy under another device name: arrays are NumPy's, but tensors on it are "elsewhere"."""


def _create(index: int) -> FakeBackend:
    if index != 0:
        raise RuntimeError(f"device 'fake:{index}': only fake:0 exists")
    return FakeBackend(FAKE_DEVICE)


def register() -> None:
    register_backend("fake", _create)
