"""Shared fixtures: the devices every device-sensitive test runs on."""
from __future__ import annotations

import pytest

import tinygrad_rnn


def _cuda_unavailable_reason() -> str | None:
    """None when ``cuda:0`` can be used, else why not (for the skip message)."""
    try:
        devices = tinygrad_rnn.available_devices()
    except Exception as error:  # a broken CuPy install must skip, not error, the GPU tests
        return f"available_devices() raised {type(error).__name__}: {error}"
    if "cuda:0" not in devices:
        return f"'cuda:0' is not among the available devices {devices}"
    return None


@pytest.fixture(scope="session", params=["cpu", "cuda"])
def device(request: pytest.FixtureRequest) -> str:
    """The device string to create tensors on: ``"cpu"`` always, ``"cuda:0"`` when usable.

    Session-scoped so hypothesis tests can use it (it holds no state).
    """
    if request.param == "cuda":
        reason = _cuda_unavailable_reason()
        if reason is not None:
            pytest.skip(f"CuPy/GPU not available: {reason}")
        return "cuda:0"
    return "cpu"
